//! What both targets do with a parsed message: read every typed view, validate it, build a
//! response to it, and check that it serializes to bytes that parse back equal.

use bytes::Bytes;
use sip_core::message::validate::{UasPolicy, validate_request, validate_response};
use sip_core::message::{
    Event, HeaderName, Headers, Message, NameAddr, ReferTo, Replaces, StatusCode, SubscriptionState, Uri,
    response_to,
};

/// Reads everything a message offers; panics (a finding) only on a broken invariant.
pub fn exercise(message: &Message) {
    let h = message.headers();
    let mut sink = 0usize;
    let mut touch = |s: &str| sink = sink.wrapping_add(s.len());
    for header in h.iter() {
        touch(header.value);
        touch(header.raw_line.unwrap_or(""));
        for v in h.values(header.name_str) {
            touch(v);
        }
        touch(&h.share(header.value));
    }
    for via in h.vias().flatten() {
        touch(via.protocol());
        touch(via.version());
        touch(via.transport());
        touch(&via.host().to_string());
        touch(&format!(
            "{:?}{:?}{}",
            via.port(),
            via.rport(),
            via.has_magic_cookie()
        ));
        touch(via.branch().unwrap_or(""));
        touch(via.received().unwrap_or(""));
        touch(via.maddr().unwrap_or(""));
    }
    let mut addresses: Vec<NameAddr> = Vec::new();
    addresses.extend(h.from_addr().and_then(Result::ok));
    addresses.extend(h.to_addr().and_then(Result::ok));
    addresses.extend(h.contacts().flatten());
    addresses.extend(h.routes().flatten());
    addresses.extend(h.record_routes().flatten());
    addresses.extend(h.refer_to().and_then(Result::ok).map(|r| r.address().clone()));
    addresses.extend(h.referred_by().and_then(Result::ok).map(|r| r.address().clone()));
    for address in &addresses {
        touch(&address.display_name().unwrap_or_default());
        touch(address.tag().unwrap_or(""));
        for (name, value) in address.params().iter() {
            touch(name);
            touch(value.unwrap_or(""));
        }
        uri(address.uri(), &mut touch);
        let tagged = address.with_tag("fuzz1");
        assert!(
            NameAddr::parse(tagged.as_str()).is_ok(),
            "with_tag made an unparsable address from {:?}",
            address.as_str()
        );
    }
    if let Some(request) = message.as_request() {
        uri(&request.uri, &mut touch);
    }
    touch(&format!(
        "{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}",
        h.call_id(),
        h.cseq(),
        h.max_forwards(),
        h.content_length(),
        h.expires(),
        h.min_expires(),
        h.rseq(),
        h.rack(),
        h.retry_after()
    ));
    if let Some(Ok(media)) = h.content_type() {
        touch(media.kind());
        touch(media.subtype());
    }
    for media in h.accept().flatten() {
        touch(media.kind());
    }
    touch(&format!("{}{}", h.contact_is_wildcard(), h.supports("100rel")));
    for name in [
        HeaderName::Require,
        HeaderName::Supported,
        HeaderName::ProxyRequire,
        HeaderName::Unsupported,
    ] {
        for tag in h.option_tags(name).flatten() {
            touch(tag);
        }
    }
    for value in [h.session_expires(), h.min_se()].into_iter().flatten().flatten() {
        touch(value.value());
        touch(&format!("{:?}", value.param_u32("expires")));
    }
    transfer_headers(h, &mut touch);
    for name in [
        HeaderName::Authorization,
        HeaderName::ProxyAuthorization,
        HeaderName::WwwAuthenticate,
        HeaderName::ProxyAuthenticate,
    ] {
        for value in h.auth_values(name).flatten() {
            touch(value.scheme());
            for (n, v) in value.params_iter() {
                touch(n);
                touch(v.unwrap_or(""));
            }
            touch(value.param("nonce").as_deref().unwrap_or(""));
        }
    }
    for challenge in h.www_authenticate().chain(h.proxy_authenticate()).flatten() {
        touch(challenge.realm());
        touch(challenge.nonce());
        touch(challenge.opaque().unwrap_or(""));
        touch(&format!(
            "{:?}{:?}",
            challenge.algorithm(),
            challenge.qop_options().collect::<Vec<_>>()
        ));
    }
    for credentials in h.authorization().chain(h.proxy_authorization()).flatten() {
        touch(credentials.username());
        touch(credentials.uri());
        touch(&format!(
            "{:?}{:?}{:?}",
            credentials.algorithm(),
            credentials.qop(),
            credentials.nc()
        ));
    }
    match message {
        Message::Request(request) => {
            let verdict = validate_request(request, &UasPolicy::default());
            // Any request gets a response that serializes and parses back equal.
            let mut responses = vec![response_to(request, StatusCode::OK, None, Some("fuzz2"))];
            if let Err(rejection) = verdict {
                responses.push(rejection.to_response(request, "fuzz", Some("fuzz3")));
            }
            for response in responses {
                assert_round_trip(&Message::Response(response));
            }
        }
        Message::Response(response) => {
            let _ = validate_response(response);
        }
    }
    touch(&message.start_line());
    std::hint::black_box(sink);
}

