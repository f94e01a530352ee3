//! Interop with SIPp over loopback: SIPp's built-in `uac` against our answering agent
//! (UDP and TCP) and against `sipua listen`'s answers, and our calls against SIPp's
//! built-in `uas`. SIPp exits 0 only when every call succeeded. Ignored by default;
//! `.ci/run` installs SIPp and runs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "interop/common.rs"]
mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{free_port, wait_udp_bound};
use sip_core::sdp::SessionDescription;
use sip_tokio::{CallEvent, EndReason, UserAgent};

const CALLS: usize = 200;

fn sdp(ip: IpAddr) -> Bytes {
    SessionDescription::simple_audio("sip-tokio", 1, ip, 40_000, &[0, 8, 101]).to_bytes()
}

/// Runs SIPp with `args` (bounded by its own -timeout and ours) and returns its exit
/// status and output.
async fn sipp(mut args: Vec<String>) -> (bool, String) {
    args.extend(["-nostdin", "-timeout", "45s"].map(String::from));
    common::sipp(args).await
}

/// An agent that answers every call at once and lets the caller hang up.
async fn answering_agent(tcp: bool) -> UserAgent {
    let ua = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .tcp(tcp)
        .start()
        .await
        .unwrap();
    let mut incoming = ua.incoming().await.unwrap();
    let ip = ua.local_addr().ip();
    tokio::spawn(async move {
        while let Some(mut call) = incoming.next().await {
            tokio::spawn(async move {
                let _ = call.ringing().await;
                let _ = call.answer(sdp(ip), None).await;
                let _ = call.ended().await;
            });
        }
    });
    ua
}

async fn sipp_uac_against_us(tcp: bool) {
    let ua = answering_agent(tcp).await;
    let mut args = vec![
        "-sn".to_owned(),
        "uac".to_owned(),
        ua.local_addr().to_string(),
        "-i".to_owned(),
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        "0".to_owned(),
        "-m".to_owned(),
        CALLS.to_string(),
        "-r".to_owned(),
        "50".to_owned(),
        "-l".to_owned(),
        "50".to_owned(),
    ];
    if tcp {
        args.extend(["-t".to_owned(), "t1".to_owned()]);
    }
    let (ok, output) = sipp(args).await;
    assert!(ok, "sipp reported failed calls:\n{output}");
    ua.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs sipp (apt-get install -y sip-tester); run by .ci/run"]
async fn sipp_uac_over_udp() {
    sipp_uac_against_us(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs sipp (apt-get install -y sip-tester); run by .ci/run"]
async fn sipp_uac_over_tcp() {
    sipp_uac_against_us(true).await;
}

/// SIPp's built-in `uac` offers PCMU alone (`m=audio ... RTP/AVP 0`, see `sipp -sd uac`):
/// `sipua listen`'s answer lists PCMU alone too, since an answer carries only offered
/// formats (RFC 3264 §6.1). SIPp's message trace shows the 200 it got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs sipp (apt-get install -y sip-tester); run by .ci/run"]
async fn sipp_uac_offering_pcmu_only_gets_pcmu_only() {
    use sip_tokio::listen::{ListenOptions, Listener};
    let options = ListenOptions {
        auto_answer: true,
        max_calls: Some(1),
        duration: Some(Duration::from_secs(50)),
        quiet: true,
        ..ListenOptions::default()
    };
    let listener = Listener::bind(options).await.unwrap();
    let target = listener.local_addr().to_string();
    let server = tokio::spawn(listener.run(std::io::sink(), std::future::pending()));
    let trace = std::env::temp_dir().join(format!("sipp-pcmu-only-{}.log", std::process::id()));
    let (ok, output) = sipp(vec![
        "-sn".to_owned(),
        "uac".to_owned(),
        target,
        "-i".to_owned(),
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        "0".to_owned(),
        "-m".to_owned(),
        "1".to_owned(),
        "-trace_msg".to_owned(),
        "-message_file".to_owned(),
        trace.display().to_string(),
    ])
    .await;
    let messages = std::fs::read_to_string(&trace).unwrap_or_default();
    let _ = std::fs::remove_file(&trace);
    assert!(ok, "sipp reported a failed call:\n{output}\n{messages}");
    let report = server.await.unwrap();
    assert_eq!((report.answered, report.remote_bye), (1, 1), "{report:?}");
    // The 200 OK SIPp received, up to the next message in the trace.
    let ok_200 = messages
        .split("SIP/2.0 200 OK")
        .skip(1)
        .map(|rest| rest.split("\n----").next().unwrap_or(rest))
        .find(|message| message.contains("CSeq: 1 INVITE"))
        .unwrap_or_else(|| panic!("no 200 to the INVITE in SIPp's trace:\n{messages}"));
    let media: Vec<&str> = ok_200
        .lines()
        .filter(|line| line.starts_with("m="))
        .map(str::trim_end)
        .collect();
    assert_eq!(media.len(), 1, "{ok_200}");
    let formats: Vec<&str> = media[0].split(' ').skip(3).collect();
    assert_eq!(formats, ["0"], "{ok_200}");
    assert!(
        !ok_200.contains("PCMA") && !ok_200.contains("telephone-event"),
        "{ok_200}"
    );
}

/// What `sipua call --count 200` does, in process: calls at a fixed rate, each hung up
/// right after the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs sipp (apt-get install -y sip-tester); run by .ci/run"]
async fn our_calls_against_sipp_uas() {
    // A free port for SIPp (released just before SIPp binds it).
    let port = free_port();
    let server = tokio::spawn(sipp(vec![
        "-sn".to_owned(),
        "uas".to_owned(),
        "-i".to_owned(),
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        port.to_string(),
        "-m".to_owned(),
        CALLS.to_string(),
    ]));
    wait_udp_bound(port).await;
    let ua = UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .unwrap();
    let target = format!("sip:service@127.0.0.1:{port}");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..CALLS {
        tokio::time::sleep_until((started + Duration::from_millis(10 * i as u64)).into()).await;
        let ua = ua.clone();
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut call = ua.call(&target, sdp(ua.local_addr().ip()), None).await?;
            loop {
                match call.next_event().await {
                    Some(CallEvent::Answered { .. }) => break,
                    Some(CallEvent::Terminated { reason, .. }) => return Ok(Some(reason)),
                    Some(_) => {}
                    None => return Err(sip_tokio::Error::Closed),
                }
            }
            call.hangup().await?;
            Ok::<_, sip_tokio::Error>(call.ended().await)
        }));
    }
    let mut ok = 0;
    for task in tasks {
        let result = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .unwrap()
            .unwrap();
        if let Ok(Some(EndReason::LocalBye)) = result {
            ok += 1;
        }
    }
    ua.shutdown(Duration::from_secs(2)).await;
    assert_eq!(ok, CALLS);
    let (sipp_ok, output) = tokio::time::timeout(Duration::from_secs(90), server)
        .await
        .unwrap()
        .unwrap();
    assert!(sipp_ok, "sipp uas reported failures:\n{output}");
}
