//! Tests of the digest verifier, alone and against the client.

use std::time::{Duration, Instant};

use quickcheck::quickcheck;

use super::client::{DigestClient, replace_authorizations};
use super::client_tests::{challenged, random, request};
use super::server::{DigestVerifier, Verdict, VerifierConfig};
use crate::message::{Challenge, Credentials, DigestAlgorithm, Method, Qop, Request};

const REALM: &str = "example.com";

fn passwords(user: &str, realm: &str) -> Option<&'static str> {
    match (user, realm) {
        ("alice", REALM) => Some("secret"),
        ("bob", REALM) => Some("hunter2"),
        _ => None,
    }
}

fn verifier(start: Instant, config: VerifierConfig) -> DigestVerifier {
    DigestVerifier::new(start, config, &mut random(42))
}

/// The credentials `client` sends for `request` after `challenges`.
fn answer(client: &mut DigestClient, request: &Request, challenges: &[Challenge]) -> Credentials {
    let texts: Vec<&str> = challenges.iter().map(Challenge::as_str).collect();
    let response = challenged(request, false, &texts);
    let answer = client.authorize(request, &response, &mut random(7)).unwrap();
    answer[0].credentials.clone()
}

fn client(user: &str, password: &str) -> DigestClient {
    let mut client = DigestClient::new();
    client.add_credentials(REALM, user, password);
    client
}

#[test]
fn accepts_the_right_password_and_refuses_a_wrong_one() {
    let start = Instant::now();
    let mut v = verifier(start, VerifierConfig::default());
    let register = request(Method::Register, "sip:example.com");
    let challenges = v.challenges(start, REALM, false).unwrap();

    let good = answer(&mut client("alice", "secret"), &register, &challenges);
    assert_eq!(
        v.verify(start, &good, &Method::Register, b"", passwords),
        Verdict::Ok
    );

    let wrong = answer(&mut client("bob", "not-hunter2"), &register, &challenges);
    assert_eq!(
        v.verify(start, &wrong, &Method::Register, b"", passwords),
        Verdict::Wrong
    );

    let unknown = answer(&mut client("mallory", "secret"), &register, &challenges);
    assert_eq!(
        v.verify(start, &unknown, &Method::Register, b"", passwords),
        Verdict::Wrong
    );

    // The right response for another method is wrong for this one.
    assert_eq!(
        v.verify(start, &good, &Method::Invite, b"", passwords),
        Verdict::Wrong
    );
}

#[test]
fn the_rfc7616_response_checks_out_but_its_nonce_is_not_ours() {
    // RFC 7616 §3.9.1: the response is right for "Circle of Life", so the verifier gets as
    // far as the nonce, which it did not issue: stale, as for a nonce from before a restart.
    let credentials = Credentials::parse(
        "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
         algorithm=MD5, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
         cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
         response=\"8ca523f5e9506fed4657c9700eebdbec\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
    )
    .unwrap();
    let start = Instant::now();
    let mut v = verifier(start, VerifierConfig::default());
    let get = Method::parse("GET").unwrap();
    assert_eq!(
        v.verify(start, &credentials, &get, b"", |_: &str, _: &str| Some(
            "Circle of Life"
        )),
        Verdict::Stale
    );
    assert_eq!(
        v.verify(start, &credentials, &get, b"", |_: &str, _: &str| Some(
            "Circle of life"
        )),
        Verdict::Wrong
    );
}

#[test]
fn expired_nonces_are_stale_and_the_client_retries_silently() {
    let start = Instant::now();
    let mut v = verifier(start, VerifierConfig::default());
    let mut alice = client("alice", "secret");
    let mut register = request(Method::Register, "sip:example.com");
    let challenges = v.challenges(start, REALM, false).unwrap();
    let first = answer(&mut alice, &register, &challenges);
    assert_eq!(
        v.verify(start, &first, &Method::Register, b"", passwords),
        Verdict::Ok
    );

    // Within the lifetime, pre-authorized requests pass.
    let at_300 = start + Duration::from_secs(300);
    let next = alice.preauthorize(&register);
    assert_eq!(
        v.verify(at_300, &next[0].credentials, &Method::Register, b"", passwords),
        Verdict::Ok
    );

    // Past it: stale, even though the response is right…
    let at_301 = start + Duration::from_secs(301);
    let late = alice.preauthorize(&register);
    assert_eq!(
        v.verify(at_301, &late[0].credentials, &Method::Register, b"", passwords),
        Verdict::Stale
    );
    // …but a wrong password past it is wrong, not stale.
    let mut mallory = client("alice", "guess");
    let guessed = answer(&mut mallory, &register, &challenges);
    assert_eq!(
        v.verify(at_301, &guessed, &Method::Register, b"", passwords),
        Verdict::Wrong
    );

    // The re-challenge says stale=true; the client answers it without complaint.
    replace_authorizations(&mut register.headers, &late);
    let stale = v.challenge(at_301, REALM, true).unwrap();
    assert!(stale.stale());
    let texts = [stale.as_str()];
    let response = challenged(&register, false, &texts);
    let retry = alice.authorize(&register, &response, &mut random(3)).unwrap();
    assert_eq!(
        v.verify(at_301, &retry[0].credentials, &Method::Register, b"", passwords),
        Verdict::Ok
    );
}

