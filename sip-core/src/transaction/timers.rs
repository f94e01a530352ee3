//! The timers of RFC 3261 §17 (Table 4) and RFC 6026, from T1, T2 and T4.

use std::fmt;
use std::time::Duration;

/// The base timer values (RFC 3261 §17.1.1.1, Table 4). Defaults: T1 500 ms, T2 4 s, T4 5 s.
///
/// ```
/// use std::time::Duration;
/// use sip_core::transaction::{Timer, TimerConfig};
/// let timers = TimerConfig::default();
/// assert_eq!(timers.duration(Timer::B, false), Duration::from_secs(32));
/// assert_eq!(timers.duration(Timer::K, true), Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerConfig {
    /// RTT estimate (default 500 ms).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses (default 4 s).
    pub t2: Duration,
    /// Maximum time a message remains in the network (default 5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// The transaction timers of RFC 3261 Table 4 and RFC 6026 §8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE request retransmit interval, UDP only (client).
    A,
    /// INVITE transaction timeout (client).
    B,
    /// Proxy INVITE transaction timeout (proxies only).
    C,
    /// Wait time for response retransmits after a non-2xx final response (client INVITE).
    D,
    /// Non-INVITE request retransmit interval, UDP only (client).
    E,
    /// Non-INVITE transaction timeout (client).
    F,
    /// INVITE response retransmit interval (server).
    G,
    /// Wait time for ACK receipt (server INVITE).
    H,
    /// Wait time for ACK retransmits (server INVITE).
    I,
    /// Wait time for non-INVITE request retransmits (server).
    J,
    /// Wait time for response retransmits (client non-INVITE).
    K,
    /// Wait time for accepted INVITE request retransmits (server, RFC 6026).
    L,
    /// Wait time for retransmission of 2xx to INVITE (client, RFC 6026).
    M,
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timer {self:?}")
    }
}

impl TimerConfig {
    /// The initial value of `timer` over a reliable (`true`: TCP, TLS, SCTP, WS) or
    /// unreliable (UDP) transport, exactly as RFC 3261 Table 4 and RFC 6026 give them.
    /// Retransmission timers (A, E, G) start here and double; over a reliable transport
    /// they are not used at all, which [`TimerConfig::runs`] says.
    pub fn duration(&self, timer: Timer, reliable: bool) -> Duration {
        let sixty_four_t1 = self.t1 * 64;
        match timer {
            Timer::A | Timer::E | Timer::G => self.t1,
            Timer::B | Timer::F | Timer::H | Timer::L | Timer::M => sixty_four_t1,
            Timer::C => Duration::from_secs(180),
            // "> 32s for UDP, 0s for TCP/SCTP"
            Timer::D if reliable => Duration::ZERO,
            Timer::D => Duration::from_secs(32).max(sixty_four_t1 / 2),
            Timer::I | Timer::K if reliable => Duration::ZERO,
            Timer::I | Timer::K => self.t4,
            Timer::J if reliable => Duration::ZERO,
            Timer::J => sixty_four_t1,
        }
    }

    /// False for the retransmission timers over a reliable transport (RFC 3261 §17.1.1.2,
    /// §17.1.2.2, §17.2.1: A, E and G run over UDP only).
    pub fn runs(&self, timer: Timer, reliable: bool) -> bool {
        !(reliable && matches!(timer, Timer::A | Timer::E | Timer::G))
    }

    /// The retransmit interval after `previous`: doubled, capped at T2 for E and G
    /// (RFC 3261 §17.1.2.2, §17.2.1); Timer A has no cap (§17.1.1.2).
    pub fn backoff(&self, timer: Timer, previous: Duration) -> Duration {
        let doubled = previous * 2;
        match timer {
            Timer::E | Timer::G => doubled.min(self.t2),
            _ => doubled,
        }
    }
}

/// T1, T2 and T4 as a machine keeps them: microseconds in `u32`s (12 bytes instead of 48;
/// a live transaction is mostly its bytes, so this matters at a million of them). Values
/// beyond ~71 minutes saturate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompactTimers {
    t1: u32,
    t2: u32,
    t4: u32,
}

