//! The agent's metrics path and its other sinks, against real peers: a scraped exposition
//! endpoint → `lookout` sink → the aggregator's PromQL API (with staleness), host metrics from a
//! fake /proc tree → `prometheus_remote_write` → a real Prometheus, log lines → `otlp` sink → a
//! local OTLP/HTTP receiver that decodes the protobuf, and the disk buffer across a SIGKILL
//! during an aggregator outage.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tests::{
    Aggregator, all_hits, append_lines, assert_exactly_once_in_order, bin, free_port, prom_api, start_agent, test_line, wait_count,
    wait_for, write_agent_config,
};

/// One HTTP/1.1 request as a tiny test server saw it.
#[derive(Clone, Debug)]
struct Request {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Every request a test server received.
type Seen = Arc<Mutex<Vec<Request>>>;

/// A minimal HTTP/1.1 server on a thread: `answer` maps each request to (status, body).
/// Returns its base URL, every request it received, and a switch that stops it.
fn serve(answer: impl Fn(&Request) -> (u16, String) + Send + Sync + 'static) -> (String, Seen, Arc<Mutex<bool>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stopped = Arc::new(Mutex::new(false));
    let (s, stop) = (seen.clone(), stopped.clone());
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if *stop.lock().unwrap() {
                break; // dropping the listener refuses further connections
            }
            let Ok(conn) = conn else { continue };
            let (s, answer, stop) = (s.clone(), answer.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let mut headers = Vec::new();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            headers.push((k.trim().to_string(), v.trim().to_string()));
                        }
                    }
                    let len = headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    if *stop.lock().unwrap() {
                        return;
                    }
                    let req = Request { path, headers, body };
                    let (status, text) = answer(&req);
                    s.lock().unwrap().push(req);
                    let reply = format!("HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}", text.len());
                    if conn.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, seen, stopped)
}

