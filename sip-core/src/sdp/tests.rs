use std::net::IpAddr;

use quickcheck::{Arbitrary, Gen, quickcheck};

use super::*;

/// A realistic audio+video offer, in the shape softphones send: bandwidth, timing, codec
/// maps and parameters, RTCP attributes, an unknown attribute, media-level c= on video.
const AUDIO_VIDEO: &str = "v=0\r\n\
o=alice 2890844526 2890844527 IN IP4 192.0.2.10\r\n\
s=Talk\r\n\
i=A call\r\n\
c=IN IP4 192.0.2.10\r\n\
b=AS:2000\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
a=x-vendor-thing:42\r\n\
m=audio 49170 RTP/AVP 0 8 9 101\r\n\
b=TIAS:64000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=rtcp:49171\r\n\
a=sendrecv\r\n\
m=video 51372/2 RTP/AVPF 96 97\r\n\
c=IN IP4 192.0.2.11\r\n\
b=AS:1900\r\n\
a=rtpmap:96 H264/90000\r\n\
a=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\n\
a=rtpmap:97 VP8/90000\r\n\
a=rtcp-fb:* nack\r\n\
a=rtcp-fb:* ccm fir\r\n\
a=recvonly\r\n";

fn sdp(text: &str) -> SessionDescription {
    SessionDescription::parse(text.as_bytes()).unwrap()
}

fn audio_offer(direction: &str) -> SessionDescription {
    sdp(&format!(
        "v=0\r\no=bob 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
         m=audio 5004 RTP/AVP 0\r\na={direction}\r\n"
    ))
}

fn ours() -> SessionDescription {
    SessionDescription::simple_audio("alice", 42, "192.0.2.10".parse().unwrap(), 4000, &[0, 8, 101])
}

#[test]
fn round_trip_is_byte_exact() {
    let parsed = sdp(AUDIO_VIDEO);
    assert_eq!(parsed.to_bytes(), AUDIO_VIDEO.as_bytes());
    assert_eq!(parsed.to_string(), AUDIO_VIDEO);
}

#[test]
fn modelled_fields_are_read() {
    let parsed = sdp(AUDIO_VIDEO);
    let origin = parsed.origin();
    assert_eq!(origin.username, "alice");
    assert_eq!(origin.session_id, "2890844526");
    assert_eq!(origin.version, 2890844527);
    assert_eq!(
        (origin.net_type.as_str(), origin.addr_type.as_str()),
        ("IN", "IP4")
    );
    assert_eq!(origin.address, "192.0.2.10");
    assert_eq!(parsed.session_name(), "Talk");
    assert_eq!(parsed.connection().unwrap().address, "192.0.2.10");
    assert_eq!(parsed.direction(), None);
    let [audio, video] = parsed.media() else {
        panic!("two media")
    };
    assert_eq!(
        (audio.kind.as_str(), audio.port, audio.port_count),
        ("audio", 49170, None)
    );
    assert_eq!(audio.protocol, "RTP/AVP");
    assert_eq!(audio.formats, ["0", "8", "9", "101"]);
    assert_eq!(audio.connection(), None);
    assert_eq!(
        (video.port, video.port_count, video.protocol.as_str()),
        (51372, Some(2), "RTP/AVPF")
    );
    assert_eq!(video.connection().unwrap().address, "192.0.2.11");
    assert_eq!(parsed.media_direction(0), Some(Direction::SendRecv));
    assert_eq!(parsed.media_direction(1), Some(Direction::RecvOnly));
    assert_eq!(parsed.media_direction(2), None);
    assert_eq!(audio.attributes().nth(4), Some(("fmtp", Some("101 0-16"))));
    assert!(video.attributes().any(|a| a == ("rtcp-fb", Some("* ccm fir"))));
    assert_eq!(
        parsed.attributes().collect::<Vec<_>>(),
        [("group", Some("BUNDLE 0 1")), ("x-vendor-thing", Some("42"))]
    );
}

#[test]
fn lf_only_input_is_read_and_written_with_crlf() {
    let parsed = SessionDescription::parse(AUDIO_VIDEO.replace("\r\n", "\n").as_bytes()).unwrap();
    assert_eq!(parsed, sdp(AUDIO_VIDEO));
    assert_eq!(parsed.to_string(), AUDIO_VIDEO);
}

