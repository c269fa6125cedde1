//! A lone `lookout serve` monitors itself: its own `/metrics` lands in its TSDB as job `lookout`
//! (with `up`), including the storage and capacity gauges the shipped capacity rules and the
//! self-monitoring dashboard query.

use std::time::Duration;

use tests::{Aggregator, free_port, prom_api, wait_for};

fn value(url: &str, q: &str) -> Option<f64> {
    let (status, body) = prom_api(url, "/api/v1/query", &[("query", q)]);
    assert_eq!(status, 200, "{q}: {body}");
    body["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse().ok())
}

#[test]
fn serve_stores_its_own_metrics_for_the_shipped_rules_and_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lookout.toml");
    std::fs::write(&config, "[metrics]\nself_scrape_interval_secs = 1\n\n[ingest]\ncapacity_events_per_second = 2500\n").unwrap();
    let agg = Aggregator::start(&dir.path().join("data"), free_port(), &["--config", config.to_str().unwrap()]);
    let instance = agg.url.trim_start_matches("http://").to_string();

    let up = wait_for("up{job=\"lookout\"}", Duration::from_secs(30), || {
        value(&agg.url, &format!("up{{job=\"lookout\",instance=\"{instance}\"}}"))
    });
    assert_eq!(up, 1.0);
    assert_eq!(value(&agg.url, "lookout_ingest_capacity_events_per_second{job=\"lookout\"}"), Some(2500.0));
    // The storage probe runs at start; its gauges reach the TSDB with the next self-scrape.
    let free = wait_for("lookout_data_dir_free_bytes", Duration::from_secs(30), || {
        value(&agg.url, "lookout_data_dir_free_bytes{job=\"lookout\"}").filter(|v| *v > 0.0)
    });
    let size = value(&agg.url, "lookout_data_dir_size_bytes{job=\"lookout\"}").unwrap();
    assert!(free > 0.0 && free <= size, "free {free} of {size}");
    // The capacity rules' expression evaluates (no data yet for the 6h prediction, but no error).
    let (status, body) = prom_api(&agg.url, "/api/v1/query", &[("query", "predict_linear(lookout_data_dir_free_bytes[6h], 4 * 86400)")]);
    assert_eq!(status, 200, "{body}");

    // Off when set to 0.
    let dir2 = tempfile::tempdir().unwrap();
    let config2 = dir2.path().join("lookout.toml");
    std::fs::write(&config2, "[metrics]\nself_scrape_interval_secs = 0\n").unwrap();
    let quiet = Aggregator::start(&dir2.path().join("data"), free_port(), &["--config", config2.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(value(&quiet.url, "up{job=\"lookout\"}"), None);
}
