//! Scale-out behind an existing engine: Kamailio's `dispatcher` module spreads SIPp's
//! calls (its built-in `uac` scenario) over two `sipua listen` processes on loopback.
//!
//! - Round robin over both: no call fails and each instance answers about half.
//! - One instance stopped gracefully mid-run (SIGTERM): it refuses new requests with 503
//!   (the dispatcher fails the INVITE over to the other, and its OPTIONS probe marks the
//!   instance inactive), finishes the calls it has and exits by itself; no call is lost.
//! - One instance killed outright (SIGKILL): the dispatcher's OPTIONS probes mark it
//!   inactive, and calls made after that all go to the survivor. (Calls in progress on the
//!   killed one are lost with it: nothing is asserted of them.)
//!
//! Ignored by default; `.ci/run` installs Kamailio and SIPp
//! (`tests/interop/install-peers.sh`) and runs them. Every process runs under `timeout`
//! on 127.0.0.1 and free ports and is stopped by its PID (`interop/common.rs`); the
//! `sipua` binary is this build's, built first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "interop/common.rs"]
mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Kamailio, Peer, STEP, SippTotals, free_port, run_sipua, signal_group, signal_program, sipp_totals, sipua,
};
use sip_tokio::{StatusCode, UserAgent};

/// Kamailio as a dispatcher in front of the instances in `@DIR@/dispatcher.list`: round
/// robin, an OPTIONS probe to each every second (one failure marks it inactive, one 200
/// active again), failover to the next on a 503 or a timeout, and calls' ACK and BYE sent
/// where their INVITE went. The file says why each setting is there; `bench/sipp-load.sh`
/// uses it too.
const DISPATCHER_CONFIG: &str = include_str!("interop/kamailio-dispatcher.cfg");

/// Calls per second SIPp makes: modest, for a 2-CPU machine running debug builds.
const RATE: u32 = 40;

/// How long each call lasts once answered: SIPp's `-d`, in milliseconds. A graceful stop
/// waits for the calls in progress, so about this long.
const CALL_MS: u32 = 1500;

/// One `sipua listen --auto-answer` instance.
struct Instance {
    port: u16,
    peer: Peer,
}

impl Instance {
    /// Starts one on a free port and waits until it listens.
    fn start(binary: &Path, name: &str) -> Instance {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        // Per-call lines too (no --quiet): the tests count the answered calls as they go.
        let peer = run_sipua(
            binary,
            name,
            &[
                "listen",
                "--bind",
                &bind,
                "--auto-answer",
                "--drain-timeout",
                "20",
            ],
        );
        let instance = Instance { port, peer };
        wait_until(&format!("{name} listening"), STEP, || {
            instance.peer.log().contains("listening on ")
        });
        instance
    }

    fn uri(&self) -> String {
        format!("sip:127.0.0.1:{}", self.port)
    }

    /// Calls it has answered so far (the caller's ACK received), from its per-call lines.
    fn answered_so_far(&self) -> usize {
        self.peer.log().matches("answered (ACK received)").count()
    }

    /// Its `summary:` line, printed as it exits, as name → count (`answered` → 120).
    fn summary(&self) -> Option<HashMap<String, usize>> {
        let log = self.peer.log();
        let line = log.lines().rev().find_map(|l| l.strip_prefix("summary: "))?;
        Some(
            line.split(", ")
                .filter_map(|item| {
                    let (name, count) = item.rsplit_once(' ')?;
                    Some((name.to_owned(), count.parse().ok()?))
                })
                .collect(),
        )
    }

    /// Stops it gracefully (SIGTERM) and waits for it to exit: its summary.
    fn stop(mut self) -> HashMap<String, usize> {
        signal_program(&self.peer.child, "-TERM");
        let exited = self.peer.wait_exit(STEP);
        assert_eq!(exited, Some(true), "did not exit well:\n{}", self.peer.log());
        let summary = self
            .summary()
            .unwrap_or_else(|| panic!("no summary:\n{}", self.peer.log()));
        self.peer.stop();
        summary
    }
}

