//! A browser as a SIP client over WebSocket (RFC 7118): JsSIP in headless Debian
//! Chromium, driven by playwright-core (`tests/interop/browser/run.mjs`), registers at
//! `sipua registrar --transport udp,ws` with digest authentication, sends it a MESSAGE and
//! an OPTIONS, and unregisters. The browser must get its 200s, and the registrar must have
//! seen each request over WS.
//!
//! Ignored by default; `.ci/run` installs Chromium, Node and the npm packages
//! (`tests/interop/install-peers.sh`) and runs it. The registrar and the browser run under
//! `timeout`, each in a process group of its own, on 127.0.0.1 and free ports, and are
//! stopped by their PID.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::time::Duration;

#[path = "interop/common.rs"]
mod common;

use common::{free_port, run, sipua};

/// How long any one step may take.
const STEP: Duration = Duration::from_secs(30);

#[test]
#[ignore = "needs Chromium, Node and the npm packages of tests/interop/browser (install-peers.sh); run by .ci/run"]
fn a_browser_registers_and_sends_message_and_options_over_websocket() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/browser");
    assert!(
        browser_dir.join("node_modules/jssip").exists() && Path::new("/usr/bin/chromium").exists(),
        "run sip-tokio/tests/interop/install-peers.sh first"
    );
    let binary = sipua();
    let (udp_port, ws_port) = (free_port(), free_port());
    let registrar = run(
        "registrar",
        &binary,
        &[
            "--trace",
            "registrar",
            "--bind",
            &format!("127.0.0.1:{udp_port}"),
            "--transport",
            "udp,ws",
            "--ws-port",
            &ws_port.to_string(),
            "--user",
            "alice:secret",
            // JsSIP answers MD5 challenges only.
            "--digest",
            "md5",
            "--duration",
            "90",
        ],
        None,
    );
    assert!(
        registrar.wait_output(&format!(", ws 127.0.0.1:{ws_port}"), STEP),
        "the registrar did not start:\n{}",
        registrar.log()
    );

    let mut browser = run(
        "browser",
        "node",
        &[
            "run.mjs",
            &format!("ws://127.0.0.1:{ws_port}"),
            "sip:alice@127.0.0.1",
            "secret",
            &format!("sip:registrar@127.0.0.1:{ws_port};transport=ws"),
        ],
        Some(&browser_dir),
    );
    let exited = browser.wait_exit(Duration::from_secs(90));
    let browser_log = browser.log();
    browser.stop();
    // The unregistration is the browser's last request; give the registrar's line a moment.
    std::thread::sleep(Duration::from_millis(300));
    let registrar_log = registrar.log();
    registrar.stop();
    let context = format!("---- browser ----\n{browser_log}\n---- sipua registrar ----\n{registrar_log}");

    assert_eq!(exited, Some(true), "{context}");
    assert!(
        browser_log.contains(r#"RESULT {"register":200,"message":200,"options":200,"unregister":200}"#),
        "{context}"
    );
    // The registrar challenged, then took the registration, the message and the
    // unregistration, all from the browser's WebSocket connection.
    assert!(
        registrar_log.contains("REGISTER sip:alice@127.0.0.1: challenged"),
        "{context}"
    );
    assert!(
        registrar_log.contains("REGISTER sip:alice@127.0.0.1: 200, 1 binding(s)"),
        "{context}"
    );
    assert!(
        registrar_log.contains("REGISTER sip:alice@127.0.0.1: 200, 0 binding(s)"),
        "{context}"
    );
    assert!(registrar_log.contains(": hello from a browser"), "{context}");
    for method in ["REGISTER", "MESSAGE", "OPTIONS"] {
        assert!(
            registrar_log
                .split("\n\n")
                .any(|block| block.contains(" received WS from 127.0.0.1:")
                    && block.contains(&format!("\n{method} sip:"))),
            "no {method} over WS\n{context}"
        );
    }
    // Every answer went back over WS, on the browser's connection.
    assert!(!registrar_log.contains(" sent UDP "), "{context}");
}
