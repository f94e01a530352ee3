//! Transfer interop with real peers over loopback: SIPp (scenario files in
//! `tests/interop/`), baresip and linphone (`linphonec`), each in every role it can take.
//! Ignored by default; `.ci/run` installs the peers (`tests/interop/install-peers.sh`) and
//! runs them. Each peer runs under `timeout`, on 127.0.0.1 and a free port, and is stopped
//! by its PID (the launchers, shared with the other interop tests, are in
//! `interop/common.rs`).
//!
//! | peer | role | against |
//! |---|---|---|
//! | SIPp | transferor | our transferee (`sipua listen --accept-refer`) and target |
//! | SIPp | transferor, target busy | the same, target answering 486 |
//! | SIPp | REFER receiver | our transferor (`Call::refer`) |
//! | baresip | transferee | our transferor and target; target busy |
//! | linphone | transferee, blind and attended | our transferor and target |
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "interop/common.rs"]
mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{Peer, STEP, free_port, scratch, sdp, under_timeout, wait_for, wait_udp_bound};
use sip_tokio::listen::{ListenOptions, ListenReport, Listener};
use sip_tokio::{Call, CallEvent, CallState, EndReason, TransferEvent, UserAgent};
use tokio::time::timeout;

fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
        .display()
        .to_string()
}

/// Runs SIPp with `args` for one call on 127.0.0.1 (bounded by its own -timeout and
/// ours); its exit status and output.
async fn sipp(mut args: Vec<String>) -> (bool, String) {
    args.extend(
        [
            "-ci",
            "127.0.0.1",
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "30s",
            "-timeout_error",
        ]
        .map(String::from),
    );
    common::sipp(args).await
}

/// A listener (`sipua listen`) serving in the background, and how to stop it.
struct Serving {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<(ListenReport, String)>,
}

impl Serving {
    async fn start(options: ListenOptions) -> Serving {
        let listener = Listener::bind(ListenOptions {
            duration: Some(Duration::from_secs(60)),
            ..options
        })
        .await
        .unwrap();
        let addr = listener.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut printed = Vec::new();
            let report = listener
                .run(&mut printed, async {
                    let _ = stopped.await;
                })
                .await;
            (report, String::from_utf8_lossy(&printed).into_owned())
        });
        Serving { addr, stop, task }
    }

    async fn finish(self) -> (ListenReport, String) {
        let _ = self.stop.send(());
        self.task.await.unwrap()
    }
}

fn answering() -> ListenOptions {
    ListenOptions {
        auto_answer: true,
        ..ListenOptions::default()
    }
}