#[test]
fn missing_final_line_break_and_trailing_empty_lines_are_tolerated() {
    let trimmed = AUDIO_VIDEO.trim_end();
    assert_eq!(sdp(trimmed).to_string(), AUDIO_VIDEO);
    assert_eq!(sdp(&format!("{AUDIO_VIDEO}\r\n\r\n")).to_string(), AUDIO_VIDEO);
}

#[test]
fn errors_say_what_and_where() {
    let err = |text: &str| SessionDescription::parse(text.as_bytes()).unwrap_err();
    assert_eq!(err(""), SdpError::Empty);
    assert_eq!(err("\r\n\n"), SdpError::Empty);
    assert_eq!(err("v=1\r\n"), SdpError::Version { line: 1 });
    assert_eq!(err("o=a 1 1 IN IP4 h\r\nv=0\r\n"), SdpError::Version { line: 1 });
    assert_eq!(err("v=0\r\nhello\r\n"), SdpError::Syntax { line: 2 });
    assert_eq!(err("v=0\r\nab=c\r\n"), SdpError::Syntax { line: 2 });
    assert_eq!(
        err("v=0\r\no=a 1 x IN IP4 h\r\n"),
        SdpError::Invalid { line: 2, field: "o=" }
    );
    assert_eq!(
        err("v=0\r\no=a 1 1 IN IP4\r\n"),
        SdpError::Invalid { line: 2, field: "o=" }
    );
    assert_eq!(err("v=0\r\ns=-\r\n"), SdpError::Missing("o="));
    assert_eq!(err("v=0\r\no=a 1 1 IN IP4 h\r\n"), SdpError::Missing("s="));
    let head = "v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\n";
    assert_eq!(
        err(&format!("{head}c=IN IP4\r\n")),
        SdpError::Invalid { line: 4, field: "c=" }
    );
    assert_eq!(
        err(&format!("{head}s=x\r\n")),
        SdpError::Duplicate { line: 4, field: "s=" }
    );
    assert_eq!(
        err(&format!("{head}m=audio 70000 RTP/AVP 0\r\n")),
        SdpError::Invalid { line: 4, field: "m=" }
    );
    assert_eq!(
        err(&format!("{head}m=audio 1/x RTP/AVP 0\r\n")),
        SdpError::Invalid { line: 4, field: "m=" }
    );
    assert_eq!(
        err(&format!("{head}m=audio 1\r\n")),
        SdpError::Invalid { line: 4, field: "m=" }
    );
    assert_eq!(
        err(&format!("{head}m=audio 1 RTP/AVP 0\r\no=x\r\n")),
        SdpError::Misplaced { line: 5, field: "o=" }
    );
    assert_eq!(
        err(&format!("{head}a=sendonly\r\na=sendrecv\r\n")),
        SdpError::Duplicate {
            line: 5,
            field: "direction attribute"
        }
    );
    assert_eq!(err(&format!("{head}\r\na=x\rb\r\n")).line(), Some(5));
    assert_eq!(err(&format!("{head}a=\u{0}\r\n")), SdpError::Syntax { line: 4 });
    let mut bad_utf8 = head.as_bytes().to_vec();
    bad_utf8.extend_from_slice(b"i=\xff\r\n");
    assert_eq!(
        SessionDescription::parse(&bad_utf8).unwrap_err(),
        SdpError::Utf8 { line: 4 }
    );
    assert_eq!(
        SdpError::Invalid { line: 4, field: "m=" }.to_string(),
        "line 4: malformed m= line"
    );
}

#[test]
fn session_direction_applies_to_media_without_their_own() {
    let parsed = sdp(
        "v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\na=sendonly\r\nm=audio 1 RTP/AVP 0\r\n\
                      m=video 2 RTP/AVP 96\r\na=inactive\r\n",
    );
    assert_eq!(parsed.direction(), Some(Direction::SendOnly));
    assert_eq!(parsed.media_direction(0), Some(Direction::SendOnly));
    assert_eq!(parsed.media_direction(1), Some(Direction::Inactive));
}

#[test]
fn direction_attributes_are_case_sensitive_and_tolerate_trailing_blanks() {
    let parsed = sdp(
        "v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\na=sendonly \r\n\
                      m=audio 2 RTP/AVP 0\r\na=SENDONLY\r\n",
    );
    assert_eq!(parsed.media_direction(0), Some(Direction::SendOnly));
    assert_eq!(parsed.media_direction(1), Some(Direction::SendRecv));
}

