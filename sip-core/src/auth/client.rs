//! The client side of digest authentication (RFC 3261 §22.2–§22.3, RFC 7616 §3.4,
//! RFC 8760 §2.4): answering the challenges of a 401 or 407, counting `nc` per nonce,
//! pre-authorizing later requests, and knowing when to give up.

use std::collections::BTreeMap;
use std::fmt;

use crate::message::{
    AuthParseError, Challenge, Credentials, DigestAlgorithm, HeaderName, Headers, Method, Qop, Request,
    Response,
};

use super::digest::{DigestInput, QopParams, to_hex};

/// Answers digest challenges for a user agent: one per account (or per registration),
/// holding the passwords by realm and what it learnt of each realm's challenge.
///
/// Feed it the request that was challenged and the 401 or 407 response with
/// [`authorize`](Self::authorize); put the values it returns on the retried request
/// (same Request-URI, body and Call-ID, new CSeq and branch: RFC 3261 §22.2) with
/// [`replace_authorizations`]. Later requests can carry credentials before any challenge
/// with [`preauthorize`](Self::preauthorize) (RFC 3261 §22.3: a UAC MAY pre-emptively
/// send credentials for a realm it was challenged in).
///
/// What it decides, so that the caller does not have to:
/// - Among several challenges for one realm it answers the strongest algorithm it
///   supports — SHA-512-256, then SHA-256, then MD5 (`-sess` variants alike). RFC 8760
///   §2.4 lets local policy override the server's order; this is that policy. Within it,
///   `qop=auth` is preferred to `auth-int`, which is used only when it is the only offer.
/// - Challenges for a realm it has no password for are skipped (and reported only when
///   nothing could be answered). A challenge it cannot answer (an unknown algorithm or
///   qop, or a `-sess` algorithm without qop) is skipped too.
/// - `stale=true` (RFC 7616 §3.3): the password was right, the nonce expired; it answers
///   the new nonce silently — at most [`MAX_STALE_RETRIES`](Self::MAX_STALE_RETRIES) times
///   in a row, in case a server keeps saying so.
/// - Without `stale=true`, a challenge means the username or password is wrong (RFC
///   2617 §3.2.1) — [`DigestError::Rejected`], never another try — when the request
///   carried credentials computed over the challenge's nonce, or carried this client's
///   direct answer to the previous challenge, or carried nothing but the nonce is one the
///   client already answered a challenge with. A challenge to pre-authorized credentials
///   with a new nonce gets one fresh answer first, for servers that forget nonces without
///   saying `stale`; a request without credentials offered the nonce it was
///   pre-authorized with goes on counting it.
/// - Each nonce gets a nonce count that starts at 1 and increases with every request
///   (RFC 7616 §3.4), and a cnonce made of two draws of the caller's random source, kept
///   for the nonce (the `-sess` algorithms need it fixed, RFC 2617 §3.2.2.2).
///
/// Memory is bounded: at most [`capacity`](Self::with_capacity) realms (16 by default)
/// are remembered, the least recently challenged forgotten first.
///
/// ```
/// use sip_core::auth::DigestClient;
/// use sip_core::message::{HeaderName, Method, RequestBuilder, StatusCode, Uri, response_to};
///
/// let mut register = RequestBuilder::new(Method::Register, Uri::parse("sip:example.com").unwrap())
///     .via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1")
///     .from("<sip:alice@example.com>;tag=1")
///     .to("<sip:alice@example.com>")
///     .call_id("c1")
///     .cseq(1)
///     .build()
///     .unwrap();
/// let mut unauthorized = response_to(&register, StatusCode::UNAUTHORIZED, None, Some("r1"));
/// unauthorized.headers.push(
///     HeaderName::WwwAuthenticate,
///     r#"Digest realm="example.com", nonce="a1b2", qop="auth", algorithm=SHA-256"#,
/// );
///
/// let mut client = DigestClient::new();
/// client.add_credentials("example.com", "alice", "secret");
/// let mut seed = 7u64;
/// let mut random = || {
///     seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
///     seed
/// };
/// let answer = client.authorize(&register, &unauthorized, &mut random).unwrap();
/// assert_eq!(answer[0].header, HeaderName::Authorization);
/// assert_eq!(answer[0].credentials.nc(), Some(1));
///
/// // The retried REGISTER carries the answer.
/// sip_core::auth::client::replace_authorizations(&mut register.headers, &answer);
/// assert!(register.headers.get(HeaderName::Authorization).unwrap().contains("username=\"alice\""));
///
/// // The next request to the same realm is pre-authorized with the next nonce count.
/// let next = client.preauthorize(&register);
/// assert_eq!(next[0].credentials.nc(), Some(2));
///
/// // The same nonce challenged again without stale=true: the password is wrong.
/// assert!(client.authorize(&register, &unauthorized, &mut random).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct DigestClient {
    /// Passwords by realm.
    accounts: BTreeMap<String, Account>,
    /// The password for realms without one of their own.
    default_account: Option<Account>,
    /// What each realm last asked, least recently challenged first.
    realms: Vec<RealmState>,
    capacity: usize,
}

