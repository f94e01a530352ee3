//! Which transaction a message belongs to (RFC 3261 §17.1.3, §17.2.3, §9.2).

use bytestring::ByteString;

use crate::message::{Method, ParseError, ParseErrorKind, Request, Response, Via};

/// Identifies a server transaction, computed from a request.
///
/// RFC 3261 §17.2.3: when the top Via's branch starts with the magic cookie, the key is the
/// branch, the sent-by and the method — with ACK folded into INVITE, so the ACK for a
/// non-2xx response finds its INVITE transaction. Otherwise (RFC 2543 peers, RFC 4475
/// §3.2.1) the key is built from Request-URI, From tag, Call-ID, CSeq number and the top
/// Via, again with ACK as INVITE; the INVITE transaction then checks the ACK's To tag
/// against the tag of the response it sent.
///
/// ```
/// use sip_core::message::Message;
/// use sip_core::transaction::ServerKey;
/// let invite = Message::parse("INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP a:5060;branch=z9hG4bK1\r\n\
///     From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n".into()).unwrap();
/// let ack = Message::parse("ACK sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP a:5060;branch=z9hG4bK1\r\n\
///     From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 ACK\r\n\r\n".into()).unwrap();
/// let key = |m: &Message| ServerKey::from_request(m.as_request().unwrap()).unwrap();
/// assert_eq!(key(&invite), key(&ack));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerKey {
    /// RFC 3261 §17.2.3 matching.
    Branch {
        /// The top Via branch.
        branch: ByteString,
        /// The top Via sent-by (`host[:port]`, lower-cased host).
        sent_by: ByteString,
        /// The method, ACK counted as INVITE.
        method: Method,
    },
    /// RFC 2543 fallback matching (RFC 3261 §17.2.3, last paragraphs).
    Legacy {
        /// The Request-URI.
        request_uri: ByteString,
        /// The From tag (may be absent in RFC 2543).
        from_tag: Option<ByteString>,
        /// Call-ID.
        call_id: ByteString,
        /// CSeq number.
        cseq: u32,
        /// The method, ACK counted as INVITE.
        method: Method,
        /// The top Via, as written.
        via: ByteString,
    },
}

/// Identifies a client transaction: the branch it put in its Via and its method
/// (RFC 3261 §17.1.3). Responses carry both (the method in CSeq).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey {
    /// The branch of the Via the client transaction added.
    pub branch: ByteString,
    /// The request method.
    pub method: Method,
}

fn missing(header: &str) -> ParseError {
    ParseError::new(ParseErrorKind::HeaderValue).in_header(header)
}

fn top_via(headers: &crate::message::Headers) -> Result<Via, ParseError> {
    headers.top_via().unwrap_or_else(|| Err(missing("Via")))
}

impl ServerKey {
    /// The key of the server transaction `request` belongs to. ACK maps to the INVITE's key.
    pub fn from_request(request: &Request) -> Result<ServerKey, ParseError> {
        let method = match request.method {
            Method::Ack => Method::Invite,
            ref other => other.clone(),
        };
        Self::with_method(request, method)
    }

    /// The key of the INVITE transaction a CANCEL cancels (RFC 3261 §9.2: same key as the
    /// CANCEL, with the method INVITE).
    pub fn cancelled_invite(cancel: &Request) -> Result<ServerKey, ParseError> {
        Self::with_method(cancel, Method::Invite)
    }

    /// [`ServerKey::from_request`] with the request's top Via already parsed.
    pub fn with_top_via(request: &Request, via: &Via) -> Result<ServerKey, ParseError> {
        let method = match request.method {
            Method::Ack => Method::Invite,
            ref other => other.clone(),
        };
        Self::build(request, via, method)
    }

    fn with_method(request: &Request, method: Method) -> Result<ServerKey, ParseError> {
        let via = top_via(&request.headers)?;
        Self::build(request, &via, method)
    }

    fn build(request: &Request, via: &Via, method: Method) -> Result<ServerKey, ParseError> {
        let headers = &request.headers;
        // The branch is read once (a walk over the Via's parameters).
        let branch = via.branch().unwrap_or_default();
        if crate::message::typed::via::is_rfc3261_branch(branch) {
            let branch = headers.share(branch);
            return Ok(ServerKey::Branch {
                sent_by: sent_by_key(headers, via),
                branch,
                method,
            });
        }
        let from = headers.from_addr().unwrap_or_else(|| Err(missing("From")))?;
        let call_id = headers.call_id().unwrap_or_else(|| Err(missing("Call-ID")))?;
        let cseq = headers.cseq().unwrap_or_else(|| Err(missing("CSeq")))?;
        Ok(ServerKey::Legacy {
            request_uri: request.uri.to_byte_string(),
            from_tag: from.tag().map(ByteString::from),
            call_id: headers.share(call_id),
            cseq: cseq.seq,
            method,
            via: ByteString::from(via.as_str()),
        })
    }
}