#[test]
fn direction_answers_follow_rfc3264_section_6_1() {
    use Direction::*;
    for (offer, answer) in [
        (SendOnly, RecvOnly),
        (RecvOnly, SendOnly),
        (Inactive, Inactive),
        (SendRecv, SendRecv),
    ] {
        assert_eq!(offer.reversed(), answer);
        assert_eq!(Direction::answer(offer, SendRecv), answer);
    }
    assert_eq!(SendRecv.intersect(SendOnly), SendOnly);
    assert_eq!(SendOnly.intersect(RecvOnly), Inactive);
    assert_eq!(SendRecv.on_hold(), SendOnly);
    assert_eq!(RecvOnly.on_hold(), Inactive);
    for d in [SendRecv, SendOnly, RecvOnly, Inactive] {
        assert_eq!(Direction::parse(d.as_str()), Some(d));
        assert_eq!(d.to_string(), d.as_str());
        assert_eq!(Direction::from_flags(d.sends(), d.receives()), d);
    }
    assert_eq!(Direction::parse("hold"), None);
}

#[test]
fn sendonly_offer_is_answered_recvonly() {
    let answer = ours().answer_for(&audio_offer("sendonly"), false).unwrap();
    assert_eq!(answer.media_direction(0), Some(Direction::RecvOnly));
}

#[test]
fn inactive_offer_is_answered_inactive() {
    let answer = ours().answer_for(&audio_offer("inactive"), false).unwrap();
    assert_eq!(answer.media_direction(0), Some(Direction::Inactive));
}

#[test]
fn sendrecv_offer_is_answered_sendrecv_or_sendonly_when_holding() {
    assert_eq!(
        ours()
            .answer_for(&audio_offer("sendrecv"), false)
            .unwrap()
            .media_direction(0),
        Some(Direction::SendRecv)
    );
    assert_eq!(
        ours()
            .answer_for(&audio_offer("sendrecv"), true)
            .unwrap()
            .media_direction(0),
        Some(Direction::SendOnly)
    );
}

#[test]
fn recvonly_offer_is_answered_sendonly_even_when_holding() {
    // The peer we hold re-offers its recvonly stream: our music on hold keeps flowing.
    assert_eq!(
        ours()
            .answer_for(&audio_offer("recvonly"), false)
            .unwrap()
            .media_direction(0),
        Some(Direction::SendOnly)
    );
    assert_eq!(
        ours()
            .answer_for(&audio_offer("recvonly"), true)
            .unwrap()
            .media_direction(0),
        Some(Direction::SendOnly)
    );
}

#[test]
fn hold_offer_while_holding_is_answered_inactive() {
    // Mutual hold (RFC 6337 §5.3): the peer holds with sendonly while we hold too.
    let answer = ours().answer_for(&audio_offer("sendonly"), true).unwrap();
    assert_eq!(answer.media_direction(0), Some(Direction::Inactive));
}

#[test]
fn hold_offer_from_peer_already_on_hold_is_inactive() {
    // We held the peer (its side became recvonly); it now holds us, which RFC 3264 §8.4
    // says it offers as inactive. Whatever we want, nothing flows.
    let offer = audio_offer("inactive");
    assert!(offer.is_hold_offer());
    for hold in [false, true] {
        assert_eq!(
            ours().answer_for(&offer, hold).unwrap().media_direction(0),
            Some(Direction::Inactive)
        );
    }
}

#[test]
fn rfc2543_hold_address_counts_as_not_receiving() {
    let offer = sdp(
        "v=0\r\no=bob 1 2 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
                     m=audio 5004 RTP/AVP 0\r\n",
    );
    assert_eq!(offer.media_direction(0), Some(Direction::SendRecv));
    assert_eq!(offer.effective_direction(0), Some(Direction::SendOnly));
    assert!(offer.is_hold_offer());
    assert_eq!(
        ours().answer_for(&offer, false).unwrap().media_direction(0),
        Some(Direction::RecvOnly)
    );
}