fn query(base: &str, q: &str) -> Vec<Value> {
    let (status, v) = prom_api(base, "/api/v1/query", &[("query", q)]);
    assert_eq!(status, 200, "{q}: {v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn value_of(base: &str, q: &str) -> Option<f64> {
    let r = query(base, q);
    (r.len() == 1).then(|| r[0]["value"][1].as_str().unwrap().parse().unwrap())
}

#[test]
fn scraped_metrics_reach_the_aggregator_with_synthetic_series_and_staleness() {
    let dir = tempfile::tempdir().unwrap();
    let agg = Aggregator::start(&dir.path().join("lookout-data"), free_port(), &[]);
    let exposition = Arc::new(Mutex::new(String::from(
        "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n\
http_requests_total{code=\"200\",method=\"get\"} 1027\nhttp_requests_total{code=\"500\",method=\"get\",job=\"inner\"} 3\n\
# TYPE temperature_celsius gauge\ntemperature_celsius 21.5\n\
# TYPE latency_seconds histogram\nlatency_seconds_bucket{le=\"0.1\"} 3\nlatency_seconds_bucket{le=\"1\"} 7\nlatency_seconds_bucket{le=\"+Inf\"} 8\nlatency_seconds_sum 4.5\nlatency_seconds_count 8\n\
# TYPE rpc_seconds summary\nrpc_seconds{quantile=\"0.5\"} 0.2\nrpc_seconds{quantile=\"0.99\"} 0.9\nrpc_seconds_sum 12\nrpc_seconds_count 40\n",
    )));
    let e = exposition.clone();
    let (target, _seen, stop_target) = serve(move |_| (200, e.lock().unwrap().clone()));
    let dead = format!("http://127.0.0.1:{}/metrics", free_port());
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:{}\"\n\n[sources.apps]\ntype = \"prometheus_scrape\"\ntargets = [\"{target}/metrics\", \"{dead}\", \"{}/metrics\"]\ninterval_secs = 0.5\ntimeout_secs = 0.4\nlabels = {{ env = \"test\" }}\n\n[sources.self]\ntype = \"internal_metrics\"\ninterval_secs = 0.5\n\n[sinks.central]\ntype = \"lookout\"\ninputs = [\"apps\", \"self\"]\nendpoint = \"{}\"\nbatch = {{ timeout_secs = 0.1 }}\n",
            dir.path().join("agent-data").display().to_string(),
            free_port(),
            agg.url,
            agg.url
        ),
    )
    .unwrap();
    let check =
        std::process::Command::new(bin("lookout-agent")).args(["check-config", "--config", config.to_str().unwrap()]).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let agent = start_agent(dir.path(), &config, 0);
    let instance = target.trim_start_matches("http://").to_string();
    let sel = format!("job=\"apps\",instance=\"{instance}\"");
    wait_for("scraped samples in the aggregator", Duration::from_secs(30), || {
        value_of(&agg.url, &format!("http_requests_total{{{sel},code=\"200\"}}")).filter(|v| *v == 1027.0)
    });
    // target labels, and a scraped label clashing with one (honor_labels = false)
    let r = query(&agg.url, &format!("http_requests_total{{{sel},code=\"500\"}}"));
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["metric"]["exported_job"], "inner");
    assert_eq!(r[0]["metric"]["env"], "test");
    assert_eq!(value_of(&agg.url, &format!("temperature_celsius{{{sel}}}")), Some(21.5));
    assert_eq!(value_of(&agg.url, &format!("latency_seconds_bucket{{{sel},le=\"+Inf\"}}")), Some(8.0));
    assert_eq!(value_of(&agg.url, &format!("latency_seconds_bucket{{{sel},le=\"0.1\"}}")), Some(3.0));
    assert_eq!(value_of(&agg.url, &format!("latency_seconds_count{{{sel}}}")), Some(8.0));
    assert_eq!(value_of(&agg.url, &format!("rpc_seconds{{{sel},quantile=\"0.99\"}}")), Some(0.9));
    assert_eq!(value_of(&agg.url, &format!("rpc_seconds_sum{{{sel}}}")), Some(12.0));
    // histogram_quantile works on the shipped buckets
    let q = value_of(&agg.url, &format!("histogram_quantile(0.5, latency_seconds_bucket{{{sel}}})")).unwrap();
    assert!(q > 0.1 && q <= 1.0, "{q}");
    // synthetic series
    assert_eq!(value_of(&agg.url, &format!("up{{{sel}}}")), Some(1.0));
    assert_eq!(value_of(&agg.url, &format!("scrape_samples_scraped{{{sel}}}")), Some(12.0));
    assert!(value_of(&agg.url, &format!("scrape_duration_seconds{{{sel}}}")).unwrap() >= 0.0);
    // Scrapes are stamped with their scheduled time (as Prometheus aligns them), so the
    // timestamps are exactly 500 ms apart; a stall past the 25 ms tolerance re-anchors once.
    let ts = wait_for("8 scrapes of up", Duration::from_secs(30), || {
        let r = query(&agg.url, &format!("up{{{sel}}}[4200ms]"));
        let ts: Vec<i64> = r.first()?["values"].as_array()?.iter().map(|p| (p[0].as_f64().unwrap() * 1000.0).round() as i64).collect();
        (ts.len() >= 8).then_some(ts)
    });
    let uneven = ts.windows(2).filter(|w| w[1] - w[0] != 500).count();
    assert!(uneven <= 1, "scrape timestamps not on the 500 ms schedule: {ts:?}");
    let dead_instance = dead.trim_start_matches("http://").trim_end_matches("/metrics");
    wait_for("up == 0 for the dead target", Duration::from_secs(10), || {
        value_of(&agg.url, &format!("up{{instance=\"{dead_instance}\"}}")).filter(|v| *v == 0.0)
    });
    // the aggregator's own /metrics, a real exposition from prometheus-client
    let agg_instance = agg.url.trim_start_matches("http://");
    wait_for("the aggregator's own metrics", Duration::from_secs(10), || {
        value_of(&agg.url, &format!("up{{job=\"apps\",instance=\"{agg_instance}\"}}")).filter(|v| *v == 1.0)
    });
    assert!(value_of(&agg.url, &format!("scrape_samples_scraped{{job=\"apps\",instance=\"{agg_instance}\"}}")).unwrap() > 0.0);
    // internal_metrics: the agent's own counters
    wait_for("the agent's internal metrics", Duration::from_secs(10), || {
        let r = query(&agg.url, "lookout_agent_events_in_total{job=\"lookout-agent\",component=\"apps\"}");
        (r.len() == 1 && r[0]["value"][1].as_str().unwrap().parse::<f64>().unwrap() > 0.0).then_some(())
    });

    // A series disappears from the exposition: it is marked stale, so an instant query no
    // longer returns it (without the marker it would for 5 minutes of lookback).
    exposition.lock().unwrap().retain_lines_without("temperature_celsius");
    wait_for("temperature_celsius to go stale", Duration::from_secs(15), || {
        query(&agg.url, &format!("temperature_celsius{{{sel}}}")).is_empty().then_some(())
    });
    assert_eq!(value_of(&agg.url, &format!("http_requests_total{{{sel},code=\"200\"}}")), Some(1027.0), "other series stay");
    // The target goes away: up drops to 0 and every one of its series goes stale.
    *stop_target.lock().unwrap() = true;
    let _ = std::net::TcpStream::connect(instance.as_str()); // wake the accept loop so it stops
    wait_for("the target's series to go stale", Duration::from_secs(15), || {
        (query(&agg.url, &format!("http_requests_total{{{sel}}}")).is_empty()
            && query(&agg.url, &format!("latency_seconds_bucket{{{sel}}}")).is_empty())
        .then_some(())
    });
    wait_for("up == 0 for the stopped target", Duration::from_secs(10), || {
        value_of(&agg.url, &format!("up{{{sel}}}")).filter(|v| *v == 0.0)
    });
    drop(agent);
}

