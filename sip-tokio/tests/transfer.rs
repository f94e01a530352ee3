//! Transfers over real sockets on loopback: Alice (transferor), Bob (transferee) and Carol
//! (target) are three user agents; the protocol is the core's, checked in the simulator —
//! here, that the handles carry it: `Call::refer`, `Call::attended_transfer`,
//! `IncomingRefer`, `Transfer`'s events and the calls' ends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use bytes::Bytes;
use sip_tokio::{Call, CallEvent, CallState, EndReason, Error, IncomingCalls, TransferEvent, UserAgent};
use tokio::time::timeout;

async fn agent(accept_refer: bool) -> UserAgent {
    UserAgent::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .accept_refer(accept_refer)
        .start()
        .await
        .unwrap()
}

/// Answers every call that comes to `incoming`, and hands each on.
fn answer_all(mut incoming: IncomingCalls) -> tokio::sync::mpsc::Receiver<Call> {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        while let Some(call) = incoming.next().await {
            call.answer(Bytes::new(), None).await.unwrap();
            if tx.send(call).await.is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits until `call` reports `state`.
async fn until_state(call: &mut Call, state: CallState) {
    timeout(Duration::from_secs(5), async {
        loop {
            match call.next_event().await {
                Some(CallEvent::StateChanged { to, .. }) if to == state => return,
                Some(_) => {}
                None => panic!("the call ended before {state}"),
            }
        }
    })
    .await
    .expect("state reached in time");
}

async fn call(from: &UserAgent, to: &UserAgent) -> Call {
    let mut call = from
        .call(&format!("sip:someone@{}", to.local_addr()), Bytes::new(), None)
        .await
        .unwrap();
    until_state(&mut call, CallState::Connected).await;
    call
}

#[tokio::test]
async fn a_blind_transfer_over_loopback_connects_bob_to_carol() {
    let (alice, bob, carol) = (agent(false).await, agent(true).await, agent(false).await);
    let _bobs_calls = answer_all(bob.incoming().await.unwrap());
    let mut carols_calls = answer_all(carol.incoming().await.unwrap());
    let mut refers = bob.incoming_refers().await.unwrap();
    let mut with_bob = call(&alice, &bob).await;

    let mut transfer = with_bob
        .refer(&format!("sip:carol@{}", carol.local_addr()))
        .await
        .unwrap();
    let refer = timeout(Duration::from_secs(5), refers.next())
        .await
        .unwrap()
        .unwrap();
    assert!(refer.call().is_some(), "the REFER came in Bob's call");
    assert!(refer.replaces().is_none(), "a blind transfer");
    assert!(refer.referred_by().is_some_and(|by| by.contains("127.0.0.1")));
    let mut bobs_new_call = refer.accept_and_call(Bytes::new()).await.unwrap();

    let mut events = Vec::new();
    while let Some(event) = timeout(Duration::from_secs(5), transfer.next_event())
        .await
        .unwrap()
    {
        events.push(event);
    }
    assert_eq!(events.first(), Some(&TransferEvent::Accepted));
    assert_eq!(events.last(), Some(&TransferEvent::Succeeded));
    assert!(events.contains(&TransferEvent::Progress(sip_tokio::StatusCode::TRYING)));
    // Alice's call was Referring, then ended by her once Carol answered.
    let reason = timeout(Duration::from_secs(5), with_bob.ended()).await.unwrap();
    assert_eq!(reason, Some(EndReason::Transferred));
    until_state(&mut bobs_new_call, CallState::Connected).await;
    let mut carols = timeout(Duration::from_secs(5), carols_calls.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(carols.request().unwrap().headers.get("Referred-By").is_some());
    bobs_new_call.hangup().await.unwrap();
    assert_eq!(
        timeout(Duration::from_secs(5), carols.ended()).await.unwrap(),
        Some(EndReason::RemoteBye)
    );
    for ua in [alice, bob, carol] {
        ua.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn an_attended_transfer_over_loopback_replaces_carols_call() {
    let (alice, bob, carol) = (agent(false).await, agent(true).await, agent(false).await);
    let _bobs_calls = answer_all(bob.incoming().await.unwrap());
    let mut carols_calls = answer_all(carol.incoming().await.unwrap());
    let mut refers = bob.incoming_refers().await.unwrap();
    let with_bob = call(&alice, &bob).await;
    let mut with_carol = call(&alice, &carol).await;
    let mut carols_first = carols_calls.recv().await.unwrap();

    let mut transfer = with_bob.attended_transfer(&with_carol).await.unwrap();
    let refer = timeout(Duration::from_secs(5), refers.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        refer.replaces().is_some(),
        "an attended transfer names Carol's call"
    );
    let _bobs_new_call = refer.accept_and_call(Bytes::new()).await.unwrap();
    timeout(Duration::from_secs(5), transfer.outcome())
        .await
        .unwrap()
        .unwrap();

    // Carol's new call said which it replaces, and her call with Alice ended.
    let mut carols_second = timeout(Duration::from_secs(5), carols_calls.recv())
        .await
        .unwrap()
        .unwrap();
    let replaced = timeout(Duration::from_secs(5), async {
        loop {
            if let Some(CallEvent::Replacing { replaced }) = carols_second.next_event().await {
                return replaced;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(replaced, carols_first.id());
    assert_eq!(
        timeout(Duration::from_secs(5), carols_first.ended())
            .await
            .unwrap(),
        Some(EndReason::Replaced)
    );
    assert_eq!(
        timeout(Duration::from_secs(5), with_carol.ended()).await.unwrap(),
        Some(EndReason::RemoteBye)
    );
    for ua in [alice, bob, carol] {
        ua.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn a_refer_nobody_takes_is_declined_and_the_call_goes_on() {
    let (alice, bob) = (agent(false).await, agent(true).await);
    let _bobs_calls = answer_all(bob.incoming().await.unwrap());
    // Bob takes REFER but never asked for the stream: declined.
    let with_bob = call(&alice, &bob).await;
    let mut transfer = with_bob.refer("sip:carol@127.0.0.1:9").await.unwrap();
    let outcome = timeout(Duration::from_secs(5), transfer.outcome()).await.unwrap();
    assert!(matches!(outcome, Err(Error::TransferFailed(Some(status))) if status.as_u16() == 603));
    assert_eq!(with_bob.state().await.unwrap(), CallState::Connected);
    for ua in [alice, bob] {
        ua.shutdown(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn a_rejected_refer_reports_its_status() {
    let (alice, bob) = (agent(false).await, agent(true).await);
    let _bobs_calls = answer_all(bob.incoming().await.unwrap());
    let mut refers = bob.incoming_refers().await.unwrap();
    let with_bob = call(&alice, &bob).await;
    let mut transfer = with_bob.refer("sip:carol@127.0.0.1:9").await.unwrap();
    let refer = timeout(Duration::from_secs(5), refers.next())
        .await
        .unwrap()
        .unwrap();
    refer.reject(403).await.unwrap();
    let outcome = timeout(Duration::from_secs(5), transfer.outcome()).await.unwrap();
    assert!(matches!(outcome, Err(Error::TransferFailed(Some(status))) if status.as_u16() == 403));
    for ua in [alice, bob] {
        ua.shutdown(Duration::from_secs(1)).await;
    }
}

/// `sipua listen --accept-refer`: the listener follows a REFER — calls the target, which
/// answers — and counts it; the referrer hears the transfer succeed.
#[tokio::test]
async fn a_listener_with_accept_refer_follows_a_transfer() {
    use sip_tokio::listen::{ListenOptions, Listener};
    let options = |accept_refer| ListenOptions {
        auto_answer: true,
        accept_refer,
        duration: Some(Duration::from_secs(5)),
        ..ListenOptions::default()
    };
    let bob = Listener::bind(options(true)).await.unwrap();
    let carol = Listener::bind(options(false)).await.unwrap();
    let (bob_at, carol_at) = (bob.local_addr(), carol.local_addr());
    let (stop_bob, bob_stopped) = tokio::sync::oneshot::channel::<()>();
    let (stop_carol, carol_stopped) = tokio::sync::oneshot::channel::<()>();
    let bob = tokio::spawn(bob.run(Vec::new(), async {
        let _ = bob_stopped.await;
    }));
    let carol = tokio::spawn(carol.run(std::io::sink(), async {
        let _ = carol_stopped.await;
    }));

    let alice = agent(false).await;
    // The listener answers with SDP, so Alice offers some.
    let offer =
        sip_core::sdp::SessionDescription::simple_audio("alice", 1, bob_at.ip(), 40_000, &[0]).to_bytes();
    let mut with_bob = alice
        .call(&format!("sip:bob@{bob_at}"), offer, None)
        .await
        .unwrap();
    until_state(&mut with_bob, CallState::Connected).await;
    let mut transfer = with_bob.refer(&format!("sip:carol@{carol_at}")).await.unwrap();
    timeout(Duration::from_secs(5), transfer.outcome())
        .await
        .unwrap()
        .unwrap();
    let _ = stop_bob.send(());
    let _ = stop_carol.send(());
    let bobs = bob.await.unwrap();
    let carols = carol.await.unwrap();
    assert_eq!((bobs.transfers, bobs.transfers_answered), (1, 1), "{bobs:?}");
    assert_eq!(carols.answered, 1, "{carols:?}");
    alice.shutdown(Duration::from_secs(1)).await;
}
