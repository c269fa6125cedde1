//! Harness for end-to-end tests: finds the built binaries, starts them on free loopback ports
//! in temporary directories, and waits on conditions with deadlines (never fixed sleeps).
//! Every process is killed when its handle drops, so a failing test leaves nothing running.
#![warn(missing_docs)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Path of a workspace binary (`lookout`, `lookout-agent`), built by `cargo build --workspace`.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target directory");
    let path = dir.join(name);
    assert!(path.exists(), "{} not found: run `cargo build --workspace` before the end-to-end tests", path.display());
    path
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Polls `cond` until it returns `Some` or `timeout` passes; panics with `what` on timeout.
pub fn wait_for<T>(what: &str, timeout: Duration, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process that is SIGKILLed on drop.
pub struct Proc {
    child: Option<Child>,
    /// Where its stderr goes.
    pub log: PathBuf,
}

impl Proc {
    /// Starts `program args` in `cwd`, stderr to `log`.
    pub fn start(program: &Path, args: &[&str], cwd: &Path, log: &Path) -> Proc {
        let err = File::create(log).expect("log file");
        let child = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Proc { child: Some(child), log: log.to_path_buf() }
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// Sends a signal.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on a child we own; no memory is involved.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends `sig` and waits (with a deadline) for the exit status.
    pub fn stop_with(mut self, sig: i32, timeout: Duration) -> std::process::ExitStatus {
        self.signal(sig);
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("process did not exit within {timeout:?} after signal {sig}; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process's stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A blocking HTTP client for tests.
pub fn client() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

/// A `lookout serve` on a free port with its data in `data_dir`.
pub struct Aggregator {
    /// The process.
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Aggregator {
    /// Starts it and waits until `/health/ready` answers 200.
    pub fn start(data_dir: &Path, port: u16, extra: &[&str]) -> Aggregator {
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--listen", &listen, "--data-dir", data_dir.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra);
        std::fs::create_dir_all(data_dir).expect("data dir");
        let log = data_dir.parent().expect("parent").join(format!("lookout-{port}.log"));
        let proc = Proc::start(&bin("lookout"), &args, data_dir.parent().expect("parent"), &log);
        let url = format!("http://{listen}");
        let c = client();
        wait_for("lookout to become ready", Duration::from_secs(60), || {
            c.get(format!("{url}/health/ready")).send().ok().filter(|r| r.status().is_success()).map(|_| ())
        });
        Aggregator { proc, url }
    }

    /// Runs a search and returns the JSON answer.
    pub fn search(&self, q: &str, limit: usize) -> Value {
        let r = client()
            .get(format!("{}/api/v1/logs/search", self.url))
            .query(&[("q", q), ("limit", &limit.to_string()), ("order", "asc")])
            .send()
            .expect("search request");
        assert!(r.status().is_success(), "search {q:?} failed: {}", r.status());
        r.json().expect("search JSON")
    }

    /// Number of matches for `q`.
    pub fn count(&self, q: &str) -> u64 {
        self.search(q, 1)["total"].as_u64().expect("total")
    }
}