trait RetainLines {
    fn retain_lines_without(&mut self, needle: &str);
}

impl RetainLines for String {
    fn retain_lines_without(&mut self, needle: &str) {
        *self = self.lines().filter(|l| !l.contains(needle)).map(|l| format!("{l}\n")).collect();
    }
}

fn fake_proc(root: &Path, user_ticks: u64, rx_bytes: u64) {
    let proc = root.join("proc");
    std::fs::create_dir_all(proc.join("net")).unwrap();
    std::fs::create_dir_all(root.join("sys/class/net/eth0")).unwrap();
    std::fs::write(
        proc.join("stat"),
        format!(
            "cpu  {user_ticks} 0 0 0 0 0 0 0 0 0\ncpu0 {user_ticks} 0 250 9000 12 0 3 0 0 0\nctxt 4242\nbtime 1700000000\nprocs_running 3\n"
        ),
    )
    .unwrap();
    std::fs::write(proc.join("meminfo"), "MemTotal:       2048 kB\nMemAvailable:    1024 kB\nActive(anon):     16 kB\n").unwrap();
    std::fs::write(proc.join("loadavg"), "1.50 0.75 0.25 2/300 4242\n").unwrap();
    std::fs::write(
        proc.join("diskstats"),
        "   8       0 sda 10 0 4 1500 20 0 8 2500 0 3000 4000 0 0 0 0\n   7       0 loop0 1 0 2 0 0 0 0 0 0 0 0\n",
    )
    .unwrap();
    std::fs::write(
        proc.join("net/dev"),
        format!(
            "Inter-|   Receive\n face |bytes\n  eth0: {rx_bytes} 7 0 0 0 0 0 0 999 9 0 0 0 0 0 0\n    lo: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n"
        ),
    )
    .unwrap();
    std::fs::write(root.join("sys/class/net/eth0/operstate"), "up\n").unwrap();
    std::fs::write(proc.join("mounts"), "/dev/fake1 / ext4 rw,relatime 0 0\nsysfs /sys sysfs rw 0 0\n").unwrap();
}

