//! The stateless 400 for bytes that did not parse as a message (RFC 3261 §8.2, DESIGN "Bad
//! input"), built so that it can never be turned against anyone: it goes only where a
//! usable top Via says the request came from, it copies one line of each header it needs,
//! and it is never larger than what it answers — otherwise nothing is sent.

use bytes::Bytes;

use super::grammar::split_top_level;
use super::name::HeaderName;
use super::typed::via::Via;
use super::validate::DropReason;

/// Copied values and the Warning text are cut to this many bytes.
const MAX_COPIED: usize = 256;

/// The headers a 400 copies (§8.2.6.2), as they are spelled in it.
const COPIED: [(HeaderName, &str); 5] = [
    (HeaderName::Via, "Via"),
    (HeaderName::From, "From"),
    (HeaderName::To, "To"),
    (HeaderName::CallId, "Call-ID"),
    (HeaderName::CSeq, "CSeq"),
];

/// The stateless 400 answering `payload` (bytes that did not parse) with a Warning naming
/// `problem`, or why nothing may be sent: the bytes look like a response, carry no top Via
/// that parses (so there is no one to answer), or the answer would be larger than the
/// request (a reflection amplifier).
pub(crate) fn bad_request(payload: &[u8], problem: &str, agent: &str) -> Result<Bytes, DropReason> {
    let drop = |reason: &str| Err(DropReason(reason.to_owned()));
    let text = String::from_utf8_lossy(payload);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let Some(first) = lines.next() else {
        return drop("empty");
    };
    if first.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("SIP/")) {
        return drop("a response that did not parse");
    }
    // The first line of each wanted header, and of Via only its first value.
    let mut found: [Option<&str>; 5] = [None; 5];
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = HeaderName::parse(name.trim());
        if let Some(slot) = COPIED.iter().position(|(wanted, _)| *wanted == name) {
            if let Some(entry) = found.get_mut(slot) {
                entry.get_or_insert(value.trim());
            }
        }
    }
    let [via, ..] = found;
    let Some(top_via) = via.and_then(|line| split_top_level(line, b',').next()) else {
        return drop("no Via");
    };
    let top_via = top_via.trim();
    if Via::parse(top_via).is_err() {
        return drop("no usable Via");
    }
    let mut out = String::with_capacity(payload.len());
    out.push_str("SIP/2.0 400 Bad Request\r\n");
    for ((_, spelled), value) in COPIED.iter().zip(found) {
        let value = if *spelled == "Via" { Some(top_via) } else { value };
        let Some(value) = value.filter(|v| v.len() <= MAX_COPIED && !v.contains(['\r', '\n'])) else {
            continue;
        };
        out.push_str(spelled);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    const END: &str = "Content-Length: 0\r\n\r\n";
    // The Warning says what was wrong (§21.4.1), in what room the request leaves: the
    // problem is cut to fit, and left out when not even its frame fits.
    let frame = "Warning: 399  \"\"\r\n".len() + agent.len();
    let room = payload
        .len()
        .saturating_sub(out.len() + END.len() + frame)
        .min(MAX_COPIED);
    if out.len() + END.len() + frame <= payload.len() {
        let problem = problem.replace(['"', '\\', '\r', '\n'], "'");
        let mut cut = problem.len().min(room);
        while !problem.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str("Warning: 399 ");
        out.push_str(agent);
        out.push_str(" \"");
        out.push_str(problem.get(..cut).unwrap_or_default());
        out.push_str("\"\r\n");
    }
    out.push_str(END);
    if out.len() > payload.len() {
        return drop("the answer would be larger than the request");
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_without_a_usable_via_gets_no_answer() {
        assert!(bad_request(b"X\nv:a\n\n", "bad", "us").is_err());
        assert!(bad_request(b"\x00\x01\x02garbage", "bad", "us").is_err());
    }

    #[test]
    fn the_answer_is_never_larger_than_the_request() {
        let small = b"FOO sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n";
        assert!(bad_request(small, "a problem the request is too short to pay for", "agent").is_err());
        // Room for the copied headers but not for the whole Warning: it is cut to fit.
        let tight = b"FOO sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>;tag=1\r\n\
            Call-ID: x\r\nMax-Forwards: 70\r\nUser-Agent: a phone\r\nContent-Length: x\r\n\r\n";
        let answer = bad_request(tight, "a long description of what went wrong", "agent").unwrap();
        assert!(answer.len() <= tight.len(), "{answer:?}");
        assert!(String::from_utf8_lossy(&answer).contains("Warning: 399 agent \"a long"));
        let vias = "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n".repeat(500);
        let big = format!(
            "FOO sip:a@b SIP/2.0\r\n{vias}From: <sip:a@b>;tag=1\r\nCall-ID: x\r\nCSeq: 1 FOO\r\nTo: <sip:b@b>\r\nBroken\r\n\r\n"
        );
        let answer = bad_request(big.as_bytes(), "bad", "us").unwrap();
        assert!(answer.len() < big.len());
        assert_eq!(
            String::from_utf8_lossy(&answer).matches("Via:").count(),
            1,
            "only the top Via"
        );
    }
}
