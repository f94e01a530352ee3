//! RFC 5118 (SIP torture tests for IPv6): every message in `../shared/testdata/rfc5118` is
//! handled as its `INDEX.tsv` line says: only `ipv6-bad` is rejected (400).

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::Ipv6Addr;

use bytes::Bytes;
use sip_core::message::validate::{UasPolicy, Verdict, check_datagram};
use sip_core::message::{Host, Message};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/rfc5118/");

fn verdict(file: &str) -> Verdict {
    let bytes = Bytes::from(std::fs::read(format!("{DIR}{file}")).unwrap());
    check_datagram(bytes, &UasPolicy::default())
}

fn accepted(file: &str) -> Message {
    match verdict(file) {
        Verdict::Accept(message) => message,
        other => panic!("{file}: expected accept, got {other:?}"),
    }
}

fn v6(s: &str) -> Host<'static> {
    Host::Ipv6(s.parse::<Ipv6Addr>().unwrap())
}

#[test]
fn ipv6_good_reference_in_request_uri_via_and_contact_parses() {
    let message = accepted("ipv6-good");
    let request = message.as_request().unwrap();
    assert_eq!(request.uri.host(), Some(v6("2001:db8::10")));
    assert_eq!(
        request.headers.top_via().unwrap().unwrap().host(),
        v6("2001:db8::9:1")
    );
    let contact = request.headers.contacts().next().unwrap().unwrap();
    assert!(matches!(contact.uri().host(), Some(Host::Ipv6(_))));
}

#[test]
fn ipv6_bad_reference_without_brackets_gets_400() {
    match verdict("ipv6-bad") {
        Verdict::Reject(rejection) => assert_eq!(rejection.status.as_u16(), 400),
        other => panic!("expected 400, got {other:?}"),
    }
}

#[test]
fn port_ambiguous_eight_groups_in_brackets_have_no_port() {
    let message = accepted("port-ambiguous");
    let uri = &message.as_request().unwrap().uri;
    assert_eq!(uri.host(), Some(v6("2001:db8::10:5070")));
    assert_eq!(uri.port(), None);
}

#[test]
fn port_unambiguous_port_after_bracket_is_read() {
    let message = accepted("port-unambiguous");
    let uri = &message.as_request().unwrap().uri;
    assert_eq!(uri.host(), Some(v6("2001:db8::10")));
    assert_eq!(uri.port(), Some(5070));
}

#[test]
fn via_received_param_with_delimiters_is_tolerated() {
    let message = accepted("via-received-param-with-delim");
    let vias: Vec<_> = message.headers().vias().map(Result::unwrap).collect();
    assert!(vias.iter().any(|v| v.received() == Some("[2001:db8::9:255]")));
}

#[test]
fn via_received_param_without_delimiters_is_valid() {
    let message = accepted("via-received-param-no-delim");
    let vias: Vec<_> = message.headers().vias().map(Result::unwrap).collect();
    assert!(vias.iter().any(|v| v.received() == Some("2001:db8::9:255")));
}

#[test]
fn ipv6_in_sdp_body_is_framed_and_accepted() {
    let message = accepted("ipv6-in-sdp");
    assert!(String::from_utf8_lossy(message.body()).contains("c=IN IP6 2001:db8::20"));
}

#[test]
fn mult_ip_in_header_mixes_ipv4_and_ipv6_vias() {
    let message = accepted("mult-ip-in-header");
    let hosts: Vec<String> = message
        .headers()
        .vias()
        .map(|v| v.unwrap().host().to_string())
        .collect();
    assert_eq!(hosts, ["[2001:db8::9:1]", "192.0.2.1", "[2001:db8::9:255]"]);
    assert_eq!(message.headers().top_via().unwrap().unwrap().port(), Some(6050));
}

#[test]
fn mult_ip_in_sdp_is_accepted() {
    let message = accepted("mult-ip-in-sdp");
    assert_eq!(
        message.body().len(),
        message.headers().content_length().unwrap().unwrap() as usize
    );
}

#[test]
fn ipv4_mapped_ipv6_addresses_parse() {
    let message = accepted("ipv4-mapped-ipv6");
    let via = message.headers().top_via().unwrap().unwrap();
    assert_eq!(via.host(), v6("::ffff:192.0.2.10"));
    assert_eq!(via.port(), Some(19823));
}

#[test]
fn ipv6_bug_abnf_three_colons_is_tolerated_as_two() {
    let message = accepted("ipv6-bug-abnf-3-colons");
    assert_eq!(
        message.as_request().unwrap().uri.host(),
        Some(v6("2001:db8::192.0.2.1"))
    );
}

#[test]
fn ipv6_correct_abnf_two_colons_parses() {
    let message = accepted("ipv6-correct-abnf-2-colons");
    assert_eq!(
        message.as_request().unwrap().uri.host(),
        Some(v6("2001:db8::192.0.2.1"))
    );
}

#[test]
fn index_lists_exactly_the_tested_files() {
    let index = std::fs::read_to_string(format!("{DIR}INDEX.tsv")).unwrap();
    let source = include_str!("rfc5118.rs");
    let files: Vec<&str> = index
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(files.len(), 12);
    for file in files {
        assert!(
            source.contains(&format!("\"{file}\"")),
            "{file} has no named test"
        );
    }
}
