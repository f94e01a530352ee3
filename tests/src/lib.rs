//! End-to-end, conformance, property and comparison tests for the SIP stack (see `tests/`).
