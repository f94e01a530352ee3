//! `sipua registrar`: an in-memory registrar (RFC 3261 §10.3) that challenges every
//! REGISTER with digest authentication (RFC 3261 §22, RFC 7616) from a fixed list of users,
//! keeps the bindings in memory, and answers each REGISTER with every binding of the
//! address-of-record. It also routes calls to registered users, as a redirect server (RFC
//! 3261 §8.3): an INVITE for a registered address-of-record gets 302 with its bindings
//! (callers, ours included, follow it), one for a user without bindings 480, one for
//! anybody else 404. Built on [`UserAgent::incoming_requests`] and the core's
//! [`DigestVerifier`]; so our client has a server of ours to test against.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::auth::{DigestAlgorithm, DigestVerifier, Verdict, VerifierConfig};
use sip_core::message::{HeaderName, Method, NameAddr, StatusCode};

use crate::driver::clock_now;
use crate::{
    Call, Error, IncomingCalls, IncomingMessages, IncomingRequest, IncomingRequests, TransportOptions,
    UserAgent,
};

/// What the registrar serves, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarOptions {
    /// The local address (port 0 picks a free port). Default `127.0.0.1:0`.
    pub bind: SocketAddr,
    /// Listen on TCP as well as UDP.
    pub tcp: bool,
    /// Listeners for TLS, WebSocket and secure WebSocket, and the TLS files (default:
    /// none).
    pub transports: TransportOptions,
    /// The realm of the challenges. Default `sip-rs`.
    pub realm: String,
    /// Users and their passwords; a REGISTER must authenticate as the user of the
    /// address-of-record it registers.
    pub users: Vec<(String, String)>,
    /// The longest binding granted, in seconds (longer asks are cut to it).
    pub max_expires: u32,
    /// The shortest binding accepted: a shorter non-zero ask gets 423 with Min-Expires.
    pub min_expires: u32,
    /// The digest algorithms challenged with, preferred first, one WWW-Authenticate each
    /// (RFC 8760 §2.4). Default SHA-256 then MD5. Some clients refuse a 401 that offers
    /// anything but MD5 (baresip 1.0's libre): offer MD5 alone for them.
    pub algorithms: Vec<DigestAlgorithm>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Print nothing per request.
    pub quiet: bool,
    /// Print every SIP message sent and received on stderr (`sipua --trace`).
    pub trace: bool,
}

impl Default for RegistrarOptions {
    fn default() -> Self {
        RegistrarOptions {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            tcp: false,
            transports: TransportOptions::default(),
            realm: "sip-rs".to_owned(),
            users: Vec::new(),
            max_expires: 3600,
            min_expires: 60,
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            duration: None,
            quiet: false,
            trace: false,
        }
    }
}

/// What the registrar did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistrarReport {
    /// REGISTERs accepted (200), unregistrations included.
    pub accepted: usize,
    /// REGISTERs challenged (401), stale nonces included.
    pub challenged: usize,
    /// REGISTERs refused otherwise (403, 423, 400).
    pub refused: usize,
    /// Calls redirected to a registered user's bindings (302).
    pub redirected: usize,
    /// Calls for nobody registered (480, 404).
    pub unroutable: usize,
    /// Bindings left when it stopped.
    pub bindings: usize,
    /// Instant messages (MESSAGE, RFC 3428) addressed to the registrar itself, answered
    /// 200 and printed.
    pub messages: usize,
}

/// One Contact bound to an address-of-record.
#[derive(Debug, Clone)]
struct Binding {
    /// The Contact URI, as registered.
    uri: String,
    /// When it runs out.
    until: Instant,
}

/// A bound registrar that has not started serving yet.
#[derive(Debug)]
pub struct Registrar {
    agent: UserAgent,
    requests: IncomingRequests,
    calls: IncomingCalls,
    messages: IncomingMessages,
    options: RegistrarOptions,
}