#[test]
fn host_metrics_reach_a_real_prometheus_through_remote_write() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n").unwrap();
    let Some((_prom, prom)) = tests::start_prometheus(dir.path(), &cfg) else { return };
    let fake = dir.path().join("host");
    fake_proc(&fake, 150, 1000);
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:{}\"\n\n[sources.node]\ntype = \"host_metrics\"\ninterval_secs = 0.5\nproc_path = {:?}\nsys_path = {:?}\nrootfs_path = {:?}\ninstance = \"web-1\"\n\n[transforms.tag]\ntype = \"add_fields\"\ninputs = [\"node\"]\nfields = {{ env = \"prod\" }}\n\n[sinks.prom]\ntype = \"prometheus_remote_write\"\ninputs = [\"tag\"]\nendpoint = \"{prom}/api/v1/write\"\nbatch = {{ timeout_secs = 0.1 }}\n",
            dir.path().join("agent-data").display().to_string(),
            free_port(),
            fake.join("proc").display().to_string(),
            fake.join("sys").display().to_string(),
            fake.display().to_string(),
        ),
    )
    .unwrap();
    let agent = start_agent(dir.path(), &config, 0);
    let base = "job=\"node\",instance=\"web-1\",env=\"prod\"";
    wait_for("host metrics in Prometheus", Duration::from_secs(30), || {
        value_of(&prom, &format!("node_cpu_seconds_total{{{base},cpu=\"0\",mode=\"user\"}}")).filter(|v| *v == 1.5)
    });
    assert_eq!(value_of(&prom, &format!("node_cpu_seconds_total{{{base},cpu=\"0\",mode=\"system\"}}")), Some(2.5));
    assert_eq!(value_of(&prom, &format!("node_cpu_seconds_total{{{base},cpu=\"0\",mode=\"softirq\"}}")), Some(0.03));
    assert_eq!(value_of(&prom, &format!("node_memory_MemTotal_bytes{{{base}}}")), Some(2048.0 * 1024.0));
    assert_eq!(value_of(&prom, &format!("node_memory_MemAvailable_bytes{{{base}}}")), Some(1024.0 * 1024.0));
    assert_eq!(value_of(&prom, &format!("node_memory_Active_anon_bytes{{{base}}}")), Some(16.0 * 1024.0));
    assert_eq!(value_of(&prom, &format!("node_load1{{{base}}}")), Some(1.5));
    assert_eq!(value_of(&prom, &format!("node_load15{{{base}}}")), Some(0.25));
    assert_eq!(value_of(&prom, &format!("node_context_switches_total{{{base}}}")), Some(4242.0));
    assert_eq!(value_of(&prom, &format!("node_disk_read_bytes_total{{{base},device=\"sda\"}}")), Some(2048.0));
    assert_eq!(value_of(&prom, &format!("node_disk_io_time_seconds_total{{{base},device=\"sda\"}}")), Some(3.0));
    assert!(query(&prom, "node_disk_read_bytes_total{device=\"loop0\"}").is_empty(), "loop devices are skipped");
    assert_eq!(value_of(&prom, &format!("node_network_receive_bytes_total{{{base},device=\"eth0\"}}")), Some(1000.0));
    assert_eq!(value_of(&prom, &format!("node_network_transmit_bytes_total{{{base},device=\"eth0\"}}")), Some(999.0));
    assert_eq!(value_of(&prom, &format!("node_network_up{{{base},device=\"eth0\"}}")), Some(1.0));
    let avail =
        value_of(&prom, &format!("node_filesystem_avail_bytes{{{base},device=\"/dev/fake1\",fstype=\"ext4\",mountpoint=\"/\"}}")).unwrap();
    let size =
        value_of(&prom, &format!("node_filesystem_size_bytes{{{base},device=\"/dev/fake1\",fstype=\"ext4\",mountpoint=\"/\"}}")).unwrap();
    assert!(avail > 0.0 && size >= avail, "{avail} {size}");
    assert!(query(&prom, "node_filesystem_size_bytes{fstype=\"sysfs\"}").is_empty());
    // counters move as the kernel's do: rate() over two collections is positive
    fake_proc(&fake, 350, 6000);
    wait_for("updated counters in Prometheus", Duration::from_secs(20), || {
        value_of(&prom, &format!("node_network_receive_bytes_total{{{base},device=\"eth0\"}}")).filter(|v| *v == 6000.0)
    });
    assert_eq!(value_of(&prom, &format!("node_cpu_seconds_total{{{base},cpu=\"0\",mode=\"user\"}}")), Some(3.5));
    let rate = value_of(&prom, &format!("rate(node_network_receive_bytes_total{{{base},device=\"eth0\"}}[1m])")).unwrap();
    assert!(rate > 0.0, "{rate}");
    drop(agent);
}

