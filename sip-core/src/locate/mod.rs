//! Server location by DNS (RFC 3263): the Endpoint's memory of DNS answers, the questions
//! it has asked, the requests waiting for them, and the targets that failed lately.
//!
//! A request to a URI is *located* before it is sent: an IP-literal host needs nothing; a
//! name is walked through NAPTR → SRV → A/AAAA ([`plan`]) over cached answers, and what is
//! missing is asked of the driver ([`Locator::poll_query`]). When the last answer a walk
//! needs comes in, its target list is ready: the first target gets the request, the rest
//! are kept for failover (RFC 3263 §4.3). A target that failed is tried last for a while
//! ([`DnsConfig::failed_target_memory`](crate::config::DnsConfig::failed_target_memory)).
//!
//! Everything is ordered (B-trees, queues), so what is asked and in which order is the
//! same for a seed.

pub(crate) mod plan;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::config::EndpointConfig;
use crate::dns::{DnsAnswer, DnsError, DnsQuery, DnsRecords, RecordType};
use crate::ids::{DnsQueryId, IdCounter, TransactionId};
use crate::timer_queue::{Deadline, TimerId, TimerQueue};

pub(crate) use plan::{Spec, Target, Unlocatable};

/// How long a failed question (a timeout, a SERVFAIL) is remembered, at most: it says
/// more about the resolver at that moment than about the name.
const FAILURE_MEMORY: Duration = Duration::from_secs(5);

/// How many failed targets are remembered; past it the one remembered longest goes.
const FAILED_TARGET_LIMIT: usize = 256;

/// Where a request goes: the targets in the order to try them, and the name a TLS peer's
/// certificate must carry.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    /// Not tried yet, in order.
    pub(crate) targets: VecDeque<Target>,
    /// The host name of the URI located (RFC 5922 §4: a TLS server is checked against the
    /// domain the client meant to reach, not the SRV target); `None` for an address.
    pub(crate) server_name: Option<String>,
}

/// Where a request goes, as far as the cache can tell now.
#[derive(Debug)]
pub(crate) enum Resolution {
    /// The plan (its targets never empty).
    Ready(Plan),
    /// What must be asked first.
    Missing(Vec<(RecordType, String)>),
}

/// A cached answer and when it expires.
#[derive(Debug)]
struct Cached {
    records: Result<DnsRecords, DnsError>,
    expires: Instant,
}

/// A question out with the driver.
#[derive(Debug)]
struct Question {
    key: (RecordType, String),
    deadline: Deadline,
}

/// The Endpoint's RFC 3263 state.
#[derive(Debug, Default)]
pub(crate) struct Locator {
    cache: BTreeMap<(RecordType, String), Cached>,
    /// Questions asked and not answered, by id, and by what they ask.
    questions: BTreeMap<DnsQueryId, Question>,
    asked: BTreeMap<(RecordType, String), DnsQueryId>,
    /// Questions for the driver to take.
    queries: VecDeque<DnsQuery>,
    /// Requests waiting for answers, by their transaction.
    waiting: BTreeMap<TransactionId, Spec>,
    /// Targets that failed, and until when they go last.
    failed: BTreeMap<Target, Instant>,
}

impl Locator {
    /// The next question for the driver.
    pub(crate) fn poll_query(&mut self) -> Option<DnsQuery> {
        self.queries.pop_front()
    }

    /// The targets of `spec` when the cache (or the URI itself) says them all, else the
    /// questions still to ask (see [`Locator::wait`]).
    pub(crate) fn resolve(
        &mut self,
        config: &EndpointConfig,
        now: Instant,
        spec: &Spec,
        draw: &mut dyn FnMut() -> u64,
    ) -> Result<Resolution, Unlocatable> {
        spec.check_enabled(&config.transports)?;
        let walk = self.walk(config, now, spec, None);
        if walk.missing.is_empty() {
            self.finish(config, now, spec, draw).map(Resolution::Ready)
        } else {
            Ok(Resolution::Missing(walk.missing))
        }
    }