/// Credentials for one header to put on a request: an Authorization answering a
/// WWW-Authenticate, or a Proxy-Authorization answering a Proxy-Authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// [`HeaderName::Authorization`] or [`HeaderName::ProxyAuthorization`].
    pub header: HeaderName,
    /// The value.
    pub credentials: Credentials,
}

impl Authorization {
    /// The realm the credentials are for.
    pub fn realm(&self) -> &str {
        self.credentials.realm()
    }
}

/// Why challenges could not be answered. Each one means: do not retry the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The response carries no Digest challenge that parses (of the header its status
    /// calls for, or any other).
    #[error("the response carries no digest challenge")]
    NoChallenge,
    /// Every Digest challenge uses an algorithm or qop this client does not support.
    #[error("no challenge uses an algorithm and qop this client supports")]
    Unsupported,
    /// There is no password for any realm challenged.
    #[error("no credentials for realm(s) {realms:?}")]
    NoCredentials {
        /// The realms challenged, in the order of the challenges.
        realms: Vec<String>,
    },
    /// The server refused the username or password for `realm`: it challenged again
    /// without `stale=true` (RFC 7616 §3.3). What was learnt of the realm is forgotten.
    #[error("the credentials for realm {realm:?} were rejected")]
    Rejected {
        /// The realm.
        realm: String,
    },
    /// The server keeps calling the nonce stale: more than
    /// [`DigestClient::MAX_STALE_RETRIES`] times in a row, or the very nonce it gave.
    #[error("realm {realm:?} keeps calling the nonce stale")]
    StaleLoop {
        /// The realm.
        realm: String,
    },
    /// The credentials cannot be written in a header: the username or the Request-URI
    /// holds a control character.
    #[error("the credentials for realm {realm:?} cannot be written: {error}")]
    Unwritable {
        /// The realm.
        realm: String,
        /// What is wrong.
        error: AuthParseError,
    },
}

/// What the digest of a request covers. Made from a [`Request`] with `From`, or by hand
/// for a request not built as one.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The method (RFC 3261 §22.4: for a CANCEL or the ACK of a non-2xx, that of the
    /// request it goes with; it is the same method text either way).
    pub method: &'a Method,
    /// The Request-URI, as written in the request line: it becomes the `uri` parameter.
    pub uri: &'a str,
    /// The body, covered by `qop=auth-int` only.
    pub body: &'a [u8],
    /// The request's headers: the credentials it carried tell a wrong password from a
    /// first challenge.
    pub headers: &'a Headers,
}

impl<'a> From<&'a Request> for RequestParts<'a> {
    fn from(request: &'a Request) -> RequestParts<'a> {
        RequestParts {
            method: &request.method,
            uri: request.uri.as_str(),
            body: &request.body,
            headers: &request.headers,
        }
    }
}

/// Removes every Authorization and Proxy-Authorization of `headers` and adds
/// `authorizations`, in order: how a retried or pre-authorized request gets its
/// credentials.
pub fn replace_authorizations(headers: &mut Headers, authorizations: &[Authorization]) {
    headers.remove(HeaderName::Authorization);
    headers.remove(HeaderName::ProxyAuthorization);
    for authorization in authorizations {
        headers.push(authorization.header, authorization.credentials.as_str());
    }
}

