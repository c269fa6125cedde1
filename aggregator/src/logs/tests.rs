//! Every query form against a known corpus: `check(query, expected messages)`.

use super::*;
use serde_json::json;

const T0: i64 = 1_795_341_600_000_000_000; // 2026-11-22T10:00:00Z

fn corpus() -> Vec<LogEvent> {
    let rows = [
        json!({"level":"error","service":"checkout","host":"web-1","message":"payment declined for order A-17","order_id":"A-17","latency_ms":830,"http":{"status":502,"method":"POST"}}),
        json!({"level":"info","service":"checkout","host":"web-2","message":"order placed","order_id":"B-2","latency_ms":120,"http":{"status":200,"method":"POST"}}),
        json!({"level":"warn","service":"search","host":"web-1","message":"slow query on products index","latency_ms":512.5,"http":{"status":200,"method":"GET"}}),
        json!({"level":"info","service":"auth","host":"web-2","message":"user logged in","user":{"id":"u-42","plan":"pro"},"http":{"status":200,"method":"GET"}}),
        json!({"level":"error","service":"auth","host":"web-1","message":"connection reset by peer","http":{"status":503,"method":"GET"},"retry":true}),
        json!({"level":"debug","service":"search","host":"web-3","message":"cache hit ratio computed","ratio":0.93}),
    ];
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let mut e = LogEvent::from_line(&r.to_string(), 0, "/var/log/app.log", "", &wire::ParseOptions::default());
            e.timestamp = T0 + i as i64 * 1_000_000_000;
            e
        })
        .collect()
}

fn store() -> (tempfile::TempDir, Arc<LogStore>) {
    let dir = tempfile::tempdir().unwrap();
    let (store, payload) = LogStore::open(dir.path(), Telemetry::new()).unwrap();
    let store = Arc::new(store);
    let tx = store.start_indexer(payload, Duration::from_secs(60), 20_000_000).unwrap();
    tx.send(IndexerMsg::Records(vec![Arc::new(WalRecord { seq: 1, batch: None, events: corpus() })])).unwrap();
    let (done, wait) = std::sync::mpsc::channel();
    tx.send(IndexerMsg::Stop(done)).unwrap();
    wait.recv().unwrap();
    (dir, store)
}

fn messages(store: &LogStore, q: &str) -> Vec<String> {
    let r = store
        .search(&SearchRequest { q: q.into(), start: 0, end: i64::MAX, limit: 100, desc: false })
        .unwrap_or_else(|e| panic!("{q}: {e}"));
    assert_eq!(r.total, r.hits.len(), "{q}");
    r.hits.iter().map(|h| h["message"].as_str().unwrap().to_string()).collect()
}

#[test]
fn every_query_form_matches_the_expected_lines() {
    let (_dir, store) = store();
    let check = |q: &str, expected: &[&str]| {
        let got = messages(&store, q);
        assert_eq!(got, expected, "query {q:?}");
    };
    let all = [
        "payment declined for order A-17",
        "order placed",
        "slow query on products index",
        "user logged in",
        "connection reset by peer",
        "cache hit ratio computed",
    ];
    check("", &all);
    check("*", &all);
    check("declined", &["payment declined for order A-17"]);
    check("DECLINED", &["payment declined for order A-17"]);
    check("\"reset by peer\"", &["connection reset by peer"]);
    check("\"peer by reset\"", &[]);
    check("level:error", &["payment declined for order A-17", "connection reset by peer"]);
    check("level:ERROR", &["payment declined for order A-17", "connection reset by peer"]);
    check("service:checkout", &["payment declined for order A-17", "order placed"]);
    check("host:web-3", &["cache hit ratio computed"]);
    check("order_id:A-17", &["payment declined for order A-17"]);
    check("A-17", &["payment declined for order A-17"]);
    check("u-42", &["user logged in"]);
    check("user.plan:pro", &["user logged in"]);
    check("http.status:503", &["connection reset by peer"]);
    check("http.method:get", &["slow query on products index", "user logged in", "connection reset by peer"]);
    check("retry:true", &["connection reset by peer"]);
    check("latency_ms:>500", &["payment declined for order A-17", "slow query on products index"]);
    check("latency_ms:>=830", &["payment declined for order A-17"]);
    check("latency_ms:<512.5", &["order placed"]);
    check("latency_ms:<=512.5", &["order placed", "slow query on products index"]);
    check("http.status:[500 TO 599]", &["payment declined for order A-17", "connection reset by peer"]);
    check("http.status:{502 TO 599]", &["connection reset by peer"]);
    check("http.status:[* TO 200]", &["order placed", "slow query on products index", "user logged in"]);
    check("ratio:[0.9 TO 1]", &["cache hit ratio computed"]);
    check("level:error AND service:auth", &["connection reset by peer"]);
    check("level:error service:auth", &["connection reset by peer"]);
    check("(service:search OR service:auth) AND level:error", &["connection reset by peer"]);
    check(
        "NOT level:info AND NOT level:debug",
        &["payment declined for order A-17", "slow query on products index", "connection reset by peer"],
    );
    check("-level:info -level:debug -level:warn", &["payment declined for order A-17", "connection reset by peer"]);
    check(
        "service:(checkout OR search) AND NOT level:debug",
        &["payment declined for order A-17", "order placed", "slow query on products index"],
    );
    check("user.id:*", &["user logged in"]);
    check("message:\"order placed\"", &["order placed"]);
    check("nosuchword", &[]);
    check("nosuchfield:value", &[]);
}

#[test]
fn or_returns_the_union_in_time_order() {
    let (_dir, store) = store();
    assert_eq!(
        messages(&store, "service:search OR service:auth"),
        ["slow query on products index", "user logged in", "connection reset by peer", "cache hit ratio computed"]
    );
}

#[test]
fn time_range_order_and_limit() {
    let (_dir, store) = store();
    let r = store
        .search(&SearchRequest { q: String::new(), start: T0 + 1_000_000_000, end: T0 + 4_000_000_000, limit: 2, desc: true })
        .unwrap();
    assert_eq!(r.total, 3);
    let got: Vec<_> = r.hits.iter().map(|h| h["message"].as_str().unwrap()).collect();
    assert_eq!(got, ["user logged in", "slow query on products index"]);
    assert_eq!(r.hits[0]["timestamp"], "2026-11-22T10:00:03.000000000Z");
    assert_eq!(r.hits[0]["fields"]["user"]["id"], "u-42");
    assert_eq!(r.hits[0]["id"], ((1u64 << ID_SHIFT) | 3).to_string());
}

#[test]
fn histogram_counts_per_bucket() {
    let (_dir, store) = store();
    let (counts, total) = store.histogram("", T0, T0 + 6_000_000_000, 2_000_000_000).unwrap();
    assert_eq!(counts, vec![2, 2, 2]);
    assert_eq!(total, 6);
    let (counts, _) = store.histogram("level:error", T0, T0 + 6_000_000_000, 3_000_000_000).unwrap();
    assert_eq!(counts, vec![1, 1]);
}

#[test]
fn bad_queries_are_errors_not_panics() {
    let (_dir, store) = store();
    for q in ["status:[500 TO", "(a", "latency_ms:>abc", "id:xyz"] {
        assert!(store.search(&SearchRequest { q: q.into(), start: 0, end: i64::MAX, limit: 10, desc: true }).is_err(), "{q}");
    }
}