    /// Asks what `spec` still needs (`missing`, from [`Locator::resolve`]) and keeps the
    /// request of transaction `tx` waiting for it: [`Locator::on_answer`] completes it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn wait(
        &mut self,
        config: &EndpointConfig,
        timers: &mut TimerQueue<TimerId>,
        ids: &mut IdCounter,
        now: Instant,
        tx: TransactionId,
        spec: Spec,
        missing: Vec<(RecordType, String)>,
    ) -> Result<(), Unlocatable> {
        if self.waiting.len() >= config.dns.max_pending_lookups {
            return Err(Unlocatable::NoTargets(format!(
                "{} (too many lookups waiting)",
                spec.describe()
            )));
        }
        self.ask(config, timers, ids, now, missing);
        self.waiting.insert(tx, spec);
        Ok(())
    }

    /// Forgets the lookup of `tx` (its request was abandoned).
    pub(crate) fn abandon(&mut self, tx: TransactionId) {
        self.waiting.remove(&tx);
    }

    /// The answer to question `id` (or its failure: the driver's, or, with `timed_out`,
    /// ours: no answer came in time). Returns the waiting requests it completed, each with
    /// its targets or why there are none.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_answer(
        &mut self,
        config: &EndpointConfig,
        timers: &mut TimerQueue<TimerId>,
        ids: &mut IdCounter,
        draw: &mut dyn FnMut() -> u64,
        now: Instant,
        (id, timed_out): (DnsQueryId, bool),
        result: Result<DnsAnswer, DnsError>,
    ) -> Vec<(TransactionId, Result<Plan, Unlocatable>)> {
        let Some(question) = self.questions.remove(&id) else {
            // Answered twice, or after its timeout: nothing waits for it.
            return Vec::new();
        };
        timers.remove(question.deadline, TimerId::Dns { query: id });
        self.asked.remove(&question.key);
        // A resolver that does not answer at all would make each later step wait as long
        // again (NAPTR, then SRV, then A): the requests that waited for this answer end
        // now. A resolver that answers "failed" (SERVFAIL) lets RFC 3263 go on.
        let mut done = Vec::new();
        if timed_out {
            let doomed: Vec<TransactionId> = self
                .waiting
                .iter()
                .filter(|(_, spec)| self.walk(config, now, spec, None).missing.contains(&question.key))
                .map(|(tx, _)| *tx)
                .collect();
            for tx in doomed {
                if let Some(spec) = self.waiting.remove(&tx) {
                    let why = format!(
                        "{} (DNS did not answer {} {})",
                        spec.describe(),
                        question.key.0,
                        question.key.1
                    );
                    done.push((tx, Err(Unlocatable::NoTargets(why))));
                }
            }
        }
        let dns = &config.dns;
        let (records, ttl) = match result {
            // A record of another type than asked is a driver's mistake: read as nothing.
            Ok(answer) if answer.records.record_type() == record_family(question.key.0) => {
                // TTL 0 still serves the walk that asked (RFC 1035 §3.2.1 allows its use
                // for the transaction in progress); a second keeps it that long.
                (
                    Ok(answer.records),
                    answer.ttl.clamp(Duration::from_secs(1), dns.max_ttl),
                )
            }
            Ok(_) | Err(DnsError::NotFound) => (Err(DnsError::NotFound), dns.negative_ttl),
            // A failure may pass: kept only long enough not to ask again at once.
            Err(error) => (Err(error), dns.negative_ttl.min(FAILURE_MEMORY)),
        };
        self.remember(config, now, question.key, records, ttl);
        // Walk every waiting request again, oldest first.
        let mut still_missing = Vec::new();
        let waiting: Vec<TransactionId> = self.waiting.keys().copied().collect();
        for tx in waiting {
            let Some(spec) = self.waiting.get(&tx).cloned() else {
                continue;
            };
            let walk = self.walk(config, now, &spec, None);
            if walk.missing.is_empty() {
                self.waiting.remove(&tx);
                done.push((tx, self.finish(config, now, &spec, draw)));
            } else {
                still_missing.extend(walk.missing);
            }
        }
        // Answers that expired while others were awaited are asked again.
        self.ask(config, timers, ids, now, still_missing);
        done
    }

    /// Marks `target` as failed: later target lists put it last for a while.
    pub(crate) fn note_failed(&mut self, config: &EndpointConfig, now: Instant, target: Target) {
        if self.failed.len() >= FAILED_TARGET_LIMIT && !self.failed.contains_key(&target) {
            let oldest = self
                .failed
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(t, _)| *t);
            if let Some(oldest) = oldest {
                self.failed.remove(&oldest);
            }
        }
        self.failed.insert(target, now + config.dns.failed_target_memory);
    }

    fn walk(
        &self,
        config: &EndpointConfig,
        now: Instant,
        spec: &Spec,
        draw: Option<&mut dyn FnMut() -> u64>,
    ) -> plan::Walk {
        let lookup = |t: RecordType, name: &str| {
            self.cache
                .get(&(t, name.to_owned()))
                .filter(|cached| cached.expires > now)
                .map(|cached| cached.records.as_ref().map_err(|e| *e))
        };
        let cx = plan::Context {
            enabled: &config.transports,
            address_type: if config.local.is_ipv4() {
                RecordType::A
            } else {
                RecordType::Aaaa
            },
            lookup: &lookup,
        };
        plan::walk(spec, &cx, draw)
    }

    /// The ordered targets of a spec whose answers are all in: failed targets last.
    fn finish(
        &mut self,
        config: &EndpointConfig,
        now: Instant,
        spec: &Spec,
        draw: &mut dyn FnMut() -> u64,
    ) -> Result<Plan, Unlocatable> {
        let walk = self.walk(config, now, spec, Some(draw));
        self.failed.retain(|_, until| *until > now);
        let (fresh, failed): (Vec<Target>, Vec<Target>) = walk
            .targets
            .into_iter()
            .partition(|t| !self.failed.contains_key(t));
        let targets: VecDeque<Target> = fresh.into_iter().chain(failed).collect();
        if targets.is_empty() {
            Err(Unlocatable::NoTargets(spec.describe()))
        } else {
            Ok(Plan {
                targets,
                server_name: spec.host_name().map(str::to_owned),
            })
        }
    }

    fn ask(
        &mut self,
        config: &EndpointConfig,
        timers: &mut TimerQueue<TimerId>,
        ids: &mut IdCounter,
        now: Instant,
        missing: Vec<(RecordType, String)>,
    ) {
        for key in missing {
            if self.asked.contains_key(&key) {
                continue;
            }
            let id = DnsQueryId(ids.next());
            let deadline = timers.insert(now + config.dns.query_timeout, TimerId::Dns { query: id });
            self.queries.push_back(DnsQuery {
                id,
                name: key.1.clone(),
                record_type: key.0,
            });
            self.asked.insert(key.clone(), id);
            self.questions.insert(id, Question { key, deadline });
        }
    }

    fn remember(
        &mut self,
        config: &EndpointConfig,
        now: Instant,
        key: (RecordType, String),
        records: Result<DnsRecords, DnsError>,
        ttl: Duration,
    ) {
        if self.cache.len() >= config.dns.max_cache_entries && !self.cache.contains_key(&key) {
            // Expired answers go first; else the one that expires soonest.
            self.cache.retain(|_, cached| cached.expires > now);
            if self.cache.len() >= config.dns.max_cache_entries {
                let soonest = self
                    .cache
                    .iter()
                    .min_by_key(|(_, cached)| cached.expires)
                    .map(|(key, _)| key.clone());
                if let Some(soonest) = soonest {
                    self.cache.remove(&soonest);
                }
            }
        }
        self.cache.insert(
            key,
            Cached {
                records,
                expires: now + ttl,
            },
        );
    }
}

/// The record type an answer to a question of `asked` carries (addresses for A and AAAA).
fn record_family(asked: RecordType) -> RecordType {
    match asked {
        RecordType::Aaaa => RecordType::A,
        other => other,
    }
}