/// A username and password.
#[derive(Clone)]
struct Account {
    username: String,
    password: String,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password, not even in a log.
        f.debug_struct("Account")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// What a realm last asked, and how far its nonce has been used.
#[derive(Debug, Clone)]
struct RealmState {
    /// The header the answers go in.
    header: HeaderName,
    challenge: Challenge,
    algorithm: DigestAlgorithm,
    qop: Option<Qop>,
    cnonce: String,
    /// The last nonce count used with the challenge's nonce; 0 before the first.
    nc: u32,
    /// How the last credentials for this nonce were made.
    last: LastUse,
    /// Stale challenges answered in a row.
    stale_retries: u8,
}

impl RealmState {
    fn realm(&self) -> &str {
        self.challenge.realm()
    }

    fn is(&self, header: HeaderName, realm: &str) -> bool {
        self.header == header && self.realm() == realm
    }
}

/// How the last credentials for a realm's nonce were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LastUse {
    /// In answer to the challenge that brought the nonce.
    Answer,
    /// Before any challenge, for a later request.
    Preauthorized,
}

/// What to do with a challenge that may be answered.
enum Judgement {
    /// Adopt it: a new nonce, counted from 1, with a new cnonce.
    Fresh {
        /// Stale challenges answered in a row, this one included.
        stale_retries: u8,
    },
    /// Go on with the nonce of the realm remembered at this index.
    Continue(usize),
}

/// The challenge chosen for one realm.
struct Chosen<'c> {
    header: HeaderName,
    challenge: &'c Challenge,
    algorithm: DigestAlgorithm,
    qop: Option<Qop>,
}

impl Default for DigestClient {
    fn default() -> Self {
        DigestClient::new()
    }
}

impl DigestClient {
    /// How many realms are remembered unless [`with_capacity`](Self::with_capacity) says.
    pub const DEFAULT_CAPACITY: usize = 16;

    /// How many stale challenges in a row are answered before [`DigestError::StaleLoop`].
    pub const MAX_STALE_RETRIES: u8 = 2;

    /// A client without credentials, remembering up to 16 realms.
    pub fn new() -> DigestClient {
        DigestClient::with_capacity(DigestClient::DEFAULT_CAPACITY)
    }

    /// A client remembering up to `capacity` realms (at least one).
    pub fn with_capacity(capacity: usize) -> DigestClient {
        DigestClient {
            accounts: BTreeMap::new(),
            default_account: None,
            realms: Vec::new(),
            capacity: capacity.max(1),
        }
    }

    /// Sets the username and password for `realm` (compared byte by byte with the
    /// challenge's).
    pub fn add_credentials(&mut self, realm: &str, username: &str, password: &str) {
        self.accounts.insert(
            realm.to_owned(),
            Account {
                username: username.to_owned(),
                password: password.to_owned(),
            },
        );
    }

    /// Sets the username and password for every realm without credentials of its own:
    /// what a phone configured with one account does, whatever realm its server names.
    pub fn set_default_credentials(&mut self, username: &str, password: &str) {
        self.default_account = Some(Account {
            username: username.to_owned(),
            password: password.to_owned(),
        });
    }

