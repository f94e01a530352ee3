//! RFC 4475 (SIP torture tests): every message in `../shared/testdata/rfc4475` is handled as
//! its `INDEX.tsv` line says, one named test per file. The verdict is what an endpoint does
//! with the message received as a UDP datagram (`check_datagram`): accept it, reject it with
//! a status, or drop it (responses).

// Test code over known inputs: a panic is a test failure with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::Bytes;
use sip_core::message::validate::{UasPolicy, Verdict, check_datagram};
use sip_core::message::{HeaderName, Host, Message, Method, ParseErrorKind, Scheme, percent_decode};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/rfc4475/");

fn read(file: &str) -> Bytes {
    let path = format!("{DIR}{file}");
    Bytes::from(
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (is ../shared beside the repo?)")),
    )
}

fn verdict(file: &str) -> Verdict {
    check_datagram(read(file), &UasPolicy::default())
}

/// The file parses and passes validation; returns the message.
fn accepted(file: &str) -> Message {
    match verdict(file) {
        Verdict::Accept(message) => message,
        other => panic!("{file}: expected accept, got {other:?}"),
    }
}

/// The file is rejected with `status`; returns the reason.
fn rejected(file: &str, status: u16) -> String {
    match verdict(file) {
        Verdict::Reject(rejection) => {
            assert_eq!(rejection.status.as_u16(), status, "{file}: {}", rejection.reason);
            rejection.reason
        }
        other => panic!("{file}: expected reject {status}, got {other:?}"),
    }
}

fn dropped(file: &str) -> String {
    match verdict(file) {
        Verdict::Drop(reason) => reason.0,
        other => panic!("{file}: expected drop, got {other:?}"),
    }
}

fn parse_error(file: &str) -> sip_core::message::ParseError {
    Message::parse(read(file)).expect_err(file)
}

// ---- 3.1.1 Valid messages ----

