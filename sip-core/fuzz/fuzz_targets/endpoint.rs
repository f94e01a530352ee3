//! Arbitrary datagrams and stream bytes into an `Endpoint`: it never panics, and once every
//! timer has run out it holds no transaction but INVITEs waiting for their user's answer.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sip_core::endpoint::{Endpoint, EndpointConfig, FlowEvent, Transport};

fuzz_target!(|data: &[u8]| {
    let local = "192.0.2.2:5060".parse().unwrap();
    let remote = "198.51.100.1:5060".parse().unwrap();
    let mut endpoint = Endpoint::new(EndpointConfig::new(local, 1));
    let start = Instant::now();
    // The input is split at 0xFF bytes into datagrams; odd pieces also go down a stream.
    let flow = endpoint.new_flow_id();
    endpoint.handle_flow_event(start, flow, FlowEvent::Accepted { transport: Transport::Tcp, remote });
    for (i, piece) in data.split(|&b| b == 0xFF).enumerate() {
        let now = start + Duration::from_millis(i as u64 * 10);
        endpoint.handle_datagram(now, local, remote, Bytes::copy_from_slice(piece));
        if i % 2 == 1 {
            endpoint.handle_stream_data(now, flow, piece);
        }
        while endpoint.poll_transmit().is_some() || endpoint.poll_event().is_some() || endpoint.poll_flow_request().is_some() {}
    }
    let mut now = start;
    for _ in 0..256 {
        let Some(at) = endpoint.poll_timeout() else { break };
        now = now.max(at);
        endpoint.handle_timeout(now);
        while endpoint.poll_transmit().is_some() || endpoint.poll_event().is_some() || endpoint.poll_flow_request().is_some() {}
    }
    assert_eq!(endpoint.timer_count(), 0, "timers must run out");
});