    /// The realms remembered, least recently challenged first.
    pub fn realms(&self) -> impl Iterator<Item = &str> + '_ {
        self.realms.iter().map(RealmState::realm)
    }

    /// Forgets what was learnt of `realm` (both headers): later requests go without
    /// credentials for it until it challenges again.
    pub fn forget(&mut self, realm: &str) {
        self.realms.retain(|r| r.realm() != realm);
    }

    /// Answers the challenges of `response` (a 401 or 407) to `request`: the
    /// Authorization and Proxy-Authorization values for the retried request, which
    /// replace all those `request` carried ([`replace_authorizations`]). Both
    /// WWW-Authenticate and Proxy-Authenticate are read, whatever the status: a proxy
    /// that forked may have gathered both into one response (RFC 3261 §16.7 step 6).
    ///
    /// The list holds one value per realm answered, in the order of the challenges,
    /// then, for each realm `request` carried credentials for that was not challenged
    /// again, those credentials renewed with the next nonce count (or as they were, for a
    /// realm this client does not know). `random` gives the cnonce of each new nonce.
    pub fn authorize(
        &mut self,
        request: &Request,
        response: &Response,
        random: &mut impl FnMut() -> u64,
    ) -> Result<Vec<Authorization>, DigestError> {
        self.authorize_parts(RequestParts::from(request), &response.headers, random)
    }

    /// [`authorize`](Self::authorize) for a request given by its parts and the headers
    /// of the response.
    pub fn authorize_parts(
        &mut self,
        request: RequestParts<'_>,
        response: &Headers,
        random: &mut impl FnMut() -> u64,
    ) -> Result<Vec<Authorization>, DigestError> {
        let challenges: Vec<(HeaderName, Challenge)> = response
            .www_authenticate()
            .map(|c| (HeaderName::Authorization, c))
            .chain(
                response
                    .proxy_authenticate()
                    .map(|c| (HeaderName::ProxyAuthorization, c)),
            )
            .filter_map(|(header, c)| c.ok().filter(Challenge::is_digest).map(|c| (header, c)))
            .collect();
        if challenges.is_empty() {
            return Err(DigestError::NoChallenge);
        }
        let chosen = choose(&challenges);
        let carried = carried_credentials(request.headers);

        let mut answers = Vec::new();
        let mut without_credentials = Vec::new();
        for choice in &chosen {
            let realm = choice.challenge.realm();
            let Some(account) = self.account(realm).cloned() else {
                without_credentials.push(realm.to_owned());
                continue;
            };
            let carried_nonce = carried
                .iter()
                .find(|c| c.header == choice.header && c.realm() == realm)
                .map(|c| c.credentials.nonce());
            let state = match self.judge(choice, carried_nonce)? {
                Judgement::Fresh { stale_retries } => self.adopt(choice, stale_retries, random),
                Judgement::Continue(index) => match self.touch(index) {
                    Some(state) => state,
                    None => self.adopt(choice, 0, random),
                },
            };
            answers.push(answer(state, &account, &request, LastUse::Answer)?);
        }
        if answers.is_empty() {
            return Err(if without_credentials.is_empty() {
                DigestError::Unsupported
            } else {
                DigestError::NoCredentials {
                    realms: without_credentials,
                }
            });
        }

        // Credentials the request carried for realms not challenged now were accepted:
        // they go on the retry too, with the next nonce count.
        for old in carried {
            if chosen
                .iter()
                .any(|c| c.header == old.header && c.challenge.realm() == old.realm())
            {
                continue;
            }
            match self.renew(old.header, old.realm(), &request) {
                Some(renewed) => answers.push(renewed),
                None => answers.push(old),
            }
        }
        Ok(answers)
    }

    /// Credentials for `request` for every realm remembered, before any challenge, each
    /// with its nonce's next count (RFC 3261 §22.3), least recently challenged realm
    /// first. A realm whose nonce count is exhausted, or whose credentials cannot be
    /// written, is forgotten and skipped.
    pub fn preauthorize(&mut self, request: &Request) -> Vec<Authorization> {
        self.preauthorize_parts(RequestParts::from(request))
    }

    /// [`preauthorize`](Self::preauthorize) for a request given by its parts.
    pub fn preauthorize_parts(&mut self, request: RequestParts<'_>) -> Vec<Authorization> {
        let keys: Vec<(HeaderName, String)> = self
            .realms
            .iter()
            .map(|r| (r.header, r.realm().to_owned()))
            .collect();
        keys.into_iter()
            .filter_map(|(header, realm)| self.renew(header, &realm, &request))
            .collect()
    }

    /// The account for `realm`.
    fn account(&self, realm: &str) -> Option<&Account> {
        self.accounts.get(realm).or(self.default_account.as_ref())
    }

    /// Decides whether `choice` may be answered, given the nonce of the credentials the
    /// challenged request carried for its realm, and how (RFC 7616 §3.3 `stale`; RFC 2617
    /// §3.2.1: without `stale=true`, "the username and/or password are invalid").
    fn judge(&mut self, choice: &Chosen<'_>, carried_nonce: Option<&str>) -> Result<Judgement, DigestError> {
        let (header, realm, nonce) = (choice.header, choice.challenge.realm(), choice.challenge.nonce());
        let known = self.realms.iter().position(|r| r.is(header, realm));
        let state = known.and_then(|i| self.realms.get(i));
        let used_already = state.is_some_and(|s| s.challenge.nonce() == nonce && s.nc > 0);
        if choice.challenge.stale() {
            let retries = state.map_or(0, |s| s.stale_retries);
            // Stale, yet the very nonce we used (or were just given): retrying cannot help.
            let same_nonce = carried_nonce == Some(nonce) || used_already;
            if same_nonce || retries >= DigestClient::MAX_STALE_RETRIES {
                self.forget_state(header, realm);
                return Err(DigestError::StaleLoop {
                    realm: realm.to_owned(),
                });
            }
            return Ok(Judgement::Fresh {
                stale_retries: retries + 1,
            });
        }
        let refused = match (carried_nonce, state) {
            // Credentials computed over this very nonce were refused.
            (Some(carried), _) if carried == nonce => true,
            // Our answer to the previous challenge was refused.
            (Some(carried), Some(s)) => carried == s.challenge.nonce() && s.last == LastUse::Answer,
            // The request (as given) carried nothing, but the server repeats a nonce we
            // answered it with: a second challenge for the same nonce. Also what keeps a
            // caller that passes the original request instead of the retried one from
            // looping.
            (None, Some(s)) => used_already && s.last == LastUse::Answer,
            (_, None) => false,
        };
        if refused {
            self.forget_state(header, realm);
            return Err(DigestError::Rejected {
                realm: realm.to_owned(),
            });
        }
        // A request without credentials, challenged with the nonce we pre-authorized with
        // before: go on counting it.
        let same_offer = state.is_some_and(|s| {
            s.challenge.nonce() == nonce && s.algorithm == choice.algorithm && s.qop == choice.qop
        });
        match known {
            Some(index) if carried_nonce.is_none() && same_offer => Ok(Judgement::Continue(index)),
            _ => Ok(Judgement::Fresh { stale_retries: 0 }),
        }
    }

    /// Makes the realm at `index` the most recently challenged one.
    fn touch(&mut self, index: usize) -> Option<&mut RealmState> {
        if index < self.realms.len() {
            let state = self.realms.remove(index);
            self.realms.push(state);
        }
        self.realms.last_mut()
    }

    /// Remembers `choice` as its realm's challenge, most recently challenged, with a new
    /// cnonce and no nonce count yet; forgets the least recently challenged realm when
    /// full.
    fn adopt(
        &mut self,
        choice: &Chosen<'_>,
        stale_retries: u8,
        random: &mut impl FnMut() -> u64,
    ) -> &mut RealmState {
        self.forget_state(choice.header, choice.challenge.realm());
        if self.realms.len() >= self.capacity {
            self.realms.remove(0);
        }
        let mut cnonce = [0u8; 16];
        for (chunk, word) in cnonce.chunks_mut(8).zip([random(), random()]) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        self.realms.push(RealmState {
            header: choice.header,
            challenge: choice.challenge.clone(),
            algorithm: choice.algorithm,
            qop: choice.qop,
            cnonce: to_hex(&cnonce),
            nc: 0,
            last: LastUse::Answer,
            stale_retries,
        });
        let last = self.realms.len() - 1;
        // Just pushed: the index is in bounds.
        #[allow(clippy::indexing_slicing)]
        &mut self.realms[last]
    }

    /// Credentials for a remembered realm with its nonce's next count, or `None` (and
    /// the realm forgotten) when that cannot be done.
    fn renew(
        &mut self,
        header: HeaderName,
        realm: &str,
        request: &RequestParts<'_>,
    ) -> Option<Authorization> {
        let account = self.account(realm)?.clone();
        let index = self.realms.iter().position(|r| r.is(header, realm))?;
        let state = self.realms.get_mut(index)?;
        // Pre-authorization ends a run of stale answers: the previous one got through.
        state.stale_retries = 0;
        match answer(state, &account, request, LastUse::Preauthorized) {
            Ok(authorization) => Some(authorization),
            Err(_) => {
                self.realms.remove(index);
                None
            }
        }
    }

    fn forget_state(&mut self, header: HeaderName, realm: &str) {
        self.realms.retain(|r| !r.is(header, realm));
    }
}