/// The sent-by of `via` as `host[:port]` with the host in lower case (hosts compare
/// case-insensitively). Usually that is the text as received, shared rather than copied:
/// this runs for every request.
fn sent_by_key(headers: &crate::message::Headers, via: &Via) -> ByteString {
    let text = via.as_str();
    let host = via.host_str();
    let host_start = (host.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    let written = text
        .get(host_start..)
        .map(|from_host| {
            let after_host = from_host.get(host.len()..).unwrap_or_default();
            let port_len = match after_host.strip_prefix(':') {
                Some(digits) => 1 + digits.bytes().take_while(u8::is_ascii_digit).count(),
                None => 0,
            };
            from_host.get(..host.len() + port_len).unwrap_or_default()
        })
        .unwrap_or_default();
    let canonical_port = |written: &str| match (via.port(), written.len() > host.len()) {
        // Digits as the canonical form writes them: no leading zero.
        (Some(port), true) => {
            written
                .get(host.len() + 1..)
                .filter(|digits| !digits.starts_with('0'))
                .and_then(|digits| digits.parse::<u16>().ok())
                == Some(port)
        }
        (None, false) => true,
        _ => false,
    };
    if !written.is_empty() && !host.bytes().any(|b| b.is_ascii_uppercase()) && canonical_port(written) {
        return headers.share(written);
    }
    let mut sent_by = String::with_capacity(host.len() + 6);
    sent_by.extend(host.chars().map(|c| c.to_ascii_lowercase()));
    if let Some(port) = via.port() {
        sent_by.push(':');
        crate::message::builder::push_decimal(&mut sent_by, u32::from(port));
    }
    ByteString::from(sent_by)
}

impl ClientKey {
    /// The key a response matches (RFC 3261 §17.1.3): its top Via branch and CSeq method.
    pub fn from_response(response: &Response) -> Result<ClientKey, ParseError> {
        let headers = &response.headers;
        let via = top_via(headers)?;
        let branch = via.branch().ok_or_else(|| missing("Via"))?;
        let cseq = headers.cseq().unwrap_or_else(|| Err(missing("CSeq")))?;
        Ok(ClientKey {
            branch: headers.share(branch),
            method: cseq.method,
        })
    }

    /// The key of a request this endpoint sends (its top Via must carry the branch).
    pub fn from_request(request: &Request) -> Result<ClientKey, ParseError> {
        let via = top_via(&request.headers)?;
        let branch = via.branch().ok_or_else(|| missing("Via"))?;
        // A copy: the key outlives the request, and sharing would keep its whole Via alive.
        Ok(ClientKey {
            branch: ByteString::from(branch),
            method: request.method.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn key_of(via: &str) -> ServerKey {
        let text = format!(
            "OPTIONS sip:b@h SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\n\
             Call-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n"
        );
        let message = Message::parse(text.into()).unwrap();
        ServerKey::from_request(message.as_request().unwrap()).unwrap()
    }

    #[test]
    fn sent_by_compares_hosts_without_case_and_ports_by_value() {
        let plain = key_of("SIP/2.0/UDP host.example.com:5060;branch=z9hG4bK1");
        assert_eq!(plain, key_of("SIP/2.0/UDP HOST.Example.com:5060;branch=z9hG4bK1"));
        assert_eq!(
            plain,
            key_of("SIP/2.0/UDP host.example.com : 5060;branch=z9hG4bK1")
        );
        assert_eq!(
            plain,
            key_of("SIP/2.0/UDP host.example.com:05060;branch=z9hG4bK1")
        );
        assert_ne!(plain, key_of("SIP/2.0/UDP host.example.com;branch=z9hG4bK1"));
        assert_ne!(plain, key_of("SIP/2.0/UDP host.example.com:5061;branch=z9hG4bK1"));
        let ServerKey::Branch { sent_by, .. } = plain else {
            panic!("a magic-cookie branch makes a Branch key")
        };
        assert_eq!(&*sent_by, "host.example.com:5060");
    }
}