// ---- SIPp ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs sipp; run by .ci/run"]
async fn sipp_transferor_moves_our_transferee_to_our_target() {
    let bob = Serving::start(ListenOptions {
        accept_refer: true,
        ..answering()
    })
    .await;
    let carol = Serving::start(answering()).await;
    let (ok, output) = sipp(vec![
        "-sf".into(),
        scenario("refer_transferor.xml"),
        "-p".into(),
        free_port().to_string(),
        "-mp".into(),
        free_port().to_string(),
        "-s".into(),
        "bob".into(),
        "-key".into(),
        "refer_to".into(),
        format!("sip:carol@{}", carol.addr),
        bob.addr.to_string(),
    ])
    .await;
    let (bobs, bob_log) = bob.finish().await;
    let (carols, _) = carol.finish().await;
    assert!(ok, "SIPp's transfer failed:\n{output}\n{bob_log}");
    assert_eq!((bobs.transfers, bobs.transfers_answered), (1, 1), "{bob_log}");
    assert_eq!(carols.answered, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs sipp; run by .ci/run"]
async fn sipp_transferor_hears_a_busy_target_fail_the_transfer() {
    let bob = Serving::start(ListenOptions {
        accept_refer: true,
        ..answering()
    })
    .await;
    let carol = Serving::start(ListenOptions {
        reject: Some(486),
        ..ListenOptions::default()
    })
    .await;
    let (ok, output) = sipp(vec![
        "-sf".into(),
        scenario("refer_transferor_expect_fail.xml"),
        "-p".into(),
        free_port().to_string(),
        "-mp".into(),
        free_port().to_string(),
        "-s".into(),
        "bob".into(),
        "-key".into(),
        "refer_to".into(),
        format!("sip:carol@{}", carol.addr),
        bob.addr.to_string(),
    ])
    .await;
    let (bobs, bob_log) = bob.finish().await;
    let _ = carol.finish().await;
    assert!(ok, "SIPp did not hear the failure:\n{output}\n{bob_log}");
    assert_eq!((bobs.transfers, bobs.transfers_answered), (1, 0), "{bob_log}");
}

async fn alice() -> UserAgent {
    UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .identity("sip:alice@127.0.0.1")
        .start()
        .await
        .unwrap()
}

/// Every event of a transfer, to its end.
async fn transfer_events(call: &Call, target: &str) -> Vec<TransferEvent> {
    let mut transfer = call.refer(target).await.unwrap();
    let mut events = Vec::new();
    timeout(STEP, async {
        while let Some(event) = transfer.next_event().await {
            events.push(event);
        }
    })
    .await
    .expect("the transfer ends in time");
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs sipp; run by .ci/run"]
async fn our_transferor_against_a_sipp_refer_receiver() {
    let port = free_port();
    let receiver = tokio::spawn(sipp(vec![
        "-sf".into(),
        scenario("refer_receiver_uas.xml"),
        "-p".into(),
        port.to_string(),
        "-mp".into(),
        free_port().to_string(),
    ]));
    wait_udp_bound(port).await;
    let alice = alice().await;
    let mut call = alice
        .call(&format!("sip:bob@127.0.0.1:{port}"), sdp("alice"), None)
        .await
        .unwrap();
    wait_for(&mut call, "answer", |e| matches!(e, CallEvent::Answered { .. })).await;
    let events = transfer_events(&call, "sip:carol@127.0.0.1:9").await;
    assert_eq!(
        events,
        [
            TransferEvent::Accepted,
            TransferEvent::Progress(sip_tokio::StatusCode::TRYING),
            TransferEvent::Succeeded
        ]
    );
    assert_eq!(
        timeout(STEP, call.ended()).await.unwrap(),
        Some(EndReason::Transferred)
    );
    let (ok, output) = timeout(Duration::from_secs(60), receiver).await.unwrap().unwrap();
    assert!(ok, "SIPp's REFER receiver failed:\n{output}");
    alice.shutdown(Duration::from_secs(1)).await;
}

// ---- baresip and linphone as the transferee ----

/// baresip (`common::baresip`), answering every call, taking REFER (`call_transfer=yes`;
/// its `menu` module places the new call), on `port`.
fn baresip(port: u16) -> Peer {
    common::baresip(
        "baresip",
        port,
        &format!("<sip:bob@127.0.0.1:{port}>;answermode=auto;regint=0;call_transfer=yes;audio_codecs=PCMU"),
        None,
    )
}

/// linphonec, headless (no sound card: `soundcard use files`), auto-answering, on `port`;
/// its own HOME, as it writes a database there and rewrites its configuration on exit.
fn linphone(port: u16) -> Peer {
    let dir = scratch("linphone");
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".local/share/linphone")).unwrap();
    let rtp = free_port();
    std::fs::write(
        dir.join("linphonerc"),
        format!(
            "[sip]\nsip_port={port}\nsip_tcp_port=0\nsip_tls_port=0\nbind_address=127.0.0.1\n\
             contact=sip:linphone@127.0.0.1:{port}\nguess_hostname=0\ndefault_proxy=-1\n\
             register_only_when_network_is_up=0\nipv6=0\ninc_timeout=30\n\
             [rtp]\nbind_address=127.0.0.1\naudio_rtp_port={rtp}\nvideo_rtp_port={}\ntext_rtp_port={}\n\
             [sound]\nechocancellation=0\n[video]\nenabled=0\ncapture=0\ndisplay=0\n",
            rtp + 10,
            rtp + 20
        ),
    )
    .unwrap();
    let log = dir.join("linphone.log");
    let child = under_timeout("linphonec")
        .arg("-c")
        .arg(dir.join("linphonerc"))
        .args(["-a", "-d", "6", "-l"])
        .arg(&log)
        .env("HOME", &home)
        .current_dir(&home)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run linphonec");
    let mut peer = Peer::new(child, log);
    peer.stdin = peer.child.stdin.take();
    peer.command("soundcard use files");
    peer
}

/// Calls `user@127.0.0.1:port` until a peer that is still starting answers.
async fn call_peer(alice: &UserAgent, user: &str, port: u16) -> Call {
    for _ in 0..20 {
        let mut call = alice
            .call(&format!("sip:{user}@127.0.0.1:{port}"), sdp("alice"), None)
            .await
            .unwrap();
        let answered = timeout(STEP, async {
            loop {
                match call.next_event().await {
                    Some(CallEvent::Answered { .. }) => return true,
                    Some(CallEvent::Terminated { .. }) | None => return false,
                    Some(_) => {}
                }
            }
        })
        .await
        .unwrap_or(false);
        if answered {
            return call;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{user} at port {port} never answered");
}

/// Alice transfers the peer (`user` at `port`) to Carol blind, and, when `busy`, Carol
/// refuses with 486 first: the transfer fails and the call goes on.
async fn blind_transfer_through(peer: Peer, user: &str, port: u16) {
    let alice = alice().await;
    let carol = Serving::start(answering()).await;
    let busy = Serving::start(ListenOptions {
        reject: Some(486),
        ..ListenOptions::default()
    })
    .await;

    let call = call_peer(&alice, user, port).await;
    let failed = transfer_events(&call, &format!("sip:busy@{}", busy.addr)).await;
    assert_eq!(
        failed.last(),
        Some(&TransferEvent::Failed(Some(sip_tokio::StatusCode::BUSY_HERE))),
        "{failed:?}\n{}",
        peer.log()
    );
    assert!(matches!(
        call.state().await.unwrap(),
        CallState::Connected | CallState::Hold
    ));
    // linphone takes the call off hold after a failed transfer (a re-INVITE) and answers a
    // REFER that crosses it with 491: let it finish.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let events = transfer_events(&call, &format!("sip:carol@{}", carol.addr)).await;
    assert_eq!(
        events.last(),
        Some(&TransferEvent::Succeeded),
        "{events:?}\n{}",
        peer.log()
    );
    let mut call = call;
    assert_eq!(
        timeout(STEP, call.ended()).await.unwrap(),
        Some(EndReason::Transferred)
    );
    // The peer talks to Carol now; stopping it ends that call too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    peer.stop();
    let (carols, log) = carol.finish().await;
    let _ = busy.finish().await;
    assert_eq!(carols.answered, 1, "{log}");
    alice.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs baresip; run by .ci/run"]
async fn baresip_follows_our_blind_transfer() {
    let port = free_port();
    blind_transfer_through(baresip(port), "bob", port).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs linphone-cli; run by .ci/run"]
async fn linphone_follows_our_blind_transfer() {
    let port = free_port();
    blind_transfer_through(linphone(port), "linphone", port).await;
}

/// Attended: Alice consults Carol, then transfers linphone to that call; linphone's INVITE
/// carries the Replaces, and Carol's new call takes the place of hers with Alice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs linphone-cli; run by .ci/run"]
async fn linphone_follows_our_attended_transfer() {
    let port = free_port();
    let peer = linphone(port);
    let alice = alice().await;
    let carol = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let mut carols_calls = carol.incoming().await.unwrap();
    let carol_answers = tokio::spawn(async move {
        let mut calls = Vec::new();
        while let Some(call) = carols_calls.next().await {
            call.answer(sdp("carol"), None).await.unwrap();
            calls.push(call);
            if calls.len() == 2 {
                return calls;
            }
        }
        calls
    });
    let with_linphone = call_peer(&alice, "linphone", port).await;
    let mut with_carol = alice
        .call(&format!("sip:carol@{}", carol.local_addr()), sdp("alice"), None)
        .await
        .unwrap();
    wait_for(&mut with_carol, "answer", |e| {
        matches!(e, CallEvent::Answered { .. })
    })
    .await;
    let mut transfer = with_linphone.attended_transfer(&with_carol).await.unwrap();
    let outcome = timeout(STEP, transfer.outcome()).await.unwrap();
    assert!(outcome.is_ok(), "{outcome:?}\n{}", peer.log());
    let mut calls = timeout(STEP, carol_answers).await.unwrap().unwrap();
    let mut replacing = calls.pop().unwrap();
    let mut replaced = calls.pop().unwrap();
    let said = timeout(STEP, async {
        loop {
            match replacing.next_event().await {
                Some(CallEvent::Replacing { replaced }) => return Some(replaced),
                Some(CallEvent::Terminated { .. }) | None => return None,
                Some(_) => {}
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(said, Some(replaced.id()), "{}", peer.log());
    assert_eq!(
        timeout(STEP, replaced.ended()).await.unwrap(),
        Some(EndReason::Replaced)
    );
    assert_eq!(
        timeout(STEP, with_carol.ended()).await.unwrap(),
        Some(EndReason::RemoteBye)
    );
    peer.stop();
    for ua in [alice, carol] {
        ua.shutdown(Duration::from_secs(1)).await;
    }
}
