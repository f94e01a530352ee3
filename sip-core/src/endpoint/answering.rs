//! What the Endpoint answers by itself, derived from what is really enabled: the methods in
//! `Allow` (RFC 3261 §20.5), OPTIONS with our capabilities (§11.2), 405 for methods nothing
//! handles outside a dialog and 501 inside one (§8.2.1, §12.2.2). Drivers answer nothing on
//! their own, so every driver gives the same answers.

use std::time::Instant;

use crate::config::EndpointConfig;
use crate::ids::TransactionId;
use crate::message::validate::UasPolicy;
use crate::message::{HeaderName, Method, StatusCode};
use crate::usage::Seam;

/// What the invite-session usage handles itself (RFC 3261 §13–15, RFC 3262, RFC 3311).
const CALL_METHODS: [Method; 6] = [
    Method::Invite,
    Method::Ack,
    Method::Cancel,
    Method::Bye,
    Method::Prack,
    Method::Update,
];

/// The validation policy the Endpoint runs with. With the call layer on, the allowed
/// methods are what it handles — the call methods, OPTIONS (answered here), the methods it
/// takes inside a call for the application, and the application's own — in the canonical
/// order of [`Method::STANDARD`], extension methods after. A plain transaction layer hands
/// everything to the application, so its policy is the configured one.
pub(crate) fn effective_policy(config: &EndpointConfig) -> UasPolicy {
    let mut policy = config.policy.clone();
    if !config.calls.enabled {
        return policy;
    }
    // NOTIFY always (for the subscriptions we make); SUBSCRIBE when there is a package
    // to notify for (RFC 6665).
    let notifier = !config.subscriptions.packages.is_empty();
    let handled = |method: &Method| {
        CALL_METHODS.contains(method)
            || *method == Method::Options
            || *method == Method::Notify
            || (*method == Method::Subscribe && notifier)
            || (*method == Method::Refer && config.subscriptions.accept_refer)
            || (*method == Method::Message && config.messages.accept)
            || config.calls.in_dialog_methods.contains(method)
            || config.calls.app_methods.contains(method)
    };
    let mut allowed: Vec<Method> = Method::STANDARD.iter().filter(|m| handled(m)).cloned().collect();
    for method in config
        .calls
        .in_dialog_methods
        .iter()
        .chain(&config.calls.app_methods)
    {
        if !allowed.contains(method) {
            allowed.push(method.clone());
        }
    }
    policy.allowed_methods = allowed;
    // RFC 3891: an INVITE with Replaces is matched to the call it replaces.
    if !policy.supported_extensions.iter().any(|t| t == "replaces") {
        policy.supported_extensions.push("replaces".to_owned());
    }
    // RFC 4488: taking REFER, we honour `Refer-Sub: false` (and so `Require: norefersub`).
    if config.subscriptions.accept_refer && !policy.supported_extensions.iter().any(|t| t == "norefersub") {
        policy.supported_extensions.push("norefersub".to_owned());
    }
    policy
}

/// True when the Endpoint answers OPTIONS itself (the call layer is on and the application
/// did not take OPTIONS).
pub(crate) fn answers_options(config: &EndpointConfig) -> bool {
    config.calls.enabled && !config.calls.app_methods.contains(&Method::Options)
}

/// True for the methods that exist for us only inside a call: outside one they name no
/// dialog we have (481).
pub(crate) fn only_in_dialog(config: &EndpointConfig, method: &Method) -> bool {
    let outside_too = *method == Method::Message && config.messages.accept;
    matches!(
        method,
        Method::Bye | Method::Prack | Method::Update | Method::Notify
    ) || (config.calls.in_dialog_methods.contains(method) && !outside_too)
}

/// Answers OPTIONS (in or out of a dialog) with 200 and what we handle, accept and support
/// (RFC 3261 §11.2).
pub(crate) fn answer_options(seam: &mut Seam, now: Instant, transaction: TransactionId) {
    let policy = &seam.shared.config.policy;
    let accept = policy.accepted_content_types.join(", ");
    let supported = policy.supported_extensions.join(", ");
    let headers = [
        (HeaderName::Allow, seam.shared.allow.as_str()),
        (HeaderName::Accept, accept.as_str()),
        (HeaderName::Supported, supported.as_str()),
    ];
    let response = seam.response_with(transaction, StatusCode::OK, headers, bytes::Bytes::new());
    if let Ok(response) = response {
        let _ = seam.respond(now, transaction, response);
    }
}

/// Answers a new request 503 Service Unavailable with Retry-After: the Endpoint takes no new
/// work ([`Endpoint::set_accepting`](crate::endpoint::Endpoint::set_accepting)). The
/// transaction is kept, so the 503 is retransmitted and its ACK absorbed as usual.
pub(crate) fn refuse_unavailable(seam: &mut Seam, now: Instant, transaction: TransactionId) {
    seam.shared.stats.rejected += 1;
    let retry_after = seam.shared.config.retry_after.to_string();
    let headers = [(HeaderName::RetryAfter, retry_after.as_str())];
    let response = seam.response_with(
        transaction,
        StatusCode::SERVICE_UNAVAILABLE,
        headers,
        bytes::Bytes::new(),
    );
    if let Ok(response) = response {
        let _ = seam.respond(now, transaction, response);
    }
}