impl Registrar {
    /// Binds the sockets and takes REGISTER.
    pub async fn bind(options: RegistrarOptions) -> Result<Registrar, Error> {
        let mut builder = UserAgent::builder();
        if options.trace {
            let since = Instant::now();
            builder = builder.on_message(move |m| eprintln!("{}\n", m.block(since)));
        }
        let agent = builder
            .bind(options.bind)
            .tcp(options.tcp)
            .transport_options(&options.transports)
            .take_method(Method::Register)
            .start()
            .await?;
        let requests = agent.incoming_requests().await?;
        let calls = agent.incoming().await?;
        let messages = agent.incoming_messages().await?;
        Ok(Registrar {
            agent,
            requests,
            calls,
            messages,
            options,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.agent.local_addr()
    }

    /// Serves REGISTERs, one line per request to `out` (unless `quiet`), until `stop`
    /// completes or `duration` passes; then stops the agent and returns the counts.
    pub async fn run(self, mut out: impl Write, stop: impl Future<Output = ()>) -> RegistrarReport {
        let Registrar {
            agent,
            mut requests,
            mut calls,
            mut messages,
            options,
        } = self;
        let quiet = options.quiet;
        let mut say = |line: std::fmt::Arguments<'_>| {
            if !quiet {
                let _ = writeln!(out, "{line}");
            }
        };
        say(format_args!(
            "registrar on {} ({:?}){}, realm {}",
            agent.local_addr(),
            agent.transports(),
            crate::listen::listener_addrs(&agent),
            options.realm
        ));
        let mut seed = clock_now().elapsed().as_nanos() as u64 ^ u64::from(std::process::id());
        let config = VerifierConfig {
            algorithms: options.algorithms.clone(),
            ..VerifierConfig::default()
        };
        let mut verifier = DigestVerifier::new(clock_now(), config, &mut || {
            // splitmix64: the verifier's secret only needs to be unguessable per run.
            seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        });
        let mut bindings: BTreeMap<String, Vec<Binding>> = BTreeMap::new();
        let mut report = RegistrarReport::default();
        let deadline = options.duration.map(|d| tokio::time::Instant::now() + d);
        tokio::pin!(stop);
        loop {
            let request = tokio::select! {
                request = requests.next() => request,
                call = calls.next() => {
                    let Some(call) = call else { break };
                    let routed = route_call(&call, &options, &bindings).await;
                    match routed {
                        Ok((target, Some(n))) => {
                            report.redirected += 1;
                            say(format_args!("INVITE {target}: 302 to {n} binding(s)"));
                        }
                        Ok((target, None)) => {
                            report.unroutable += 1;
                            say(format_args!("INVITE {target}: nobody registered"));
                        }
                        Err(e) => say(format_args!("INVITE: cannot answer: {e}")),
                    }
                    continue;
                }
                message = messages.next() => {
                    let Some(message) = message else { break };
                    report.messages += 1;
                    say(format_args!(
                        "MESSAGE from {}: {}",
                        message.from,
                        String::from_utf8_lossy(message.body.get(..200).unwrap_or(&message.body))
                    ));
                    continue;
                }
                () = &mut stop => break,
                () = async { match deadline { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => break,
            };
            let Some(request) = request else { break };
            let outcome = serve(&request, &options, &mut verifier, &mut bindings).await;
            match outcome {
                Ok((status, aor)) if status.is_success() => {
                    report.accepted += 1;
                    say(format_args!(
                        "REGISTER {aor}: 200, {} binding(s)",
                        bindings.get(&aor).map_or(0, Vec::len)
                    ));
                }
                Ok((status, aor)) if status == StatusCode::UNAUTHORIZED => {
                    report.challenged += 1;
                    say(format_args!("REGISTER {aor}: challenged"));
                }
                Ok((status, aor)) => {
                    report.refused += 1;
                    say(format_args!(
                        "REGISTER {aor}: {} {}",
                        status.as_u16(),
                        status.canonical_reason()
                    ));
                }
                Err(e) => say(format_args!("REGISTER: cannot answer: {e}")),
            }
        }
        report.bindings = bindings.values().map(Vec::len).sum();
        agent.shutdown(Duration::from_secs(1)).await;
        report
    }
}

/// Routes an incoming call as a redirect server: 302 to the bindings of the
/// address-of-record its Request-URI names, 480 when it has none now, 404 for a user we do
/// not know. The target, and how many bindings it was sent to.
async fn route_call(
    call: &Call,
    options: &RegistrarOptions,
    bindings: &BTreeMap<String, Vec<Binding>>,
) -> Result<(String, Option<usize>), Error> {
    let now = clock_now();
    let Some(invite) = call.request() else {
        return Ok((String::new(), None));
    };
    let user = invite.uri.user().unwrap_or_default().to_owned();
    let target = format!("sip:{user}@{}", invite.uri.host_str().unwrap_or_default());
    let contacts: Vec<&str> = bindings
        .get(&target)
        .into_iter()
        .flatten()
        .filter(|b| b.until > now)
        .map(|b| b.uri.as_str())
        .collect();
    if !contacts.is_empty() {
        call.redirect(&contacts).await?;
        return Ok((target, Some(contacts.len())));
    }
    let known = options.users.iter().any(|(name, _)| *name == user);
    let status = if known { 480 } else { 404 };
    call.reject(status, None).await?;
    Ok((target, None))
}

/// Answers one REGISTER (RFC 3261 §10.3); the status sent and the address-of-record.
async fn serve(
    request: &IncomingRequest,
    options: &RegistrarOptions,
    verifier: &mut DigestVerifier,
    bindings: &mut BTreeMap<String, Vec<Binding>>,
) -> Result<(StatusCode, String), Error> {
    let now = clock_now();
    let register = request.request();
    // §10.3 step 5: the address-of-record is the To URI.
    let Some(Ok(to)) = register.headers.to_addr() else {
        request
            .respond(StatusCode::BAD_REQUEST, &[], Bytes::new())
            .await?;
        return Ok((StatusCode::BAD_REQUEST, String::new()));
    };
    let aor = format!(
        "sip:{}@{}",
        to.uri().user().unwrap_or_default(),
        to.uri().host_str().unwrap_or_default()
    );
    let user = to.uri().user().unwrap_or_default().to_owned();
    // §10.3 step 3 and §22: authenticate, as the AOR's user.
    let verdict = register
        .headers
        .authorization()
        .find_map(Result::ok)
        .map(|credentials| {
            let claimed = credentials.username().to_owned();
            let verdict = verifier.verify(now, &credentials, &register.method, &register.body, |name, _| {
                options
                    .users
                    .iter()
                    .find(|(u, _)| u == name)
                    .map(|(_, password)| password.clone())
            });
            (verdict, claimed)
        });
    match verdict {
        Some((Verdict::Ok, claimed)) if claimed == user => {}
        Some((Verdict::Ok, _)) => {
            // §10.3 step 4: authenticated, but not as this AOR's user.
            request.respond(StatusCode::FORBIDDEN, &[], Bytes::new()).await?;
            return Ok((StatusCode::FORBIDDEN, aor));
        }
        other => {
            let stale = matches!(other, Some((Verdict::Stale, _)));
            // One challenge per algorithm offered, preferred first (RFC 8760 §2.4).
            let challenges: Vec<String> = verifier
                .challenges(now, &options.realm, stale)
                .map_err(|e| Error::BadTarget(e.to_string()))?
                .iter()
                .map(ToString::to_string)
                .collect();
            let headers: Vec<(HeaderName, &str)> = challenges
                .iter()
                .map(|c| (HeaderName::WwwAuthenticate, c.as_str()))
                .collect();
            request
                .respond(StatusCode::UNAUTHORIZED, &headers, Bytes::new())
                .await?;
            return Ok((StatusCode::UNAUTHORIZED, aor));
        }
    }
    let default_expires = register
        .headers
        .expires()
        .and_then(Result::ok)
        .unwrap_or(options.max_expires);
    let contacts: Vec<(String, u32, bool)> = register
        .headers
        .get_all(HeaderName::Contact)
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(|value| {
            if value == "*" {
                return (String::new(), 0, true);
            }
            let parsed = NameAddr::parse(value).ok();
            let uri = parsed
                .as_ref()
                .map_or_else(|| value.to_owned(), |n| n.uri().to_string());
            let expires = parsed
                .as_ref()
                .and_then(|n| n.params().get("expires").flatten().and_then(|v| v.parse().ok()))
                .unwrap_or(default_expires);
            (uri, expires, false)
        })
        .collect();
    // §10.3 step 6: a shorter non-zero interval than we accept gets 423.
    if contacts
        .iter()
        .any(|(_, expires, _)| *expires > 0 && *expires < options.min_expires)
    {
        let min = options.min_expires.to_string();
        request
            .respond(
                StatusCode::INTERVAL_TOO_BRIEF,
                &[(HeaderName::MinExpires, min.as_str())],
                Bytes::new(),
            )
            .await?;
        return Ok((StatusCode::INTERVAL_TOO_BRIEF, aor));
    }
    // §10.3 step 7: update the bindings (the expired ones go too).
    let entry = bindings.entry(aor.clone()).or_default();
    entry.retain(|b| b.until > now);
    for (uri, expires, wildcard) in contacts {
        if wildcard {
            entry.clear();
            continue;
        }
        entry.retain(|b| b.uri != uri);
        if expires > 0 {
            let granted = expires.min(options.max_expires);
            entry.push(Binding {
                uri,
                until: now + Duration::from_secs(u64::from(granted)),
            });
        }
    }
    // §10.3 step 8: 200 with every current binding and its remaining time.
    let listed: Vec<String> = entry
        .iter()
        .map(|b| {
            format!(
                "<{}>;expires={}",
                b.uri,
                b.until.saturating_duration_since(now).as_secs()
            )
        })
        .collect();
    if entry.is_empty() {
        bindings.remove(&aor);
    }
    let headers: Vec<(HeaderName, &str)> = listed.iter().map(|c| (HeaderName::Contact, c.as_str())).collect();
    request.respond(StatusCode::OK, &headers, Bytes::new()).await?;
    Ok((StatusCode::OK, aor))
}
