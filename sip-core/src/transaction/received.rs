//! What the transport rules of RFC 3261 §18 say about a request received: where it really
//! came from (its top Via's `received` and `rport`, RFC 3581) and so where responses go
//! (§18.2.2).

use std::net::{IpAddr, SocketAddr};

use bytestring::ByteString;

use crate::message::builder::push_decimal;
use crate::message::{HeaderName, Host, Request, Via};

/// RFC 3261 §18.2.1 and RFC 3581 §4: note where the request really came from in its top
/// Via (`received` when the sent-by host differs; `rport` filled in when asked), and work
/// out where responses go (§18.2.2, RFC 3581 §4).
pub(crate) fn mark_received(request: &mut Request, via: &Via, source: SocketAddr) -> SocketAddr {
    let sent_by_ip = match via.host() {
        Host::Ipv4(address) => Some(IpAddr::V4(address)),
        Host::Ipv6(address) => Some(IpAddr::V6(address)),
        Host::Domain(_) => None,
    };
    // One pass over the parameters for both (this runs for every request received).
    let (mut rport, mut received) = (None, None);
    // Where the first `rport` name ends in the Via text: a bare one gets its value there.
    let mut rport_end = 0;
    let text = via.as_str();
    for (name, value) in via.params().iter() {
        if rport.is_none() && name.eq_ignore_ascii_case("rport") {
            rport = Some(value);
            rport_end = (name.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize) + name.len();
        } else if received.is_none() && name.eq_ignore_ascii_case("received") {
            received = Some(value);
        }
    }
    let wants_rport = rport == Some(None);
    let needs_received = sent_by_ip != Some(source.ip()) || wants_rport;
    let reply_to = if wants_rport {
        source
    } else {
        SocketAddr::new(source.ip(), via.port().unwrap_or(5060))
    };
    if needs_received || wants_rport {
        let mut value = String::with_capacity(via.as_str().len() + 40);
        match (wants_rport, text.get(..rport_end), text.get(rport_end..)) {
            // The bare `rport` becomes `rport=<port>`.
            (true, Some(head), Some(tail)) => {
                value.push_str(head);
                value.push('=');
                push_decimal(&mut value, u32::from(source.port()));
                value.push_str(tail);
            }
            _ => value.push_str(text),
        }
        if needs_received && received.flatten().is_none() {
            value.push_str(";received=");
            push_ip(&mut value, source.ip());
        }
        request
            .headers
            .replace_first_value(HeaderName::Via, ByteString::from(value));
    }
    reply_to
}

/// Appends `ip` as text (IPv4 without going through `fmt`, which costs more than the rest of
/// the Via rewrite).
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, u32::from(octet));
            }
        }
        IpAddr::V6(v6) => out.push_str(&v6.to_string()),
    }
}
