use super::*;
use crate::message::Message;

fn request(text: &str) -> Request {
    Message::parse(Bytes::from(text.replace('\n', "\r\n")))
        .unwrap()
        .as_request()
        .unwrap()
        .clone()
}

fn response(text: &str) -> Response {
    Message::parse(Bytes::from(text.replace('\n', "\r\n")))
        .unwrap()
        .as_response()
        .unwrap()
        .clone()
}

const INVITE: &str = "INVITE sip:bob@192.0.2.2 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKp1
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1
Record-Route: <sip:192.0.2.9;lr>, <sip:192.0.2.8;lr>
From: \"Alice\" <sip:alice@192.0.2.1>;tag=a1
To: <sip:bob@192.0.2.2>
Call-ID: c1
CSeq: 10 INVITE
Contact: <sip:alice@192.0.2.1:5070>
Content-Length: 0

";

#[test]
fn uas_keeps_record_route_order_and_tags_its_to() {
    let mut dialog = Dialog::uas(&request(INVITE), "b1", 1, false).unwrap();
    assert_eq!(dialog.key().local_tag, "b1");
    assert_eq!(dialog.key().remote_tag, "a1");
    assert_eq!(dialog.remote_seq(), Some(10));
    let bye = dialog.request(Method::Bye);
    assert_eq!(bye.uri.as_str(), "sip:alice@192.0.2.1:5070");
    let routes: Vec<_> = bye.headers.values(HeaderName::Route).collect();
    assert_eq!(routes, ["<sip:192.0.2.9;lr>", "<sip:192.0.2.8;lr>"]);
    assert_eq!(bye.headers.from_addr().unwrap().unwrap().tag(), Some("b1"));
    assert_eq!(bye.headers.to_addr().unwrap().unwrap().tag(), Some("a1"));
    assert_eq!(
        bye.headers.cseq().unwrap().unwrap(),
        crate::message::CSeq {
            seq: 2,
            method: Method::Bye
        }
    );
    assert_eq!(dialog.next_hop_addr(), Some("192.0.2.9:5060".parse().unwrap()));
    // The request reads back: what we build is what the peer parses.
    let reparsed = Message::parse(bye.to_bytes()).unwrap();
    assert_eq!(
        reparsed.headers().get(HeaderName::To),
        Some("\"Alice\" <sip:alice@192.0.2.1>;tag=a1")
    );
}

#[test]
fn strict_first_hop_becomes_request_uri_and_target_goes_last() {
    let invite = INVITE.replace(
        "<sip:192.0.2.9;lr>, <sip:192.0.2.8;lr>",
        "<sip:192.0.2.9>, <sip:192.0.2.8;lr>",
    );
    let mut dialog = Dialog::uas(&request(&invite), "b1", 1, false).unwrap();
    let info = dialog.request(Method::Info);
    assert_eq!(info.uri.as_str(), "sip:192.0.2.9");
    let routes: Vec<_> = info.headers.values(HeaderName::Route).collect();
    assert_eq!(routes, ["<sip:192.0.2.8;lr>", "<sip:alice@192.0.2.1:5070>"]);
}

#[test]
fn lower_remote_cseq_is_out_of_order_but_ack_is_not_checked() {
    let mut dialog = Dialog::uas(&request(INVITE), "b1", 1, false).unwrap();
    let lower = request(
        &INVITE
            .replace("INVITE sip", "INFO sip")
            .replace("10 INVITE", "9 INFO"),
    );
    assert_eq!(dialog.check_remote_cseq(&lower), CSeqCheck::OutOfOrder);
    let ack = request(
        &INVITE
            .replace("INVITE sip", "ACK sip")
            .replace("10 INVITE", "10 ACK"),
    );
    assert_eq!(dialog.check_remote_cseq(&ack), CSeqCheck::Accept);
    let higher = request(
        &INVITE
            .replace("INVITE sip", "BYE sip")
            .replace("10 INVITE", "11 BYE"),
    );
    assert_eq!(dialog.check_remote_cseq(&higher), CSeqCheck::Accept);
    assert_eq!(dialog.remote_seq(), Some(11));
}

#[test]
fn uac_early_dialog_takes_the_route_set_and_target_of_the_2xx() {
    let invite = request(INVITE);
    let ringing = response(
        "SIP/2.0 180 Ringing
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1
Record-Route: <sip:192.0.2.9;lr>
From: \"Alice\" <sip:alice@192.0.2.1>;tag=a1
To: <sip:bob@192.0.2.2>;tag=b7
Call-ID: c1
CSeq: 10 INVITE
Contact: <sip:bob@192.0.2.2>
Content-Length: 0

",
    );
    let mut dialog = Dialog::uac(&invite, &ringing).unwrap();
    assert_eq!(dialog.state(), DialogState::Early);
    let ok = response(
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1
Record-Route: <sip:192.0.2.8;lr>, <sip:192.0.2.9;lr>
From: \"Alice\" <sip:alice@192.0.2.1>;tag=a1
To: <sip:bob@192.0.2.2>;tag=b7
Call-ID: c1
CSeq: 10 INVITE
Contact: <sip:bob@192.0.2.33:5062>
Content-Length: 0

",
    );
    dialog.confirm(&ok);
    assert_eq!(dialog.state(), DialogState::Confirmed);
    let ack = dialog.ack(10, Bytes::new(), None);
    assert_eq!(ack.uri.as_str(), "sip:bob@192.0.2.33:5062");
    assert_eq!(
        ack.headers.cseq().unwrap().unwrap(),
        crate::message::CSeq {
            seq: 10,
            method: Method::Ack
        }
    );
    let routes: Vec<_> = ack.headers.values(HeaderName::Route).collect();
    assert_eq!(routes, ["<sip:192.0.2.9;lr>", "<sip:192.0.2.8;lr>"]);
    assert_eq!(dialog.local_seq(), 10, "the ACK takes no new number");
}

#[test]
fn a_100_or_a_failure_creates_no_dialog() {
    let invite = request(INVITE);
    let trying = response(
        "SIP/2.0 100 Trying
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1
From: <sip:alice@192.0.2.1>;tag=a1
To: <sip:bob@192.0.2.2>
Call-ID: c1
CSeq: 10 INVITE
Content-Length: 0

",
    );
    assert_eq!(
        Dialog::uac(&invite, &trying),
        Err(DialogError::NotDialogCreating(100))
    );
}

#[test]
fn a_target_is_read_from_any_contact_form() {
    assert_eq!(
        uri_text_of(r#""A <b>; c" <sip:a@h;transport=tcp>;expires=60"#),
        Some("sip:a@h;transport=tcp")
    );
    assert_eq!(uri_text_of(" sip:a@h:5070 ;expires=60"), Some("sip:a@h:5070"));
    assert_eq!(uri_text_of("Bob <sips:b@h>"), Some("sips:b@h"));
    assert_eq!(uri_text_of("<sip:a@h"), None);
    assert_eq!(uri_text_of(r#""unterminated <sip:a@h>"#), None);
}
