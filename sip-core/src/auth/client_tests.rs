//! Tests of the digest client.

use super::client::{DigestClient, DigestError, replace_authorizations};
use super::digest::{DigestInput, QopParams};
use crate::message::{
    Credentials, DigestAlgorithm, HeaderName, Method, Qop, Request, RequestBuilder, Response, StatusCode,
    Uri, response_to,
};

/// A deterministic random source: SplitMix64 from `seed`.
pub(super) fn random(seed: u64) -> impl FnMut() -> u64 {
    let mut rng = crate::rng::Rng::new(seed);
    move || rng.next_u64()
}

pub(super) fn request(method: Method, uri: &str) -> Request {
    RequestBuilder::new(method, Uri::parse(uri).unwrap())
        .via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1")
        .from("<sip:alice@example.com>;tag=1")
        .to("<sip:bob@example.com>")
        .call_id("call-1@192.0.2.1")
        .cseq(1)
        .build()
        .unwrap()
}

/// A 401 (or, with `proxy`, a 407) to `request` carrying `challenges`.
pub(super) fn challenged(request: &Request, proxy: bool, challenges: &[&str]) -> Response {
    let (status, header) = if proxy {
        (
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            HeaderName::ProxyAuthenticate,
        )
    } else {
        (StatusCode::UNAUTHORIZED, HeaderName::WwwAuthenticate)
    };
    let mut response = response_to(request, status, None, Some("t1"));
    for challenge in challenges {
        response.headers.push(header, *challenge);
    }
    response
}

fn client() -> DigestClient {
    let mut client = DigestClient::new();
    client.add_credentials("example.com", "alice", "secret");
    client
}

/// The response the credentials should carry, recomputed from their own parameters.
fn expected_response(c: &Credentials, password: &str, method: &str, body: &[u8]) -> String {
    DigestInput {
        algorithm: c.algorithm().unwrap(),
        username: c.username(),
        realm: c.realm(),
        password,
        nonce: c.nonce(),
        method,
        uri: c.uri(),
        body,
        qop: c.qop().map(|qop| QopParams {
            qop,
            nc: c.nc().unwrap(),
            cnonce: c.cnonce().unwrap(),
        }),
    }
    .response()
}