#[test]
fn otlp_sink_delivers_every_line_once_to_an_otlp_receiver_after_a_503() {
    use flate2::read::GzDecoder;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let calls = Arc::new(Mutex::new(0u32));
    let c2 = calls.clone();
    // The first request is answered 503 (retried), the rest 200.
    let (url, seen, _stop) = serve(move |_| {
        let mut n = c2.lock().unwrap();
        *n += 1;
        if *n == 1 { (503, "busy".into()) } else { (200, String::new()) }
    });
    const N: u64 = 3000;
    append_lines(&logs.join("a.log"), &(0..N).map(|i| test_line("otlp", 0, i)).collect::<Vec<_>>());
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:{}\"\n\n[sources.app]\ntype = \"file\"\ninclude = [{:?}]\nglob_interval_ms = 100\n\n[sinks.collector]\ntype = \"otlp\"\ninputs = [\"app\"]\nendpoint = \"{url}\"\nheaders = {{ \"X-Scope-OrgID\" = \"team-a\" }}\nretry_initial_backoff_ms = 50\nbatch = {{ timeout_secs = 0.1, max_events = 1000 }}\n",
            dir.path().join("agent-data").display().to_string(),
            free_port(),
            logs.join("*.log").display().to_string(),
        ),
    )
    .unwrap();
    let agent = start_agent(dir.path(), &config, 0);
    let decode = |r: &Request| -> Vec<wire::LogEvent> {
        assert_eq!(r.path, "/v1/logs");
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("x-scope-orgid"), Some("team-a"));
        assert!(r.header("lookout-batch").is_none(), "the otlp sink sends no Lookout-Batch ids");
        let mut raw = Vec::new();
        GzDecoder::new(r.body.as_slice()).read_to_end(&mut raw).unwrap();
        wire::otlp::decode_protobuf(&raw).expect("a valid ExportLogsServiceRequest")
    };
    let events = wait_for("every line at the OTLP receiver", Duration::from_secs(30), || {
        let reqs = seen.lock().unwrap().clone();
        // the refused first request is not counted: it was answered 503
        let events: Vec<wire::LogEvent> = reqs.iter().skip(1).flat_map(&decode).collect();
        (events.len() as u64 >= N).then_some(events)
    });
    std::thread::sleep(Duration::from_millis(500));
    let reqs = seen.lock().unwrap().clone();
    // the request answered 503 was retried unchanged
    assert!(reqs.len() >= 2);
    assert_eq!(reqs[0].body, reqs[1].body, "the retry carries the same batch");
    let all: Vec<wire::LogEvent> = reqs.iter().skip(1).flat_map(&decode).collect();
    assert_eq!(all.len() as u64, N, "no line twice");
    let seqs: Vec<u64> = events.iter().map(|e| e.fields["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..N).collect::<Vec<_>>(), "in order, each once");
    assert_eq!(events[1].service, "checkout");
    assert_eq!(events[1].level, "info");
    assert_eq!(events[1].message, "otlp line 1");
    assert_eq!(events[1].fields["http"]["path"], "/api/v1/orders");
    assert!(events[1].source.ends_with("a.log"));
    drop(agent);
}

#[test]
fn disk_buffer_keeps_every_line_through_an_outage_and_a_sigkill() {
    const FIRST: u64 = 2000;
    const DURING: u64 = 6000;
    const AFTER: u64 = 2000;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let data = dir.path().join("lookout-data");
    let port = free_port();
    let agg = Aggregator::start(&data, port, &[]);
    let config = write_agent_config(dir.path(), &[logs.join("*.log").display().to_string()], "", &agg.url, free_port());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[sinks.central.buffer]\ntype = \"disk\"\nmax_bytes = 268435456\n");
    std::fs::write(&config, text).unwrap();
    let agent = start_agent(dir.path(), &config, 0);
    let app = logs.join("buffered.log");
    append_lines(&app, &(0..FIRST).map(|i| test_line("buffered", 0, i)).collect::<Vec<_>>());
    wait_count(&agg, "file:buffered", FIRST, Duration::from_secs(60));
    // Outage: the agent keeps reading into its disk buffer.
    let status = agg.proc.stop_with(libc::SIGTERM, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    append_lines(&app, &(FIRST..FIRST + DURING).map(|i| test_line("buffered", 0, i)).collect::<Vec<_>>());
    let buffer_dir = dir.path().join("agent-data/buffers/central");
    let checkpoint = dir.path().join("agent-data/checkpoints/app.json");
    let size = std::fs::metadata(&app).unwrap().len();
    // Every line is read and acknowledged by the disk buffer (the checkpoint reaches the end of
    // the file) although nothing can be delivered.
    wait_for("the checkpoint to pass every line (in the disk buffer)", Duration::from_secs(60), || {
        let cp: Value = serde_json::from_str(&std::fs::read_to_string(&checkpoint).ok()?).ok()?;
        (cp["files"].as_array()?.iter().any(|f| f["offset"].as_u64() == Some(size))).then_some(())
    });
    let records =
        std::fs::read_dir(&buffer_dir).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "rec")).count();
    assert!(records > 0, "the outage's lines are in the disk buffer");
    agent.kill9();
    // Restarted mid-outage; more lines come.
    let agent = start_agent(dir.path(), &config, 1);
    append_lines(&app, &(FIRST + DURING..FIRST + DURING + AFTER).map(|i| test_line("buffered", 0, i)).collect::<Vec<_>>());
    std::thread::sleep(Duration::from_secs(2));
    let agg = Aggregator::start(&data, port, &[]);
    let total = FIRST + DURING + AFTER;
    let got = wait_count(&agg, "file:buffered", total, Duration::from_secs(120));
    let hits = all_hits(&agg, "file:buffered", total);
    assert_exactly_once_in_order(&hits, &[("buffered", total)]);
    assert_eq!(got, total, "lines counted by the search API");
    // delivered records are deleted
    wait_for("the disk buffer to empty", Duration::from_secs(30), || {
        (std::fs::read_dir(&buffer_dir).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "rec")).count()
            == 0)
            .then_some(())
    });
    drop(agent);
}