fn uri(uri: &Uri, touch: &mut impl FnMut(&str)) {
    touch(uri.scheme_str());
    touch(&format!(
        "{:?}{:?}{:?}",
        uri.scheme(),
        uri.port(),
        uri.user_decoded()
    ));
    touch(uri.user().unwrap_or(""));
    touch(uri.password().unwrap_or(""));
    touch(&uri.host().map(|h| h.to_string()).unwrap_or_default());
    touch(uri.headers().unwrap_or(""));
    touch(uri.transport_param().unwrap_or(""));
    for (name, value) in uri.params().iter() {
        touch(name);
        touch(value.unwrap_or(""));
    }
}

/// Serializing twice gives the same bytes, which parse back to an equal message that
/// serializes to the same bytes again.
pub fn assert_round_trip(message: &Message) {
    let bytes: Bytes = message.to_bytes();
    assert_eq!(bytes, message.to_bytes(), "to_bytes is not deterministic");
    let parsed = match Message::parse(bytes.clone()) {
        Ok(parsed) => parsed,
        Err(e) => panic!(
            "serialization does not parse ({e}): {:?}",
            bytes.escape_ascii().to_string()
        ),
    };
    assert_eq!(
        &parsed,
        message,
        "parse(serialize(m)) != m for {:?}",
        bytes.escape_ascii().to_string()
    );
    assert_eq!(parsed.to_bytes(), bytes, "re-serialization differs");
}

/// Reads the subscription and transfer headers; panics (a finding) when something that
/// parses does not display to text that parses back equal, or when a Replaces read out of
/// a Refer-To does not survive being embedded again.
fn transfer_headers(h: &Headers, touch: &mut impl FnMut(&str)) {
    if let Some(Ok(event)) = h.event() {
        touch(event.package());
        touch(event.id().unwrap_or(""));
        assert_eq!(Event::parse(&event.to_string()).as_ref(), Ok(&event));
    }
    for event_type in h.allow_events().flatten() {
        touch(event_type.package());
    }
    if let Some(Ok(state)) = h.subscription_state() {
        touch(state.state().as_str());
        touch(&format!(
            "{:?}{:?}{:?}",
            state.reason(),
            state.expires(),
            state.retry_after()
        ));
        assert_eq!(SubscriptionState::parse(&state.to_string()).as_ref(), Ok(&state));
    }
    let mut replaces: Vec<Replaces> = h.replaces().and_then(Result::ok).into_iter().collect();
    if let Some(Ok(refer_to)) = h.refer_to() {
        for (name, value) in refer_to.embedded_headers().flatten() {
            touch(&name);
            touch(&value);
        }
        replaces.extend(refer_to.embedded_replaces().and_then(Result::ok));
    }
    for replaces in replaces {
        touch(replaces.call_id());
        assert_eq!(Replaces::parse(&replaces.to_string()).as_ref(), Ok(&replaces));
        let target = Uri::parse("sip:fuzz@example.com").expect("a valid URI");
        let refer_to = ReferTo::with_replaces(&target, &replaces).expect("a SIP target");
        assert_eq!(refer_to.embedded_replaces(), Some(Ok(replaces)));
    }
    if let Some(Ok(referred_by)) = h.referred_by() {
        touch(referred_by.cid().unwrap_or(""));
    }
    touch(&format!("{:?}", h.refer_sub()));
}