#[test]
fn answers_a_401_with_authorization() {
    let invite = request(Method::Invite, "sip:bob@example.com");
    let response = challenged(
        &invite,
        false,
        &[r#"Digest realm="example.com", nonce="n1", opaque="op", qop="auth", algorithm=SHA-256"#],
    );
    let answer = client().authorize(&invite, &response, &mut random(1)).unwrap();
    assert_eq!(answer.len(), 1);
    let a = &answer[0];
    assert_eq!((a.header, a.realm()), (HeaderName::Authorization, "example.com"));
    let c = &a.credentials;
    assert_eq!(
        (c.username(), c.nonce(), c.uri()),
        ("alice", "n1", "sip:bob@example.com")
    );
    assert_eq!(
        (c.algorithm(), c.qop(), c.nc()),
        (Some(DigestAlgorithm::Sha256), Some(Qop::Auth), Some(1))
    );
    assert_eq!(c.opaque(), Some("op"));
    assert_eq!(c.cnonce().unwrap().len(), 32);
    assert_eq!(c.response(), expected_response(c, "secret", "INVITE", b""));
}

#[test]
fn answers_a_407_with_proxy_authorization() {
    let invite = request(Method::Invite, "sip:bob@example.com");
    let response = challenged(
        &invite,
        true,
        &[r#"Digest realm="example.com", nonce="p1", qop="auth""#],
    );
    let answer = client().authorize(&invite, &response, &mut random(1)).unwrap();
    assert_eq!(answer[0].header, HeaderName::ProxyAuthorization);
}

#[test]
fn picks_the_strongest_algorithm_of_a_realm() {
    let register = request(Method::Register, "sip:example.com");
    let md5 = r#"Digest realm="example.com", nonce="a", qop="auth", algorithm=MD5"#;
    let sha256 = r#"Digest realm="example.com", nonce="b", qop="auth", algorithm=SHA-256"#;
    let sha512 = r#"Digest realm="example.com", nonce="c", qop="auth", algorithm=SHA-512-256"#;
    let sha1 = r#"Digest realm="example.com", nonce="d", qop="auth", algorithm=SHA-1"#;
    for (offered, algorithm) in [
        (vec![md5, sha256, sha512], DigestAlgorithm::Sha512_256),
        (vec![sha512, md5, sha256], DigestAlgorithm::Sha512_256),
        (vec![md5, sha256], DigestAlgorithm::Sha256),
        (vec![sha1, md5], DigestAlgorithm::Md5),
    ] {
        let response = challenged(&register, false, &offered);
        let answer = client().authorize(&register, &response, &mut random(1)).unwrap();
        assert_eq!(answer.len(), 1, "{offered:?}");
        assert_eq!(answer[0].credentials.algorithm(), Some(algorithm), "{offered:?}");
    }
    // Equal strength: the first offered.
    let sess = r#"Digest realm="example.com", nonce="e", qop="auth", algorithm=SHA-256-sess"#;
    let response = challenged(&register, false, &[sess, sha256]);
    let answer = client().authorize(&register, &response, &mut random(1)).unwrap();
    assert_eq!(answer[0].credentials.nonce(), "e");
    assert_eq!(
        answer[0].credentials.algorithm(),
        Some(DigestAlgorithm::Sha256Sess)
    );
}

#[test]
fn prefers_auth_and_uses_auth_int_only_when_alone() {
    let mut message = request(Method::Message, "sip:bob@example.com");
    message.set_body(bytes::Bytes::from_static(b"hello"), Some("text/plain"));
    for (qop, expected) in [
        ("auth-int,auth", Qop::Auth),
        ("auth, auth-int", Qop::Auth),
        ("auth-int", Qop::AuthInt),
        ("auth-conf, auth-int", Qop::AuthInt),
    ] {
        let challenge = format!(r#"Digest realm="example.com", nonce="n", qop="{qop}""#);
        let response = challenged(&message, false, &[&challenge]);
        let answer = client().authorize(&message, &response, &mut random(1)).unwrap();
        let c = &answer[0].credentials;
        assert_eq!(c.qop(), Some(expected), "{qop}");
        assert_eq!(c.response(), expected_response(c, "secret", "MESSAGE", b"hello"));
    }
}

#[test]
fn rfc2069_challenges_get_rfc2069_credentials() {
    let register = request(Method::Register, "sip:example.com");
    let response = challenged(&register, false, &[r#"Digest realm="example.com", nonce="old""#]);
    let mut client = client();
    let answer = client.authorize(&register, &response, &mut random(1)).unwrap();
    let c = &answer[0].credentials;
    assert_eq!(
        (c.qop_str(), c.nc(), c.cnonce(), c.algorithm_str()),
        (None, None, None, None)
    );
    assert_eq!(c.response(), expected_response(c, "secret", "REGISTER", b""));
    // Pre-authorization repeats the same credentials: RFC 2069 has no nonce count.
    assert_eq!(client.preauthorize(&register)[0].credentials, *c);
}

#[test]
fn skips_what_it_cannot_answer() {
    let register = request(Method::Register, "sip:example.com");
    let cases: [(&[&str], DigestError); 5] = [
        (&[], DigestError::NoChallenge),
        (
            &["Basic realm=\"example.com\"", "Digest nonce=\"no-realm\""],
            DigestError::NoChallenge,
        ),
        (
            &[
                r#"Digest realm="example.com", nonce="n", algorithm=SHA-1"#,
                r#"Digest realm="example.com", nonce="n", qop="auth-conf""#,
                // -sess needs a cnonce, which only a qop carries (RFC 2617 §3.2.2.2).
                r#"Digest realm="example.com", nonce="n", algorithm=MD5-sess"#,
            ],
            DigestError::Unsupported,
        ),
        (
            &[r#"Digest realm="elsewhere.org", nonce="n""#],
            DigestError::NoCredentials {
                realms: vec!["elsewhere.org".into()],
            },
        ),
        (
            &[
                r#"Digest realm="a.org", nonce="n""#,
                r#"Digest realm="b.org", nonce="n", algorithm=SHA-1"#,
                r#"Digest realm="c.org", nonce="n""#,
            ],
            DigestError::NoCredentials {
                realms: vec!["a.org".into(), "c.org".into()],
            },
        ),
    ];
    for (challenges, error) in cases {
        let response = challenged(&register, false, challenges);
        assert_eq!(
            client().authorize(&register, &response, &mut random(1)),
            Err(error),
            "{challenges:?}"
        );
    }
}

#[test]
fn answers_only_the_realms_it_has_credentials_for() {
    let invite = request(Method::Invite, "sip:bob@example.com");
    let response = challenged(
        &invite,
        true,
        &[
            r#"Digest realm="other.org", nonce="x", qop="auth""#,
            r#"Digest realm="example.com", nonce="y", qop="auth""#,
        ],
    );
    let answer = client().authorize(&invite, &response, &mut random(1)).unwrap();
    let realms: Vec<_> = answer.iter().map(|a| a.realm()).collect();
    assert_eq!(realms, ["example.com"]);
    // Default credentials answer any realm.
    let mut client = client();
    client.set_default_credentials("anyone", "pw");
    let answer = client.authorize(&invite, &response, &mut random(1)).unwrap();
    let users: Vec<_> = answer.iter().map(|a| a.credentials.username()).collect();
    assert_eq!(users, ["anyone", "alice"]);
}

#[test]
fn nonce_count_increments_per_nonce_and_restarts_with_a_new_one() {
    let mut register = request(Method::Register, "sip:example.com");
    let first = challenged(
        &register,
        false,
        &[r#"Digest realm="example.com", nonce="n1", qop="auth""#],
    );
    let mut client = client();
    let mut rng = random(9);
    let answer = client.authorize(&register, &first, &mut rng).unwrap();
    let cnonce = answer[0].credentials.cnonce().unwrap().to_owned();
    assert_eq!(answer[0].credentials.nc(), Some(1));
    replace_authorizations(&mut register.headers, &answer);
    for nc in 2..=4 {
        let again = client.preauthorize(&register);
        assert_eq!(again.len(), 1);
        let c = &again[0].credentials;
        assert_eq!(c.nc(), Some(nc));
        // The cnonce stays with the nonce (RFC 2617 §3.2.2.2 for -sess).
        assert_eq!(c.cnonce(), Some(cnonce.as_str()));
        assert!(c.as_str().contains(&format!("nc={nc:08x}")));
        assert_eq!(c.response(), expected_response(c, "secret", "REGISTER", b""));
    }
    // A new request without credentials is challenged with a new nonce: the count
    // starts again, with a new cnonce.
    let fresh = request(Method::Register, "sip:example.com");
    let second = challenged(
        &fresh,
        false,
        &[r#"Digest realm="example.com", nonce="n2", qop="auth""#],
    );
    let answer = client.authorize(&fresh, &second, &mut rng).unwrap();
    let c = &answer[0].credentials;
    assert_eq!((c.nonce(), c.nc()), ("n2", Some(1)));
    assert_ne!(c.cnonce(), Some(cnonce.as_str()));
}

#[test]
fn the_same_nonce_challenged_again_means_a_wrong_password() {
    let mut register = request(Method::Register, "sip:example.com");
    let challenge = challenged(
        &register,
        false,
        &[r#"Digest realm="example.com", nonce="n1", qop="auth""#],
    );
    let mut client = client();
    let answer = client.authorize(&register, &challenge, &mut random(1)).unwrap();
    replace_authorizations(&mut register.headers, &answer);
    assert_eq!(
        client.authorize(&register, &challenge, &mut random(2)),
        Err(DigestError::Rejected {
            realm: "example.com".into()
        })
    );
    // The realm is forgotten: nothing is pre-authorized with the refused password.
    assert_eq!(client.realms().count(), 0);
    assert!(client.preauthorize(&register).is_empty());
    // Even without the credentials on the request, a nonce already answered is refused.
    let bare = request(Method::Register, "sip:example.com");
    let mut client = self::client();
    client.authorize(&bare, &challenge, &mut random(1)).unwrap();
    assert!(matches!(
        client.authorize(&bare, &challenge, &mut random(1)),
        Err(DigestError::Rejected { .. })
    ));
}

#[test]
fn a_new_nonce_without_stale_after_our_answer_means_a_wrong_password() {
    // Servers that make a new nonce for every 401 (most do) are caught too.
    let mut register = request(Method::Register, "sip:example.com");
    let mut client = client();
    let first = challenged(
        &register,
        false,
        &[r#"Digest realm="example.com", nonce="n1", qop="auth""#],
    );
    let answer = client.authorize(&register, &first, &mut random(1)).unwrap();
    replace_authorizations(&mut register.headers, &answer);
    let second = challenged(
        &register,
        false,
        &[r#"Digest realm="example.com", nonce="n2", qop="auth""#],
    );
    assert!(matches!(
        client.authorize(&register, &second, &mut random(1)),
        Err(DigestError::Rejected { .. })
    ));
}

#[test]
fn a_challenge_to_preauthorized_credentials_gets_one_fresh_answer() {
    let mut register = request(Method::Register, "sip:example.com");
    let mut client = client();
    let first = challenged(
        &register,
        false,
        &[r#"Digest realm="example.com", nonce="n1", qop="auth""#],
    );
    client.authorize(&register, &first, &mut random(1)).unwrap();
    // A later request goes pre-authorized; the server forgot n1 but says nothing of stale.
    let preauthorized = client.preauthorize(&register);
    replace_authorizations(&mut register.headers, &preauthorized);
    let second = challenged(
        &register,
        false,
        &[r#"Digest realm="example.com", nonce="n2", qop="auth""#],
    );
    let answer = client.authorize(&register, &second, &mut random(1)).unwrap();
    assert_eq!(
        (answer[0].credentials.nonce(), answer[0].credentials.nc()),
        ("n2", Some(1))
    );
    // That answer challenged again: now the password is wrong.
    replace_authorizations(&mut register.headers, &answer);
    let third = challenged(
        &register,
        false,
        &[r#"Digest realm="example.com", nonce="n3", qop="auth""#],
    );
    assert!(matches!(
        client.authorize(&register, &third, &mut random(1)),
        Err(DigestError::Rejected { .. })
    ));
}

#[test]
fn stale_nonces_are_answered_silently_but_not_forever() {
    let mut register = request(Method::Register, "sip:example.com");
    let mut client = client();
    let first = challenged(
        &register,
        false,
        &[r#"Digest realm="example.com", nonce="n1", qop="auth""#],
    );
    let answer = client.authorize(&register, &first, &mut random(1)).unwrap();
    replace_authorizations(&mut register.headers, &answer);
    for (nonce, expected) in [("n2", Ok(())), ("n3", Ok(())), ("n4", Err(()))] {
        let stale = format!(r#"Digest realm="example.com", nonce="{nonce}", qop="auth", stale=true"#);
        let response = challenged(&register, false, &[&stale]);
        match client.authorize(&register, &response, &mut random(1)) {
            Ok(answer) => {
                assert_eq!(expected, Ok(()), "{nonce}");
                assert_eq!(answer[0].credentials.nonce(), nonce);
                assert_eq!(answer[0].credentials.nc(), Some(1));
                replace_authorizations(&mut register.headers, &answer);
            }
            Err(error) => {
                assert_eq!(expected, Err(()), "{nonce}");
                assert_eq!(
                    error,
                    DigestError::StaleLoop {
                        realm: "example.com".into()
                    }
                );
            }
        }
    }
}

#[test]
fn stale_runs_end_with_a_preauthorization() {
    let mut register = request(Method::Register, "sip:example.com");
    let mut client = client();
    let first = challenged(
        &register,
        false,
        &[r#"Digest realm="example.com", nonce="n0", qop="auth""#],
    );
    client.authorize(&register, &first, &mut random(1)).unwrap();
    // Every later request is pre-authorized and finds its nonce expired: each is retried.
    for round in 1..=5 {
        let preauthorized = client.preauthorize(&register);
        replace_authorizations(&mut register.headers, &preauthorized);
        let stale = format!(r#"Digest realm="example.com", nonce="n{round}", qop="auth", stale=TRUE"#);
        let response = challenged(&register, false, &[&stale]);
        let answer = client.authorize(&register, &response, &mut random(1)).unwrap();
        assert_eq!(answer[0].credentials.nonce(), format!("n{round}"));
    }
}

#[test]
fn stale_for_the_nonce_just_given_is_a_loop() {
    let mut register = request(Method::Register, "sip:example.com");
    let mut client = client();
    let stale = r#"Digest realm="example.com", nonce="n1", qop="auth", stale=true"#;
    let response = challenged(&register, false, &[stale]);
    let answer = client.authorize(&register, &response, &mut random(1)).unwrap();
    replace_authorizations(&mut register.headers, &answer);
    assert!(matches!(
        client.authorize(&register, &response, &mut random(1)),
        Err(DigestError::StaleLoop { .. })
    ));
}

#[test]
fn a_retry_renews_the_credentials_of_realms_not_challenged_again() {
    // RFC 3261 §22.3: a 407 from the proxy, then a 401 from the registrar; the second
    // retry carries both, the proxy's with its next nonce count.
    let mut register = request(Method::Register, "sip:example.com");
    let mut client = client();
    client.add_credentials("proxy.net", "alice-p", "proxy-secret");
    let proxy = challenged(
        &register,
        true,
        &[r#"Digest realm="proxy.net", nonce="p1", qop="auth""#],
    );
    let answer = client.authorize(&register, &proxy, &mut random(1)).unwrap();
    replace_authorizations(&mut register.headers, &answer);

    let registrar = challenged(
        &register,
        false,
        &[r#"Digest realm="example.com", nonce="r1", qop="auth""#],
    );
    let answer = client.authorize(&register, &registrar, &mut random(2)).unwrap();
    let summary: Vec<_> = answer
        .iter()
        .map(|a| (a.header, a.realm(), a.credentials.nc()))
        .collect();
    assert_eq!(
        summary,
        [
            (HeaderName::Authorization, "example.com", Some(1)),
            (HeaderName::ProxyAuthorization, "proxy.net", Some(2)),
        ]
    );
    replace_authorizations(&mut register.headers, &answer);
    assert_eq!(register.headers.authorization().count(), 1);
    assert_eq!(register.headers.proxy_authorization().count(), 1);

    // Later requests are pre-authorized for both realms.
    let next = client.preauthorize(&request(Method::Register, "sip:example.com"));
    let summary: Vec<_> = next.iter().map(|a| (a.realm(), a.credentials.nc())).collect();
    assert_eq!(summary, [("proxy.net", Some(3)), ("example.com", Some(2))]);
}

#[test]
fn credentials_of_unknown_realms_are_carried_as_they_are() {
    let mut invite = request(Method::Invite, "sip:bob@example.com");
    let foreign =
        "Digest username=\"x\", realm=\"foreign\", nonce=\"f\", uri=\"sip:bob@example.com\", response=\"00\"";
    invite.headers.push(HeaderName::ProxyAuthorization, foreign);
    let response = challenged(
        &invite,
        false,
        &[r#"Digest realm="example.com", nonce="n", qop="auth""#],
    );
    let answer = client().authorize(&invite, &response, &mut random(1)).unwrap();
    assert_eq!(answer.len(), 2);
    assert_eq!(answer[1].header, HeaderName::ProxyAuthorization);
    assert_eq!(answer[1].credentials.as_str(), foreign);
}

#[test]
fn memory_is_bounded_oldest_realm_first() {
    let register = request(Method::Register, "sip:example.com");
    let mut client = DigestClient::with_capacity(2);
    client.set_default_credentials("alice", "secret");
    for realm in ["a", "b", "c"] {
        let challenge = format!(r#"Digest realm="{realm}", nonce="n", qop="auth""#);
        let response = challenged(&register, false, &[&challenge]);
        client.authorize(&register, &response, &mut random(1)).unwrap();
    }
    assert_eq!(client.realms().collect::<Vec<_>>(), ["b", "c"]);
    client.forget("b");
    assert_eq!(client.realms().collect::<Vec<_>>(), ["c"]);
}

#[test]
fn the_same_inputs_give_the_same_credentials() {
    let register = request(Method::Register, "sip:example.com");
    let response = challenged(
        &register,
        false,
        &[r#"Digest realm="example.com", nonce="n", qop="auth""#],
    );
    let a = client().authorize(&register, &response, &mut random(5)).unwrap();
    let b = client().authorize(&register, &response, &mut random(5)).unwrap();
    let c = client().authorize(&register, &response, &mut random(6)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn unwritable_credentials_are_an_error() {
    let register = request(Method::Register, "sip:example.com");
    let response = challenged(
        &register,
        false,
        &[r#"Digest realm="example.com", nonce="n", qop="auth""#],
    );
    let mut client = DigestClient::new();
    client.add_credentials("example.com", "al\r\nice", "secret");
    assert!(matches!(
        client.authorize(&register, &response, &mut random(1)),
        Err(DigestError::Unwritable { .. })
    ));
}

#[test]
fn replace_authorizations_removes_the_old_ones() {
    let mut invite = request(Method::Invite, "sip:bob@example.com");
    invite.headers.push(HeaderName::Authorization, "Digest old");
    invite.headers.push(HeaderName::ProxyAuthorization, "Digest old");
    let response = challenged(
        &invite,
        false,
        &[r#"Digest realm="example.com", nonce="n", qop="auth""#],
    );
    let answer = client().authorize(&invite, &response, &mut random(1)).unwrap();
    replace_authorizations(&mut invite.headers, &answer);
    assert_eq!(invite.headers.count(HeaderName::Authorization), 1);
    assert_eq!(invite.headers.count(HeaderName::ProxyAuthorization), 0);
    let reparsed = crate::message::Message::parse(invite.to_bytes()).unwrap();
    let c = reparsed.headers().authorization().next().unwrap().unwrap();
    assert_eq!(c, answer[0].credentials);
}

#[test]
fn a_nonce_offered_again_to_a_bare_request_is_counted_on() {
    // Some servers keep one nonce for a while and offer it in every challenge: after a
    // pre-authorization, a request sent without credentials meets the same nonce again.
    let register = request(Method::Register, "sip:example.com");
    let challenge = challenged(
        &register,
        false,
        &[r#"Digest realm="example.com", nonce="n1", qop="auth""#],
    );
    let mut client = client();
    let first = client.authorize(&register, &challenge, &mut random(1)).unwrap();
    assert_eq!(client.preauthorize(&register)[0].credentials.nc(), Some(2));
    let again = client.authorize(&register, &challenge, &mut random(2)).unwrap();
    let c = &again[0].credentials;
    assert_eq!((c.nonce(), c.nc()), ("n1", Some(3)));
    assert_eq!(c.cnonce(), first[0].credentials.cnonce());
    // That answer was direct: the same nonce once more means the password is wrong.
    assert!(matches!(
        client.authorize(&register, &challenge, &mut random(3)),
        Err(DigestError::Rejected { .. })
    ));
}

#[test]
fn stale_for_a_nonce_already_used_is_a_loop() {
    let register = request(Method::Register, "sip:example.com");
    let mut client = client();
    let fresh = challenged(
        &register,
        false,
        &[r#"Digest realm="example.com", nonce="n1", qop="auth""#],
    );
    client.authorize(&register, &fresh, &mut random(1)).unwrap();
    let stale = challenged(
        &register,
        false,
        &[r#"Digest realm="example.com", nonce="n1", qop="auth", stale=true"#],
    );
    assert!(matches!(
        client.authorize(&register, &stale, &mut random(1)),
        Err(DigestError::StaleLoop { .. })
    ));
}
