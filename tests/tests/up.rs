//! `lookout up`, as a newcomer runs it: demo logs are searchable within seconds, Ctrl-C stops
//! it cleanly, and a second run continues with the same data.

use std::time::Duration;

use tests::{Proc, bin, client, free_port, wait_for};

fn count(url: &str, q: &str) -> u64 {
    client()
        .get(format!("{url}/api/v1/logs/search"))
        .query(&[("q", q), ("limit", "1")])
        .send()
        .ok()
        .and_then(|r| r.json::<serde_json::Value>().ok())
        .and_then(|v| v["total"].as_u64())
        .unwrap_or(0)
}

#[test]
fn up_shows_demo_logs_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let up = Proc::start(&bin("lookout"), &["up", "--listen", &listen], dir.path(), &dir.path().join("up-1.log"));
    // the promise is 10 s on a developer machine; allow more for a loaded CI box
    wait_for("demo logs to be searchable", Duration::from_secs(30), || (count(&url, "") > 0).then_some(()));
    wait_for("demo errors from several services", Duration::from_secs(30), || {
        (count(&url, "level:error") > 0 && count(&url, "service:checkout") > 0 && count(&url, "service:auth") > 0).then_some(())
    });
    let page = client().get(format!("{url}/")).send().unwrap().text().unwrap();
    assert!(page.contains("<html") || page.contains("<!doctype"), "{page}");
    assert!(dir.path().join("lookout-data/wal").is_dir());

    let status = up.stop_with(libc::SIGINT, Duration::from_secs(30));
    assert!(status.success(), "lookout up exit: {status:?}");
    let before = {
        let probe = Proc::start(
            &bin("lookout"),
            &["serve", "--no-auth", "--listen", &listen, "--data-dir", "lookout-data"],
            dir.path(),
            &dir.path().join("serve.log"),
        );
        wait_for("serve ready", Duration::from_secs(30), || {
            client().get(format!("{url}/health/ready")).send().ok().filter(|r| r.status().is_success())
        });
        let n = wait_for("data from the first run", Duration::from_secs(10), || Some(count(&url, "")).filter(|n| *n > 0));
        probe.stop_with(libc::SIGTERM, Duration::from_secs(30));
        n
    };

    let up = Proc::start(&bin("lookout"), &["up", "--listen", &listen], dir.path(), &dir.path().join("up-2.log"));
    wait_for("more demo logs on top of the first run's", Duration::from_secs(30), || (count(&url, "") > before).then_some(()));
    let status = up.stop_with(libc::SIGINT, Duration::from_secs(30));
    assert!(status.success());
}