/// Credentials answering `state`'s challenge with its next nonce count.
fn answer(
    state: &mut RealmState,
    account: &Account,
    request: &RequestParts<'_>,
    last: LastUse,
) -> Result<Authorization, DigestError> {
    let realm = state.realm().to_owned();
    let unwritable = |error| DigestError::Unwritable {
        realm: realm.clone(),
        error,
    };
    // RFC 7616 §3.4: nc counts the requests sent with this nonce; at its end, a new
    // nonce is needed.
    state.nc = state
        .nc
        .checked_add(1)
        .ok_or_else(|| unwritable(AuthParseError::Invalid("nc")))?;
    state.last = last;
    let challenge = &state.challenge;
    let qop = state.qop.map(|qop| QopParams {
        qop,
        nc: state.nc,
        cnonce: &state.cnonce,
    });
    let response = DigestInput {
        algorithm: state.algorithm,
        username: &account.username,
        realm: challenge.realm(),
        password: &account.password,
        nonce: challenge.nonce(),
        method: request.method.as_str(),
        uri: request.uri,
        body: request.body,
        qop,
    }
    .response();
    let mut builder = Credentials::builder(
        &account.username,
        challenge.realm(),
        challenge.nonce(),
        request.uri,
        &response,
    );
    // An algorithm is echoed only when the challenge named one: an RFC 2069 server may
    // not expect the parameter.
    if challenge.algorithm_str().is_some() {
        builder = builder.algorithm(state.algorithm);
    }
    if let Some(opaque) = challenge.opaque() {
        builder = builder.opaque(opaque);
    }
    if let Some(qop) = qop {
        builder = builder.qop(qop.qop).nc(qop.nc).cnonce(qop.cnonce);
    }
    let credentials = builder.build().map_err(unwritable)?;
    Ok(Authorization {
        header: state.header,
        credentials,
    })
}