#[test]
fn nonce_counts_must_increase() {
    let start = Instant::now();
    let mut v = verifier(start, VerifierConfig::default());
    let mut alice = client("alice", "secret");
    let register = request(Method::Register, "sip:example.com");
    let challenges = v.challenges(start, REALM, false).unwrap();
    let nc1 = answer(&mut alice, &register, &challenges);
    let nc2 = alice.preauthorize(&register).remove(0).credentials;
    let nc3 = alice.preauthorize(&register).remove(0).credentials;
    let verify =
        |v: &mut DigestVerifier, c: &Credentials| v.verify(start, c, &Method::Register, b"", passwords);
    assert_eq!(verify(&mut v, &nc1), Verdict::Ok);
    assert_eq!(verify(&mut v, &nc1), Verdict::Replay);
    // Counts may skip (a request lost on the way) but never go back.
    assert_eq!(verify(&mut v, &nc3), Verdict::Ok);
    assert_eq!(verify(&mut v, &nc2), Verdict::Replay);
    assert_eq!(verify(&mut v, &nc3), Verdict::Replay);
}

#[test]
fn two_clients_challenged_in_the_same_second_have_their_own_counts() {
    let start = Instant::now();
    let mut v = verifier(start, VerifierConfig::default());
    let register = request(Method::Register, "sip:example.com");
    let for_alice = v.challenges(start, REALM, false).unwrap();
    let for_bob = v.challenges(start, REALM, false).unwrap();
    assert_ne!(for_alice[0].nonce(), for_bob[0].nonce());
    let alice = answer(&mut client("alice", "secret"), &register, &for_alice);
    let bob = answer(&mut client("bob", "hunter2"), &register, &for_bob);
    assert_eq!(alice.nc(), bob.nc());
    assert_eq!(
        v.verify(start, &alice, &Method::Register, b"", passwords),
        Verdict::Ok
    );
    assert_eq!(
        v.verify(start, &bob, &Method::Register, b"", passwords),
        Verdict::Ok
    );
}

#[test]
fn nonces_of_another_verifier_or_realm_are_stale() {
    let start = Instant::now();
    let mut ours = verifier(start, VerifierConfig::default());
    let mut theirs = DigestVerifier::new(start, VerifierConfig::default(), &mut random(43));
    let register = request(Method::Register, "sip:example.com");
    let challenges = theirs.challenges(start, REALM, false).unwrap();
    let credentials = answer(&mut client("alice", "secret"), &register, &challenges);
    assert_eq!(
        ours.verify(start, &credentials, &Method::Register, b"", passwords),
        Verdict::Stale
    );
    assert_eq!(
        theirs.verify(start, &credentials, &Method::Register, b"", passwords),
        Verdict::Ok
    );

    // A nonce issued for one realm does not serve another.
    let other_realm = ours.challenges(start, "other.org", false).unwrap();
    let nonce = other_realm[0].nonce();
    let moved = Challenge::builder(REALM, nonce)
        .qop(Qop::Auth)
        .algorithm(DigestAlgorithm::Sha256)
        .build()
        .unwrap();
    let credentials = answer(&mut client("alice", "secret"), &register, &[moved]);
    assert_eq!(
        ours.verify(start, &credentials, &Method::Register, b"", passwords),
        Verdict::Stale
    );

    // Verifiers sharing a secret and an instant accept each other's nonces.
    let mut a = DigestVerifier::with_secret(start, VerifierConfig::default(), [7; 32]);
    let mut b = DigestVerifier::with_secret(start, VerifierConfig::default(), [7; 32]);
    let challenges = a.challenges(start, REALM, false).unwrap();
    let credentials = answer(&mut client("alice", "secret"), &register, &challenges);
    assert_eq!(
        b.verify(start, &credentials, &Method::Register, b"", passwords),
        Verdict::Ok
    );
}