/// Polls `condition` every 20 ms until it holds; panics after `within`.
fn wait_until(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let until = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < until, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kamailio dispatching over `instances`.
fn dispatcher(name: &str, instances: &[&Instance]) -> Kamailio {
    let list: String = instances.iter().map(|i| format!("1 {}\n", i.uri())).collect();
    let kamailio = Kamailio::start_with(name, DISPATCHER_CONFIG, &[("dispatcher.list", &list)]);
    // Both active before the first call (they listen already, so the first probes agree).
    for instance in instances {
        wait_until("the destinations active", STEP, || {
            destination_flags(&kamailio, instance).is_some_and(|f| f.starts_with('A'))
        });
    }
    kamailio
}

/// The dispatcher's flags for `instance` (`AP`: active, probed; `IP`: inactive), from
/// `kamcmd dispatcher.list` over the `ctl` socket.
fn destination_flags(kamailio: &Kamailio, instance: &Instance) -> Option<String> {
    let socket = format!("unix:{}", kamailio.dir().join("kamailio.ctl").display());
    let output = Command::new("timeout")
        .args(["5", "kamcmd", "-s", &socket, "dispatcher.list"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    // `URI: sip:127.0.0.1:PORT` and, a line below, `FLAGS: AP`.
    let uri = format!("URI: {}", instance.uri());
    let mut lines = text.lines().map(str::trim).skip_while(|l| *l != uri);
    lines.next()?;
    lines.find_map(|l| l.strip_prefix("FLAGS: ")).map(str::to_owned)
}

/// The failovers Kamailio logged so far.
fn failovers(kamailio: &Kamailio) -> usize {
    kamailio.log().matches("failover: ").count()
}

/// SIPp's `uac` placing `calls` calls through Kamailio on `port` at [`RATE`], each
/// [`CALL_MS`] long: its totals and its output.
async fn sipp_calls(port: u16, calls: u32) -> (SippTotals, String) {
    let args: Vec<String> = [
        "-sn",
        "uac",
        &format!("127.0.0.1:{port}"),
        "-i",
        "127.0.0.1",
        "-p",
        "0",
        "-r",
        &RATE.to_string(),
        "-m",
        &calls.to_string(),
        "-d",
        &CALL_MS.to_string(),
        "-nostdin",
        "-timeout",
        "40s",
    ]
    .map(String::from)
    .to_vec();
    let (_, output) = common::sipp(args).await;
    let totals = sipp_totals(&output).unwrap_or_else(|| panic!("no statistics from SIPp:\n{output}"));
    (totals, output)
}

/// Waits (without blocking the runtime) until `condition` holds; panics after `within`.
async fn wait_until_async(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let until = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < until, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio and sipp (tests/interop/install-peers.sh); run by .ci/run"]
async fn dispatcher_spreads_calls_over_two_instances() {
    let binary = sipua();
    let one = Instance::start(&binary, "ds-spread-one");
    let two = Instance::start(&binary, "ds-spread-two");
    let kamailio = dispatcher("ds-spread-kamailio", &[&one, &two]);
    let calls = 240;
    let (totals, output) = sipp_calls(kamailio.port, calls).await;
    let (one, two) = (one.stop(), two.stop());
    let context = format!("one: {one:?}\ntwo: {two:?}\nSIPp:\n{output}");
    assert_eq!(
        (totals.created, totals.successful, totals.failed),
        (u64::from(calls), u64::from(calls), 0),
        "{context}"
    );
    // Counted by the instances too, each call once, every one ended by the caller's BYE:
    // SIPp alone could count a retransmitted 200 to the INVITE as the 200 to its BYE.
    assert_eq!(one["answered"] + two["answered"], calls as usize, "{context}");
    for summary in [&one, &two] {
        assert_eq!(summary["caller hung up"], summary["answered"], "{context}");
        assert_eq!(summary["still up at the stop"], 0, "{context}");
        // Round robin: half each, give or take the odd call.
        let half = calls as usize / 2;
        assert!(
            summary["answered"].abs_diff(half) <= calls as usize / 10,
            "{context}"
        );
    }
    assert_eq!(failovers(&kamailio), 0, "{}", kamailio.log());
    kamailio.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio and sipp (tests/interop/install-peers.sh); run by .ci/run"]
async fn a_gracefully_stopped_instance_loses_no_call() {
    let binary = sipua();
    let mut leaving = Instance::start(&binary, "ds-graceful-leaving");
    let staying = Instance::start(&binary, "ds-graceful-staying");
    let kamailio = dispatcher("ds-graceful-kamailio", &[&leaving, &staying]);
    let calls = 240u32;
    let sipp = tokio::spawn(sipp_calls(kamailio.port, calls));
    // Mid-run: once it has a share of calls in progress (and SIPp has ~5 s still to go).
    wait_until_async("calls answered by the instance to stop", STEP, || {
        leaving.answered_so_far() >= 20
    })
    .await;
    signal_program(&leaving.peer.child, "-TERM");
    let stopped_at = Instant::now();
    // Draining, it answers OPTIONS — the dispatcher's probe — with 503 (RFC 3261 §11.2:
    // as it would an INVITE). Its calls in progress (~1.5 s of them) keep it up meanwhile.
    let prober = UserAgent::builder().start().await.unwrap();
    let mut probe = prober.options(&leaving.uri()).await.ok();
    while probe != Some(StatusCode::SERVICE_UNAVAILABLE) && stopped_at.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        probe = prober.options(&leaving.uri()).await.ok();
    }
    prober.shutdown(Duration::from_millis(100)).await;
    // It exits by itself once its calls have ended: well within --drain-timeout.
    let exited = tokio::task::block_in_place(|| leaving.peer.wait_exit(Duration::from_secs(10)));
    let drained_in = stopped_at.elapsed();
    let (totals, output) = sipp.await.unwrap();
    let left = leaving.summary();
    let leaving_log = leaving.peer.log();
    let stayed = staying.stop();
    let context = format!(
        "left: {left:?} (exited {exited:?} after {drained_in:?})\nstayed: {stayed:?}\n\
         ---- the instance stopped ----\n{leaving_log}\n---- SIPp ----\n{output}"
    );
    assert_eq!(
        probe,
        Some(StatusCode::SERVICE_UNAVAILABLE),
        "a draining instance answers OPTIONS 503\n{context}"
    );
    assert_eq!(exited, Some(true), "{context}");
    assert!(leaving_log.contains("drained: every call has ended"), "{context}");
    let left = left.expect("its summary");
    assert_eq!(left["still up at the stop"], 0, "{context}");
    assert_eq!(left["caller hung up"], left["answered"], "{context}");
    // No call lost: every one SIPp made succeeded, answered by one instance or the other.
    assert_eq!(
        (totals.created, totals.successful, totals.failed),
        (u64::from(calls), u64::from(calls), 0),
        "{context}"
    );
    assert_eq!(left["answered"] + stayed["answered"], calls as usize, "{context}");
    // It left mid-run, and the other took the rest.
    assert!(left["answered"] < calls as usize / 3, "{context}");
    assert!(stayed["answered"] > calls as usize * 2 / 3, "{context}");
    leaving.peer.stop();
    kamailio.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kamailio and sipp (tests/interop/install-peers.sh); run by .ci/run"]
async fn a_killed_instance_is_routed_around_after_the_probe() {
    let binary = sipua();
    let killed = Instance::start(&binary, "ds-killed-killed");
    let survivor = Instance::start(&binary, "ds-killed-survivor");
    let kamailio = dispatcher("ds-killed-kamailio", &[&killed, &survivor]);
    // A first batch, during which one instance dies.
    let first = tokio::spawn(sipp_calls(kamailio.port, 200));
    wait_until_async("calls answered by the instance to kill", STEP, || {
        killed.answered_so_far() >= 20
    })
    .await;
    signal_group(&killed.peer.child, "-KILL");
    let killed_at = Instant::now();
    // Its probes go unanswered: within a probe interval or two (1 s each) it is inactive.
    wait_until_async("the killed instance marked inactive", STEP, || {
        destination_flags(&kamailio, &killed).is_some_and(|f| f.starts_with('I'))
    })
    .await;
    let detected_in = killed_at.elapsed();
    // Calls in progress there are lost with it: the first batch's totals are not checked.
    let _ = first.await.unwrap();
    let survivor_before = survivor.answered_so_far();
    let failovers_before = failovers(&kamailio);

    // Calls made from now on all succeed, all on the survivor, and none is even tried on
    // the dead instance first (no failover: the dispatcher leaves it out).
    let calls = 100;
    let (totals, output) = sipp_calls(kamailio.port, calls).await;
    let failovers_after = failovers(&kamailio);
    let survivor_answered = survivor.answered_so_far() - survivor_before;
    let stayed = survivor.stop();
    let context = format!(
        "detected in {detected_in:?}; survivor: {stayed:?}\n---- SIPp ----\n{output}\n\
         ---- kamailio ----\n{}",
        kamailio.log()
    );
    assert_eq!(
        (totals.created, totals.successful, totals.failed),
        (u64::from(calls), u64::from(calls), 0),
        "{context}"
    );
    assert_eq!(survivor_answered, calls as usize, "{context}");
    assert_eq!(failovers_after, failovers_before, "{context}");
    assert!(detected_in < Duration::from_secs(5), "{context}");
    killed.peer.stop();
    kamailio.stop();
}