/// The best challenge this client can answer for each (header, realm), in the order the
/// realms first appear.
fn choose(challenges: &[(HeaderName, Challenge)]) -> Vec<Chosen<'_>> {
    let mut chosen: Vec<Chosen<'_>> = Vec::new();
    for (header, challenge) in challenges {
        let Some((algorithm, qop)) = answerable(challenge) else {
            continue;
        };
        let candidate = Chosen {
            header: *header,
            challenge,
            algorithm,
            qop,
        };
        match chosen
            .iter_mut()
            .find(|c| c.header == *header && c.challenge.realm() == challenge.realm())
        {
            None => chosen.push(candidate),
            // The strongest algorithm wins; among equals, the first offered.
            Some(best) if algorithm.strength() > best.algorithm.strength() => *best = candidate,
            Some(_) => {}
        }
    }
    chosen
}

/// The algorithm and qop to answer `challenge` with, when this client can.
fn answerable(challenge: &Challenge) -> Option<(DigestAlgorithm, Option<Qop>)> {
    let algorithm = challenge.algorithm()?;
    let qop = if challenge.offers_qop() {
        let mut options = challenge.qop_options();
        let first = options.next()?;
        // `auth` when offered; `auth-int` only when it is the only choice.
        Some(if first == Qop::Auth || options.any(|q| q == Qop::Auth) {
            Qop::Auth
        } else {
            Qop::AuthInt
        })
    } else {
        // RFC 2617 §3.2.2.2: the -sess algorithms need the cnonce that only a qop carries.
        if algorithm.is_session() {
            return None;
        }
        None
    };
    Some((algorithm, qop))
}

/// The digest credentials a request carried, in order.
fn carried_credentials(headers: &Headers) -> Vec<Authorization> {
    headers
        .authorization()
        .map(|c| (HeaderName::Authorization, c))
        .chain(
            headers
                .proxy_authorization()
                .map(|c| (HeaderName::ProxyAuthorization, c)),
        )
        .filter_map(|(header, c)| {
            c.ok()
                .filter(Credentials::is_digest)
                .map(|credentials| Authorization { header, credentials })
        })
        .collect()
}