#[test]
fn hold_detection_ignores_rejected_streams_and_needs_one_active() {
    let held = sdp("v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n\
                    m=audio 1 RTP/AVP 0\r\na=sendonly\r\nm=video 0 RTP/AVP 96\r\n\
                    m=text 3 RTP/AVP 98\r\na=inactive\r\n");
    assert!(held.is_hold_offer());
    let partly = sdp("v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n\
                      m=audio 1 RTP/AVP 0\r\na=sendonly\r\nm=video 2 RTP/AVP 96\r\n");
    assert!(!partly.is_hold_offer());
    let none_active = sdp("v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nm=audio 0 RTP/AVP 0\r\na=sendonly\r\n");
    assert!(!none_active.is_hold_offer());
    assert!(!audio_offer("sendrecv").is_hold_offer());
    assert!(!audio_offer("recvonly").is_hold_offer());
}

#[test]
fn set_direction_replaces_media_attributes_and_drops_the_session_one() {
    let mut parsed = sdp("v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\na=recvonly\r\nt=0 0\r\n\
                          m=audio 1 RTP/AVP 0\r\na=inactive\r\na=rtpmap:0 PCMU/8000\r\n\
                          m=video 2 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n");
    parsed.set_direction(Direction::SendOnly);
    assert_eq!(parsed.direction(), None);
    assert_eq!(
        parsed.to_string(),
        "v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n\
         m=audio 1 RTP/AVP 0\r\na=sendonly\r\na=rtpmap:0 PCMU/8000\r\n\
         m=video 2 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=sendonly\r\n"
    );
    assert!(parsed.is_hold_offer());
    assert_eq!(SessionDescription::parse(&parsed.to_bytes()).unwrap(), parsed);
}

#[test]
fn bump_version_increments_by_one_and_wraps() {
    let mut offer = ours();
    assert_eq!(offer.bump_version(), 43);
    assert!(offer.to_string().contains("o=alice 42 43 IN IP4 192.0.2.10\r\n"));
    offer.origin_mut().version = u64::MAX;
    assert_eq!(offer.bump_version(), 0);
}