#[test]
fn credentials_it_could_not_have_asked_for_are_malformed() {
    let start = Instant::now();
    let config = VerifierConfig {
        algorithms: vec![DigestAlgorithm::Sha256],
        ..VerifierConfig::default()
    };
    let mut v = verifier(start, config);
    let nonce = v.challenge(start, REALM, false).unwrap().nonce().to_owned();
    let with = |params: &str| {
        Credentials::parse(&format!(
            "Digest username=\"alice\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"sip:example.com\", response=\"00\"{params}"
        ))
        .unwrap()
    };
    for credentials in [
        Credentials::parse("Basic YWxpY2U6c2VjcmV0").unwrap(),
        // MD5 was not offered (a downgrade).
        with(", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c\""),
        // No algorithm means MD5.
        with(", qop=auth, nc=00000001, cnonce=\"c\""),
        with(", algorithm=SHA-1, qop=auth, nc=00000001, cnonce=\"c\""),
        // RFC 2069 credentials, without qop: no nonce count, no replay protection.
        with(", algorithm=SHA-256"),
        with(", algorithm=SHA-256, qop=auth-int, nc=00000001, cnonce=\"c\""),
        with(", algorithm=SHA-256, qop=auth-conf, nc=00000001, cnonce=\"c\""),
        with(", algorithm=SHA-256, qop=auth, cnonce=\"c\""),
        with(", algorithm=SHA-256, qop=auth, nc=00000000, cnonce=\"c\""),
        with(", algorithm=SHA-256, qop=auth, nc=00000001"),
    ] {
        assert_eq!(
            v.verify(start, &credentials, &Method::Register, b"", passwords),
            Verdict::Malformed,
            "{credentials}"
        );
    }
}

#[test]
fn auth_int_covers_the_body() {
    let start = Instant::now();
    let config = VerifierConfig {
        qop: vec![Qop::AuthInt],
        ..VerifierConfig::default()
    };
    let mut v = verifier(start, config);
    let mut message = request(Method::Message, "sip:bob@example.com");
    message.set_body(bytes::Bytes::from_static(b"hello"), Some("text/plain"));
    let challenges = v.challenges(start, REALM, false).unwrap();
    assert_eq!(challenges[0].qop_options().collect::<Vec<_>>(), [Qop::AuthInt]);
    let credentials = answer(&mut client("alice", "secret"), &message, &challenges);
    assert_eq!(credentials.qop(), Some(Qop::AuthInt));
    assert_eq!(
        v.verify(start, &credentials, &Method::Message, b"hellO", passwords),
        Verdict::Wrong
    );
    assert_eq!(
        v.verify(start, &credentials, &Method::Message, b"hello", passwords),
        Verdict::Ok
    );
}

#[test]
fn challenges_offer_each_algorithm_with_one_nonce() {
    let start = Instant::now();
    let mut v = verifier(start, VerifierConfig::default());
    let challenges = v.challenges(start, REALM, false).unwrap();
    let algorithms: Vec<_> = challenges.iter().map(|c| c.algorithm().unwrap()).collect();
    assert_eq!(algorithms, [DigestAlgorithm::Sha256, DigestAlgorithm::Md5]);
    assert_eq!(challenges[0].nonce(), challenges[1].nonce());
    assert_eq!(challenges[0].nonce().len(), 64);
    assert_eq!(
        challenges[1].as_str(),
        format!(
            "Digest realm=\"example.com\", nonce=\"{}\", algorithm=MD5, qop=\"auth\"",
            challenges[1].nonce()
        )
    );
    let single = v.challenge(start, REALM, true).unwrap();
    assert_eq!(single.algorithm(), Some(DigestAlgorithm::Sha256));
    assert!(single.stale());
    assert!(v.challenge(start, "bad\nrealm", false).is_err());

    // A client that knows only MD5 takes the MD5 one; ours takes SHA-256.
    let register = request(Method::Register, "sip:example.com");
    let md5_only = [challenges[1].clone()];
    let credentials = answer(&mut client("alice", "secret"), &register, &md5_only);
    assert_eq!(
        v.verify(start, &credentials, &Method::Register, b"", passwords),
        Verdict::Ok
    );
}

