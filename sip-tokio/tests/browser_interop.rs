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

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long any one step may take.
const STEP: Duration = Duration::from_secs(30);

/// A port free for UDP and TCP on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A fresh directory for one process's output.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sip-rs-browser-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The sipua binary of this build, built first (`cargo test --test ...` builds no
/// examples): `target/<profile>/examples/sipua`, found from this test's own path.
fn sipua() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let target_dir = profile_dir.parent().unwrap();
    let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
        "debug" => "dev".to_owned(),
        other => other.to_owned(),
    };
    let built = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "sip-tokio",
            "--example",
            "sipua",
            "--profile",
        ])
        .arg(&profile)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo");
    assert!(built.success(), "cargo build --example sipua failed");
    let binary = profile_dir.join("examples").join("sipua");
    assert!(binary.exists(), "no {}", binary.display());
    binary
}

/// A process under `timeout` (in a process group of its own), stopped by its PID.
struct Peer {
    child: Child,
    log: PathBuf,
}

impl Peer {
    /// Runs `program ARGS` in `cwd` under `timeout`, stdout and stderr in `scratch(name)/out`.
    fn start(name: &str, program: impl AsRef<std::ffi::OsStr>, args: &[&str], cwd: &Path) -> Peer {
        use std::os::unix::process::CommandExt;
        let log = scratch(name).join("out");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("timeout")
            .args(["--kill-after=5", "120"])
            .arg(program)
            .args(args)
            .current_dir(cwd)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("run under timeout");
        Peer { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to `within` for it to exit; whether it exited successfully.
    fn wait_exit(&mut self, within: Duration) -> Option<bool> {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.success());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn signal(&self, signal: &str) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args([signal, "--", &group])
            .stderr(Stdio::null())
            .status();
    }

    /// SIGTERM to its process group, SIGKILL to whatever is left a moment later; its
    /// files go too.
    fn stop(mut self) {
        self.signal("-TERM");
        let _ = self.wait_exit(Duration::from_secs(5));
        self.signal("-KILL");
        let _ = self.child.wait();
        if let Some(dir) = self.log.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Peer {
    /// A test that fails midway leaves no process behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal("-KILL");
            let _ = self.child.wait();
        }
    }
}

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
    let registrar = Peer::start(
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
        &browser_dir,
    );
    let until = Instant::now() + STEP;
    while !registrar.log().contains(&format!(", ws 127.0.0.1:{ws_port}")) {
        assert!(
            Instant::now() < until,
            "the registrar did not start:\n{}",
            registrar.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut browser = Peer::start(
        "browser",
        "node",
        &[
            "run.mjs",
            &format!("ws://127.0.0.1:{ws_port}"),
            "sip:alice@127.0.0.1",
            "secret",
            &format!("sip:registrar@127.0.0.1:{ws_port};transport=ws"),
        ],
        &browser_dir,
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