#[test]
fn simple_audio_is_a_realistic_offer() {
    let offer = ours();
    let text = offer.to_string();
    assert_eq!(
        text,
        "v=0\r\no=alice 42 42 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    assert!((200..=300).contains(&text.len()), "{} bytes", text.len());
    assert_eq!(sdp(&text), offer);
    let v6 = SessionDescription::simple_audio("bad user", 1, "2001:db8::1".parse().unwrap(), 4000, &[0]);
    assert_eq!(v6.origin().username, "-");
    assert_eq!(
        v6.connection(),
        Some(&Connection::new("2001:db8::1".parse::<IpAddr>().unwrap()))
    );
    assert!(v6.to_string().contains("c=IN IP6 2001:db8::1\r\n"));
}

#[test]
fn answer_keeps_the_offer_media_count_and_rejects_what_we_lack() {
    let offer = sdp(AUDIO_VIDEO);
    let answer = ours().answer_for(&offer, false).unwrap();
    let [audio, video] = answer.media() else {
        panic!("two media")
    };
    // Our port; the offered formats we support, in the offer's order (G722 is not ours).
    assert_eq!(audio.port, 4000);
    assert_eq!(audio.formats, ["0", "8", "101"]);
    assert_eq!(answer.media_direction(0), Some(Direction::SendRecv));
    // No video in our template: rejected with port 0, same type and transport.
    assert!(video.is_rejected());
    assert_eq!(
        (video.kind.as_str(), video.protocol.as_str()),
        ("video", "RTP/AVPF")
    );
    // The offer's first format: the line needs one (RFC 3264 §6).
    assert_eq!(video.formats, ["96"]);
    assert!(!answer.to_string().contains("H264"));
    assert_eq!(answer.origin(), ours().origin());
    assert_eq!(SessionDescription::parse(&answer.to_bytes()).unwrap(), answer);
}

#[test]
fn answer_rejects_streams_the_offer_disabled_or_with_another_transport() {
    let offer = sdp(
        "v=0\r\no=bob 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
                     m=audio 0 RTP/AVP 0\r\nm=audio 5006 RTP/SAVP 0\r\nm=audio 5008 RTP/AVP 0\r\n\
                     m=audio 5010 RTP/AVP 0\r\n",
    );
    let answer = ours().answer_for(&offer, false).unwrap();
    let ports: Vec<u16> = answer.media().iter().map(|m| m.port).collect();
    // One template stream: only the first matching offered stream gets it.
    assert_eq!(ports, [0, 0, 4000, 0]);
}

#[test]
fn answer_without_session_connection_gives_rejected_streams_ours() {
    let mut template = ours();
    template.set_connection(None);
    template.media_mut()[0].set_connection(Some(Connection::new("192.0.2.10".parse().unwrap())));
    assert!(
        template
            .to_string()
            .contains("m=audio 4000 RTP/AVP 0 8 101\r\nc=IN IP4 192.0.2.10\r\na=rtpmap")
    );
    let answer = template.answer_for(&sdp(AUDIO_VIDEO), false).unwrap();
    assert_eq!(answer.connection(), None);
    assert_eq!(answer.media()[1].connection().unwrap().address, "192.0.2.10");
}

#[test]
fn answer_moves_the_template_session_direction_to_the_streams() {
    let template = sdp(
        "v=0\r\no=a 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\na=recvonly\r\n\
                        m=audio 4000 RTP/AVP 0\r\n",
    );
    let answer = template.answer_for(&audio_offer("sendrecv"), false).unwrap();
    assert_eq!(answer.direction(), None);
    assert_eq!(answer.media_direction(0), Some(Direction::RecvOnly));
    // Holding on top of recvonly leaves nothing (RFC 3264 §8.4).
    assert_eq!(
        template
            .answer_for(&audio_offer("sendrecv"), true)
            .unwrap()
            .media_direction(0),
        Some(Direction::Inactive)
    );
}

/// An audio offer of `formats` with `lines` (rtpmap, fmtp...) at media level.
fn offer_of(formats: &str, lines: &str) -> SessionDescription {
    sdp(&format!(
        "v=0\r\no=bob 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
         m=audio 5004 RTP/AVP {formats}\r\n{lines}"
    ))
}

#[test]
fn pcmu_only_offer_gets_a_pcmu_only_answer() {
    // SIPp's uac scenario: an answer lists only offered formats (RFC 3264 §6.1).
    let answer = ours()
        .answer_for(&offer_of("0", "a=rtpmap:0 PCMU/8000\r\n"), false)
        .unwrap();
    assert_eq!(answer.media()[0].formats, ["0"]);
    assert_eq!(
        answer.to_string(),
        "v=0\r\no=alice 42 42 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    // A static payload type needs no rtpmap in the offer.
    let bare = ours().answer_for(&offer_of("8", ""), false).unwrap();
    assert_eq!(bare.media()[0].formats, ["8"]);
}

#[test]
fn answer_keeps_the_offer_order_and_numbers() {
    let offer = offer_of(
        "8 97 0 9",
        "a=rtpmap:97 telephone-event/8000\r\na=fmtp:97 0-16\r\na=rtpmap:9 G722/8000\r\n",
    );
    let answer = ours().answer_for(&offer, false).unwrap();
    assert_eq!(answer.media()[0].formats, ["8", "97", "0"]);
    let text = answer.to_string();
    // Our telephone-event, renumbered as the offer numbers it (RFC 3264 §6.1).
    assert!(
        text.contains("a=rtpmap:97 telephone-event/8000\r\na=fmtp:97 0-16\r\n"),
        "{text}"
    );
    assert!(!text.contains(":101"), "{text}");
    assert!(!text.contains("G722"), "{text}");
}

#[test]
fn dynamic_types_match_by_encoding_not_number() {
    let template = sdp(
        "v=0\r\no=a 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 111 96\r\na=rtpmap:111 opus/48000/2\r\n\
         a=fmtp:111 useinbandfec=1\r\na=rtcp-fb:111 transport-cc\r\n\
         a=rtpmap:96 iLBC/8000\r\na=maxptime:60\r\n",
    );
    // The offer numbers opus 109 and uses 96 for something we lack; mono opus is not ours.
    let offer = offer_of(
        "96 109 110",
        "a=rtpmap:96 speex/8000\r\na=rtpmap:109 OPUS/48000/2\r\na=rtpmap:110 opus/48000\r\n",
    );
    let answer = template.answer_for(&offer, false).unwrap();
    assert_eq!(answer.media()[0].formats, ["109"]);
    let text = answer.to_string();
    assert!(
        text.contains(
            "a=rtpmap:109 opus/48000/2\r\na=fmtp:109 useinbandfec=1\r\n\
             a=rtcp-fb:109 transport-cc\r\na=maxptime:60\r\n"
        ),
        "{text}"
    );
    assert!(!text.contains("iLBC"), "{text}");
    // A dynamic number without an rtpmap says nothing: no match on the number alone.
    assert!(template.answer_for(&offer_of("111", ""), false).is_err());
}

#[test]
fn telephone_event_ranges_are_intersected() {
    // baresip offers 0-15; ours is 0-16: the answer says 0-15, under the offer's number.
    let offer = offer_of(
        "0 101",
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
    );
    let text = ours().answer_for(&offer, false).unwrap().to_string();
    assert!(
        text.contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"),
        "{text}"
    );
    assert!(!text.contains("0-16"), "{text}");
    // No events list: 0-15 is assumed (RFC 4733 §7.1.1).
    let bare = offer_of("0 100", "a=rtpmap:100 telephone-event/8000\r\n");
    let text = ours().answer_for(&bare, false).unwrap().to_string();
    assert!(text.contains("m=audio 4000 RTP/AVP 0 100\r\n"), "{text}");
    assert!(text.contains("a=fmtp:100 0-15\r\n"), "{text}");
    // Lists and ranges mix; the answer is written as ranges.
    let mixed = offer_of(
        "0 100",
        "a=rtpmap:100 telephone-event/8000\r\na=fmtp:100 16,3-5,0,9-12,70\r\n",
    );
    let text = ours().answer_for(&mixed, false).unwrap().to_string();
    assert!(text.contains("a=fmtp:100 0,3-5,9-12,16\r\n"), "{text}");
    // Nothing in common: telephone-event is left out, the codec stays.
    let flash = offer_of(
        "0 100",
        "a=rtpmap:100 telephone-event/8000\r\na=fmtp:100 64-70\r\n",
    );
    let answer = ours().answer_for(&flash, false).unwrap();
    assert_eq!(answer.media()[0].formats, ["0"]);
    assert!(!answer.to_string().contains("telephone-event"));
    // Another clock rate is another format.
    let wideband = offer_of("0 100", "a=rtpmap:100 telephone-event/16000\r\n");
    assert_eq!(
        ours().answer_for(&wideband, false).unwrap().media()[0].formats,
        ["0"]
    );
}

#[test]
fn a_stream_sharing_nothing_gets_port_0_and_the_others_stay() {
    let offer = sdp(
        "v=0\r\no=bob 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
         m=audio 5004 RTP/AVP 18 101\r\na=rtpmap:101 telephone-event/8000\r\n\
         m=audio 5006 RTP/AVP 3 8\r\n",
    );
    let answer = ours().answer_for(&offer, false).unwrap();
    let [first, second] = answer.media() else {
        panic!("two media")
    };
    // G.729 is not ours and telephone-event alone carries no audio.
    assert!(first.is_rejected());
    assert_eq!(first.formats, ["18"]);
    assert_eq!(first.direction(), None);
    assert!(!first.to_string().contains("a="));
    // The template stream goes to the second line, which shares PCMA.
    assert_eq!(
        (second.port, second.formats.as_slice()),
        (4000, &["8".to_owned()][..])
    );
}

#[test]
fn nothing_in_common_is_an_error_with_a_rejecting_answer() {
    let offer = sdp(&AUDIO_VIDEO.replace("m=audio 49170 RTP/AVP 0 8 9 101", "m=audio 49170 RTP/AVP 9"));
    let refused = ours().answer_for(&offer, false).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "the offer shares no media format with our session description"
    );
    let rejecting = refused.rejecting_answer();
    assert_eq!(rejecting.media().len(), 2);
    assert!(rejecting.media().iter().all(Media::is_rejected));
    assert_eq!(rejecting.media()[0].formats, ["9"]);
    assert_eq!(rejecting.origin(), ours().origin());
    let rejecting = refused.into_rejecting_answer();
    assert_eq!(
        SessionDescription::parse(&rejecting.to_bytes()).unwrap(),
        rejecting
    );
    // An offer with no active stream is not a mismatch: everything is answered rejected.
    let disabled = sdp("v=0\r\no=bob 1 1 IN IP4 h\r\ns=-\r\nm=audio 0 RTP/AVP 18\r\n");
    let answer = ours().answer_for(&disabled, false).unwrap();
    assert!(answer.media()[0].is_rejected());
    let empty = sdp("v=0\r\no=bob 1 1 IN IP4 h\r\ns=-\r\n");
    assert!(ours().answer_for(&empty, false).unwrap().media().is_empty());
}

#[test]
fn other_transports_match_formats_by_text() {
    let template = sdp(
        "v=0\r\no=a 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
         m=image 4002 udptl t38\r\na=T38FaxVersion:0\r\n",
    );
    let offer = sdp(
        "v=0\r\no=bob 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\n\
         m=image 6000 udptl t38\r\n",
    );
    let answer = template.answer_for(&offer, false).unwrap();
    assert_eq!(answer.media()[0].formats, ["t38"]);
    assert!(answer.to_string().contains("a=T38FaxVersion:0\r\n"));
}

#[test]
fn answer_directions_follow_rfc3264_section_6_1_with_negotiated_formats() {
    use Direction::*;
    let offer = |direction: &str| {
        offer_of(
            "0 8",
            &format!("a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na={direction}\r\n"),
        )
    };
    for (offered, hold, answered) in [
        ("sendonly", false, RecvOnly),
        ("recvonly", false, SendOnly),
        ("inactive", false, Inactive),
        ("sendrecv", false, SendRecv),
        ("sendonly", true, Inactive),
        ("recvonly", true, SendOnly),
        ("inactive", true, Inactive),
        ("sendrecv", true, SendOnly),
    ] {
        let answer = ours().answer_for(&offer(offered), hold).unwrap();
        assert_eq!(answer.media_direction(0), Some(answered), "{offered} hold={hold}");
        assert_eq!(answer.media()[0].formats, ["0", "8"]);
    }
}

/// Truncations and single-byte mutations of a valid SDP: each either parses, and then
/// re-parses to itself from its own serialization, or is refused — never a panic.
#[test]
fn garbage_never_panics() {
    let valid = AUDIO_VIDEO.as_bytes();
    let check = |bytes: &[u8]| {
        if let Ok(parsed) = SessionDescription::parse(bytes) {
            let again = SessionDescription::parse(&parsed.to_bytes()).unwrap();
            assert_eq!(again, parsed, "{:?}", String::from_utf8_lossy(bytes));
            let _ = (parsed.is_hold_offer(), ours().answer_for(&parsed, true));
        }
    };
    for end in 0..=valid.len() {
        check(&valid[..end]);
        check(&valid[end..]);
    }
    for at in 0..valid.len() {
        for byte in [
            b'\0', b'\r', b'\n', b' ', b'=', b'/', b'0', b'9', b'a', b'm', b'v', 0xff, 0xc3,
        ] {
            let mut mutated = valid.to_vec();
            mutated[at] = byte;
            check(&mutated);
            mutated.remove(at);
            check(&mutated);
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct AnyDirection(Direction);

impl Arbitrary for AnyDirection {
    fn arbitrary(g: &mut Gen) -> Self {
        let all = [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ];
        AnyDirection(*g.choose(&all).unwrap())
    }
}

quickcheck! {
    /// RFC 3264 §6.1: we may send only if the offerer receives, receive only if it sends,
    /// and never do what we did not want.
    fn answers_stay_within_the_offer_and_our_wish(offer: AnyDirection, wish: AnyDirection) -> bool {
        let answer = Direction::answer(offer.0, wish.0);
        (!answer.sends() || (offer.0.receives() && wish.0.sends()))
            && (!answer.receives() || (offer.0.sends() && wish.0.receives()))
    }

    fn arbitrary_bytes_never_panic(bytes: Vec<u8>) -> bool {
        let _ = SessionDescription::parse(&bytes);
        true
    }

    /// Arbitrary extra lines appended to a valid description either are refused or
    /// survive a serialize/parse round trip.
    fn appended_lines_round_trip(lines: Vec<(char, String)>) -> bool {
        let mut text = String::from(AUDIO_VIDEO);
        for (kind, value) in lines {
            text.push(kind);
            text.push('=');
            text.push_str(&value);
            text.push_str("\r\n");
        }
        match SessionDescription::parse(text.as_bytes()) {
            Ok(parsed) => SessionDescription::parse(&parsed.to_bytes()).as_ref() == Ok(&parsed),
            Err(_) => true,
        }
    }
}