#[test]
fn wsinv_short_tortuous_invite_is_accepted_with_odd_header_kept_byte_exact() {
    let message = accepted("wsinv.dat");
    let headers = message.headers();
    assert_eq!(headers.get("UnknownHeaderWithUnusualValue"), Some(";;,,;;,;"));
    assert_eq!(
        headers.get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(headers.max_forwards().unwrap().unwrap(), 68);
    let cseq = headers.cseq().unwrap().unwrap();
    assert_eq!((cseq.seq, cseq.method), (9, Method::Invite));
    let to = headers.to_addr().unwrap().unwrap();
    assert_eq!(to.tag(), Some("1918181833n"));
    let from = headers.from_addr().unwrap().unwrap();
    assert_eq!(from.display_name().as_deref(), Some(r#"J Rosenberg \""#));
    assert_eq!(from.tag(), Some("98asjd8"));
    let vias: Vec<_> = headers.vias().map(Result::unwrap).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].host_str(), "192.168.255.111");
    let contact = headers.contacts().next().unwrap().unwrap();
    assert_eq!(contact.params().get("q"), Some(Some("0.33")));
    assert_eq!(headers.get("s"), Some(""));
    // Serializing an untouched message reproduces the head byte for byte.
    let original = read("wsinv.dat");
    assert_eq!(message.to_bytes(), original);
}

#[test]
fn intmeth_wide_range_of_valid_characters_is_an_extension_method_answered_501() {
    let message = Message::parse(read("intmeth.dat")).unwrap();
    let request = message.as_request().unwrap();
    assert_eq!(
        request.method.as_str(),
        "!interesting-Method0123456789_*+`.%indeed'~"
    );
    assert_eq!(
        request.uri.password(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    let to = request.headers.to_addr().unwrap().unwrap();
    assert_eq!(to.display_name().as_deref(), Some("BEL:\x07 NUL:\0 DEL:\x7f"));
    assert_eq!(
        request.headers.get("extensionHeader-!.%*+_`'~"),
        Some("\u{feff}大停電")
    );
    let from = request.headers.from_addr().unwrap().unwrap();
    assert_eq!(
        from.params().get_unquoted("fromParam''~+*_!.-%").as_deref(),
        Some("работающий")
    );
    assert_eq!(
        request.headers.call_id().unwrap().unwrap(),
        "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    );
    assert!(rejected("intmeth.dat", 501).contains("not supported"));
}

#[test]
fn esc01_valid_escaping_is_accepted_without_recursive_unescape() {
    let message = accepted("esc01.dat");
    let request = message.as_request().unwrap();
    assert_eq!(
        request.uri.user_decoded().unwrap().as_ref(),
        b"sips:user@example.com"
    );
    let to = request.headers.to_addr().unwrap().unwrap();
    assert_eq!(to.uri().user_decoded().unwrap().as_ref(), b"user");
    let from = request.headers.from_addr().unwrap().unwrap();
    assert_eq!(from.uri().user_decoded().unwrap().as_ref(), b"I have spaces");
    let contact = request.headers.contacts().next().unwrap().unwrap();
    assert_eq!(contact.uri().user_decoded().unwrap().as_ref(), b"caller");
    // `value%25%34%31` decodes once, to `value%41`, never on to `valueA`.
    let value = contact.uri().params().get("n%61me").unwrap().unwrap();
    assert_eq!(percent_decode(value).as_ref(), b"value%41");
}

#[test]
fn escnull_registers_two_distinct_contacts_without_truncating_at_nul() {
    let message = accepted("escnull.dat");
    let headers = message.headers();
    let to = headers.to_addr().unwrap().unwrap();
    assert_eq!(to.uri().user_decoded().unwrap().as_ref(), b"null-\0-null");
    let contacts: Vec<_> = headers.contacts().map(Result::unwrap).collect();
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[0].uri().user_decoded().unwrap().as_ref(), b"\0");
    assert_eq!(contacts[1].uri().user_decoded().unwrap().as_ref(), b"\0\0");
    assert_ne!(contacts[0].uri(), contacts[1].uri());
}

#[test]
fn esc02_percent_in_method_is_not_an_escape_and_gets_501() {
    let message = Message::parse(read("esc02.dat")).unwrap();
    let request = message.as_request().unwrap();
    assert_eq!(request.method, Method::Extension("RE%47IST%45R".into()));
    assert_ne!(request.method, Method::Register);
    // C%6Fntact is a different, unknown header: two Contact values.
    assert_eq!(request.headers.contacts().count(), 2);
    assert_eq!(
        request.headers.get("C%6Fntact"),
        Some("<sip:alias2@host2.example.com>")
    );
    rejected("esc02.dat", 501);
}

#[test]
fn lwsdisp_no_lws_between_display_name_and_bracket_is_accepted() {
    let message = accepted("lwsdisp.dat");
    let from = message.headers().from_addr().unwrap().unwrap();
    assert_eq!(from.display_name().as_deref(), Some("caller"));
}

#[test]
fn longreq_long_values_are_accepted() {
    let message = accepted("longreq.dat");
    let headers = message.headers();
    assert_eq!(headers.vias().count(), 34);
    let to = headers.to_addr().unwrap().unwrap();
    assert!(to.display_name().unwrap().ends_with("extremeextreme proportion"));
    assert!(
        to.uri()
            .params()
            .get("unknownparam1")
            .unwrap()
            .unwrap()
            .ends_with("longlongvalue")
    );
    assert!(
        to.uri()
            .params()
            .iter()
            .any(|(name, value)| name.ends_with("ParameterNameWithNoValue") && value.is_none())
    );
    assert!(headers.call_id().unwrap().unwrap().len() > 100);
}

#[test]
fn dblreq_trailing_octets_after_content_length_are_ignored() {
    let message = accepted("dblreq.dat");
    let request = message.as_request().unwrap();
    assert_eq!(request.method, Method::Register);
    assert!(request.body.is_empty());
    assert!(!String::from_utf8_lossy(&message.to_bytes()).contains("INVITE"));
}

#[test]
fn semiuri_user_part_with_semicolons_is_parsed_whole() {
    let message = accepted("semiuri.dat");
    let uri = &message.as_request().unwrap().uri;
    assert_eq!(uri.user(), Some("user;par=u%40example.net"));
    assert_eq!(uri.user_decoded().unwrap().as_ref(), b"user;par=u@example.net");
    assert_eq!(uri.host(), Some(Host::Domain("example.com")));
}

#[test]
fn transports_varied_and_unknown_transports_are_accepted() {
    let message = accepted("transports.dat");
    let transports: Vec<String> = message
        .headers()
        .vias()
        .map(|v| v.unwrap().transport().to_owned())
        .collect();
    assert_eq!(transports, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
}

#[test]
fn mpart01_multipart_body_is_framed_by_content_length() {
    let message = accepted("mpart01.dat");
    let length = message.headers().content_length().unwrap().unwrap();
    assert_eq!(message.body().len(), length as usize);
    assert!(message.body().contains(&0));
}

#[test]
fn unreason_unusual_reason_phrase_is_accepted() {
    let message = accepted("unreason.dat");
    let response = message.as_response().unwrap();
    assert_eq!(response.status.as_u16(), 200);
    assert_eq!(
        &*response.reason,
        "= 2**3 * 5**2 но сто девяносто девять - простое"
    );
}

#[test]
fn noreason_empty_reason_phrase_is_accepted() {
    let message = accepted("noreason.dat");
    assert_eq!(&*message.as_response().unwrap().reason, "");
}

// ---- 3.1.2 Invalid messages ----

#[test]
fn badinv01_extraneous_separators_get_400() {
    assert!(rejected("badinv01.dat", 400).contains("Via"));
}

#[test]
fn clerr_content_length_larger_than_datagram_gets_400() {
    assert_eq!(parse_error("clerr.dat").kind(), ParseErrorKind::Truncated);
    rejected("clerr.dat", 400);
}

#[test]
fn ncl_negative_content_length_gets_400() {
    let error = parse_error("ncl.dat");
    assert_eq!(error.kind(), ParseErrorKind::ContentLength);
    assert_eq!(error.header(), Some("Content-Length"));
    rejected("ncl.dat", 400);
}

#[test]
fn scalar02_overlarge_request_scalars_get_400() {
    assert!(rejected("scalar02.dat", 400).contains("CSeq"));
}

#[test]
fn scalarlg_response_with_overlarge_scalars_is_dropped() {
    assert!(dropped("scalarlg.dat").contains("CSeq"));
}

#[test]
fn quotbal_unterminated_quoted_display_name_gets_400() {
    assert!(rejected("quotbal.dat", 400).contains("To"));
}

#[test]
fn ltgtruri_request_uri_in_angle_brackets_gets_400() {
    assert_eq!(parse_error("ltgtruri.dat").kind(), ParseErrorKind::Uri);
    rejected("ltgtruri.dat", 400);
}

#[test]
fn lwsruri_white_space_in_request_uri_gets_400() {
    assert_eq!(parse_error("lwsruri.dat").kind(), ParseErrorKind::Uri);
    rejected("lwsruri.dat", 400);
}

#[test]
fn lwsstart_multiple_spaces_in_request_line_get_400() {
    assert_eq!(parse_error("lwsstart.dat").kind(), ParseErrorKind::Uri);
    rejected("lwsstart.dat", 400);
}

#[test]
fn trws_trailing_space_on_request_line_gets_400() {
    assert_eq!(parse_error("trws.dat").kind(), ParseErrorKind::StartLine);
    rejected("trws.dat", 400);
}

#[test]
fn escruri_escaped_headers_in_request_uri_get_400() {
    assert!(rejected("escruri.dat", 400).contains("Request-URI"));
}

#[test]
fn baddate_non_gmt_date_gets_400() {
    assert!(rejected("baddate.dat", 400).contains("Date"));
}

#[test]
fn regbadct_contact_with_headers_outside_brackets_gets_400() {
    assert!(rejected("regbadct.dat", 400).contains("Contact"));
}

#[test]
fn badaspec_spaces_inside_addr_spec_get_400() {
    assert!(rejected("badaspec.dat", 400).contains("To"));
}

#[test]
fn baddn_non_token_display_name_gets_400() {
    rejected("baddn.dat", 400);
}

#[test]
fn badvers_unknown_protocol_version_gets_505() {
    rejected("badvers.dat", 505);
}

#[test]
fn mismatch01_cseq_method_mismatch_gets_400() {
    assert!(rejected("mismatch01.dat", 400).contains("CSeq"));
}

#[test]
fn mismatch02_unknown_method_with_cseq_mismatch_gets_501() {
    rejected("mismatch02.dat", 501);
}

#[test]
fn bigcode_overlarge_status_code_is_dropped() {
    assert_eq!(parse_error("bigcode.dat").kind(), ParseErrorKind::StatusCode);
    dropped("bigcode.dat");
}

// ---- 3.2 Transaction layer semantics ----

#[test]
fn badbranch_bare_magic_cookie_parses_and_falls_back_to_rfc2543_matching() {
    let message = accepted("badbranch.dat");
    let via = message.headers().top_via().unwrap().unwrap();
    assert_eq!(via.branch(), Some("z9hG4bK"));
    assert!(!via.has_magic_cookie());
}

// ---- 3.3 Application layer semantics ----

#[test]
fn insuf_missing_required_headers_get_400() {
    assert!(rejected("insuf.dat", 400).starts_with("missing"));
}

#[test]
fn unkscm_unknown_request_uri_scheme_gets_416() {
    let message = Message::parse(read("unkscm.dat")).unwrap();
    assert_eq!(message.as_request().unwrap().uri.scheme(), Scheme::Other);
    rejected("unkscm.dat", 416);
}

#[test]
fn novelsc_atypical_request_uri_scheme_gets_416() {
    rejected("novelsc.dat", 416);
}

#[test]
fn unksm2_registrar_rejects_non_sip_address_of_record_with_400() {
    let message = Message::parse(read("unksm2.dat")).unwrap();
    let to = message.headers().to_addr().unwrap().unwrap();
    assert_eq!(to.uri().scheme_str(), "isbn");
    assert!(rejected("unksm2.dat", 400).contains("To"));
}

#[test]
fn bext01_unknown_require_gets_420_listing_unsupported() {
    let reason = rejected("bext01.dat", 420);
    assert!(reason.contains("nothingSupportsThis") && reason.contains("nothingSupportsThisEither"));
    let Verdict::Reject(rejection) = verdict("bext01.dat") else {
        unreachable!()
    };
    let message = Message::parse(read("bext01.dat")).unwrap();
    let response = rejection.to_response(message.as_request().unwrap(), "sip-core", Some("t1"));
    assert_eq!(
        response.headers.get(HeaderName::Unsupported),
        Some("nothingSupportsThis, nothingSupportsThisEither")
    );
    assert!(
        response
            .headers
            .get(HeaderName::Warning)
            .unwrap()
            .starts_with("399 sip-core \"")
    );
}

#[test]
fn invut_unknown_content_type_gets_415() {
    rejected("invut.dat", 415);
}

#[test]
fn regaut01_unknown_authorization_scheme_is_ignored_by_a_registrar_without_auth() {
    let message = accepted("regaut01.dat");
    let auth = message
        .headers()
        .auth_values(HeaderName::Authorization)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(auth.scheme(), "NoOneKnowsThisScheme");
}

#[test]
fn multi01_multiple_values_in_single_value_headers_get_400() {
    assert!(rejected("multi01.dat", 400).contains("must appear once"));
}

#[test]
fn mcl01_conflicting_content_lengths_get_400() {
    assert_eq!(
        parse_error("mcl01.dat").kind(),
        ParseErrorKind::ConflictingContentLength
    );
    rejected("mcl01.dat", 400);
}

#[test]
fn bcast_response_with_two_vias_is_dropped_by_an_endpoint() {
    assert!(dropped("bcast.dat").contains("Via"));
}

#[test]
fn zeromf_max_forwards_zero_is_processed_by_an_endpoint() {
    let message = accepted("zeromf.dat");
    assert_eq!(message.headers().max_forwards().unwrap().unwrap(), 0);
}

#[test]
fn cparam01_contact_param_outside_brackets_is_a_header_param() {
    let message = accepted("cparam01.dat");
    let contact = message.headers().contacts().next().unwrap().unwrap();
    assert!(contact.params().contains("unknownparam"));
    assert!(!contact.uri().params().contains("unknownparam"));
}

#[test]
fn cparam02_param_inside_brackets_is_a_uri_param() {
    let message = accepted("cparam02.dat");
    let contact = message.headers().contacts().next().unwrap().unwrap();
    assert!(contact.uri().params().contains("unknownparam"));
    assert!(!contact.params().contains("unknownparam"));
}

#[test]
fn regescrt_escaped_header_in_contact_uri_is_kept() {
    let message = accepted("regescrt.dat");
    let contact = message.headers().contacts().next().unwrap().unwrap();
    assert_eq!(contact.uri().headers(), Some("Route=%3Csip:sip.example.com%3E"));
}

#[test]
fn sdp01_accept_without_sdp_gets_406() {
    rejected("sdp01.dat", 406);
}

// ---- 3.4 Backward compatibility ----

#[test]
fn inv2543_rfc2543_invite_is_accepted() {
    let message = accepted("inv2543.dat");
    let headers = message.headers();
    assert!(headers.top_via().unwrap().unwrap().branch().is_none());
    assert!(headers.from_addr().unwrap().unwrap().tag().is_none());
    assert!(headers.max_forwards().is_none());
    // No Content-Length: the body is the rest of the datagram.
    assert!(message.body().starts_with(b"v=0"));
    assert!(message.body().ends_with(b"RTP/AVP 0\r\n"));
}

// ---- Not in RFC 4475 ----

/// Malformed, and with no Via there is no one to answer (RFC 3261 §18.2.2): dropped and
/// counted, not answered with a 400 sent back to wherever the datagram seemed to come from.
#[test]
fn test_dat_unspecified_malformed_request_without_a_via_is_dropped() {
    assert_eq!(parse_error("test.dat").kind(), ParseErrorKind::StartLine);
    assert_eq!(dropped("test.dat"), "no Via");
}

/// Every file INDEX.tsv lists has a test above, and the INDEX's verdict class agrees with
/// what `check_datagram` does.
#[test]
fn index_verdicts_match_check_datagram_for_every_file() {
    let index = std::fs::read_to_string(format!("{DIR}INDEX.tsv")).unwrap();
    let source = include_str!("rfc4475.rs");
    let mut files = 0;
    for line in index
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let columns: Vec<&str> = line.split('\t').collect();
        let (file, class) = (columns[0], columns[3]);
        files += 1;
        assert!(
            source.contains(&format!("\"{file}\"")),
            "{file} has no named test"
        );
        let got = verdict(file);
        match class {
            "VALID" => assert!(
                matches!(got, Verdict::Accept(_)) || file == "intmeth.dat" || file == "esc02.dat",
                "{file}: {got:?}"
            ),
            "INVALID" => assert!(matches!(got, Verdict::Reject(_)), "{file}: {got:?}"),
            // Malformed: rejected, or dropped when no Via says where an answer would go.
            "UNSPECIFIED (malformed)" => assert!(
                matches!(got, Verdict::Reject(_) | Verdict::Drop(_)),
                "{file}: {got:?}"
            ),
            "RESP-DROP" => assert!(matches!(got, Verdict::Drop(_)), "{file}: {got:?}"),
            "VALID-SEMANTIC" => {} // each has its own status, pinned by its test
            other => panic!("{file}: unknown verdict class {other}"),
        }
    }
    assert_eq!(files, 50);
}
