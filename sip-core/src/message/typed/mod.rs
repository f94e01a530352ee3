//! Typed views of header values, parsed on demand.

pub(crate) mod access;
pub(crate) mod auth;
pub(crate) mod event;
pub(crate) mod name_addr;
pub(crate) mod refer;
pub(crate) mod values;
pub(crate) mod via;