#[test]
fn the_same_seed_gives_the_same_nonces() {
    let start = Instant::now();
    let nonces = |seed| {
        let mut v = DigestVerifier::new(start, VerifierConfig::default(), &mut random(seed));
        let later = start + Duration::from_secs(5);
        [v.challenge(start, REALM, false), v.challenge(later, REALM, false)]
            .map(|c| c.unwrap().nonce().to_owned())
    };
    assert_eq!(nonces(1), nonces(1));
    assert_ne!(nonces(1), nonces(2));
}

#[test]
fn the_replay_table_is_bounded_and_forgotten_nonces_are_stale() {
    let start = Instant::now();
    let config = VerifierConfig {
        max_tracked_nonces: 2,
        ..VerifierConfig::default()
    };
    let mut v = verifier(start, config);
    let register = request(Method::Register, "sip:example.com");
    let mut clients: Vec<DigestClient> = (0..3).map(|_| client("alice", "secret")).collect();
    let mut first = Vec::new();
    for c in &mut clients {
        let challenges = v.challenges(start, REALM, false).unwrap();
        first.push(answer(c, &register, &challenges));
    }
    for credentials in &first {
        assert_eq!(
            v.verify(start, credentials, &Method::Register, b"", passwords),
            Verdict::Ok
        );
    }
    // The first nonce was dropped to make room: its next use cannot be told from a
    // replay, so it is stale, and the client gets a fresh nonce.
    let next: Vec<_> = clients
        .iter_mut()
        .map(|c| c.preauthorize(&register).remove(0).credentials)
        .collect();
    let verdicts: Vec<_> = next
        .iter()
        .map(|c| v.verify(start, c, &Method::Register, b"", passwords))
        .collect();
    assert_eq!(verdicts, [Verdict::Stale, Verdict::Ok, Verdict::Ok]);
    // And a replay of a dropped nonce's first credentials is not accepted either.
    assert_eq!(
        v.verify(start, &first[0], &Method::Register, b"", passwords),
        Verdict::Stale
    );
    assert!(format!("{v:?}").contains("tracked_nonces: 2"));
}

#[test]
fn expired_nonces_leave_the_replay_table() {
    let start = Instant::now();
    let mut v = verifier(start, VerifierConfig::default());
    let register = request(Method::Register, "sip:example.com");
    for _ in 0..10 {
        let challenges = v.challenges(start, REALM, false).unwrap();
        let credentials = answer(&mut client("alice", "secret"), &register, &challenges);
        assert_eq!(
            v.verify(start, &credentials, &Method::Register, b"", passwords),
            Verdict::Ok
        );
    }
    assert!(format!("{v:?}").contains("tracked_nonces: 10"));
    let later = start + Duration::from_secs(400);
    let challenges = v.challenges(later, REALM, false).unwrap();
    let credentials = answer(&mut client("alice", "secret"), &register, &challenges);
    assert_eq!(
        v.verify(later, &credentials, &Method::Register, b"", passwords),
        Verdict::Ok
    );
    assert!(format!("{v:?}").contains("tracked_nonces: 1"));
}

#[test]
fn the_debug_output_keeps_secrets() {
    let mut client = DigestClient::new();
    client.add_credentials(REALM, "alice", "my-password");
    assert!(!format!("{client:?}").contains("my-password"));
    let v = DigestVerifier::with_secret(Instant::now(), VerifierConfig::default(), [0xab; 32]);
    assert!(!format!("{v:?}").contains("171"));
}

quickcheck! {
    /// Arbitrary credentials never panic the verifier and are never accepted.
    fn arbitrary_credentials_are_never_ok(text: String, params: Vec<(u8, String)>) -> bool {
        const NAMES: [&str; 8] = ["username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce"];
        let start = Instant::now();
        let mut v = DigestVerifier::with_secret(start, VerifierConfig::default(), [1; 32]);
        let nonce = v.challenge(start, REALM, false).unwrap().nonce().to_owned();
        let mut built = format!("Digest realm=\"{REALM}\", nonce=\"{nonce}\", qop=auth, nc=00000001");
        for (name, value) in &params {
            built.push_str(&format!(", {}=\"{}\"", NAMES[usize::from(*name) % NAMES.len()], value.replace(['"', '\\'], "")));
        }
        [text.as_str(), built.as_str()].iter().all(|t| match Credentials::parse(t) {
            Ok(c) => v.verify(start, &c, &Method::Register, b"", passwords) != Verdict::Ok,
            Err(_) => true,
        })
    }
}