impl CompactTimers {
    pub(crate) fn new(config: TimerConfig) -> Self {
        CompactTimers {
            t1: to_micros(config.t1),
            t2: to_micros(config.t2),
            t4: to_micros(config.t4),
        }
    }

    pub(crate) fn config(self) -> TimerConfig {
        TimerConfig {
            t1: from_micros(self.t1),
            t2: from_micros(self.t2),
            t4: from_micros(self.t4),
        }
    }
}

/// A duration in whole microseconds, saturating at `u32::MAX`.
pub(crate) fn to_micros(duration: Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX)
}

pub(crate) fn from_micros(micros: u32) -> Duration {
    Duration::from_micros(u64::from(micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// RFC 3261 Table 4 (and RFC 6026 §8 for L and M), line by line, with the default T1,
    /// T2, T4, for UDP and for reliable transports.
    #[test]
    fn timer_table_matches_rfc3261_table_4() {
        let t = TimerConfig::default();
        // (timer, UDP value, reliable value, runs over a reliable transport)
        let table = [
            (Timer::A, ms(500), ms(500), false),        // initially T1
            (Timer::B, ms(32_000), ms(32_000), true),   // 64*T1
            (Timer::C, ms(180_000), ms(180_000), true), // > 3min
            (Timer::D, ms(32_000), ms(0), true),        // > 32s for UDP, 0s for TCP/SCTP
            (Timer::E, ms(500), ms(500), false),        // initially T1
            (Timer::F, ms(32_000), ms(32_000), true),   // 64*T1
            (Timer::G, ms(500), ms(500), false),        // initially T1
            (Timer::H, ms(32_000), ms(32_000), true),   // 64*T1
            (Timer::I, ms(5_000), ms(0), true),         // T4 for UDP, 0s for TCP/SCTP
            (Timer::J, ms(32_000), ms(0), true),        // 64*T1 for UDP, 0s for TCP/SCTP
            (Timer::K, ms(5_000), ms(0), true),         // T4 for UDP, 0s for TCP/SCTP
            (Timer::L, ms(32_000), ms(32_000), true),   // 64*T1 (RFC 6026)
            (Timer::M, ms(32_000), ms(32_000), true),   // 64*T1 (RFC 6026)
        ];
        for (timer, udp, reliable, runs_reliable) in table {
            assert_eq!(t.duration(timer, false), udp, "{timer} over UDP");
            assert!(t.runs(timer, false), "{timer} runs over UDP");
            assert_eq!(
                t.runs(timer, true),
                runs_reliable,
                "{timer} over a reliable transport"
            );
            if runs_reliable {
                assert_eq!(
                    t.duration(timer, true),
                    reliable,
                    "{timer} over a reliable transport"
                );
            }
        }
    }

    #[test]
    fn e_and_g_double_up_to_t2_but_a_does_not_stop() {
        let t = TimerConfig::default();
        let schedule = |timer| {
            let mut interval = t.duration(timer, false);
            let mut out = vec![interval];
            for _ in 0..6 {
                interval = t.backoff(timer, interval);
                out.push(interval);
            }
            out
        };
        let e = [500, 1000, 2000, 4000, 4000, 4000, 4000].map(ms);
        assert_eq!(schedule(Timer::E), e);
        assert_eq!(schedule(Timer::G), e);
        assert_eq!(
            schedule(Timer::A),
            [500, 1000, 2000, 4000, 8000, 16000, 32000].map(ms)
        );
    }

    #[test]
    fn timers_scale_with_configured_t1() {
        let t = TimerConfig {
            t1: ms(100),
            t2: ms(400),
            t4: ms(1000),
        };
        assert_eq!(t.duration(Timer::B, false), ms(6400));
        assert_eq!(t.duration(Timer::K, false), ms(1000));
        assert_eq!(t.duration(Timer::D, false), ms(32_000), "D is at least 32 s");
    }
}
