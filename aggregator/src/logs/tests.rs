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
    tx.send(IndexerMsg::Records(vec![Arc::new(WalRecord::new(1, None, corpus()))])).unwrap();
    let (done, wait) = std::sync::mpsc::channel();
    tx.send(IndexerMsg::Stop(done)).unwrap();
    wait.recv().unwrap();
    (dir, store)
}

fn messages(store: &LogStore, q: &str) -> Vec<String> {
    let r = store
        .search(&SearchRequest { q: q.into(), start: 0, end: i64::MAX, limit: 100, desc: false, cursor: None })
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
        .search(&SearchRequest { q: String::new(), start: T0 + 1_000_000_000, end: T0 + 4_000_000_000, limit: 2, desc: true, cursor: None })
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
        assert!(store.search(&SearchRequest { q: q.into(), start: 0, end: i64::MAX, limit: 10, desc: true, cursor: None }).is_err(), "{q}");
    }
}

/// A store with a running indexer that commits every 20 ms.
fn live() -> (tempfile::TempDir, Arc<LogStore>, std::sync::mpsc::Sender<IndexerMsg>) {
    let dir = tempfile::tempdir().unwrap();
    let (store, payload) = LogStore::open(dir.path(), Telemetry::new()).unwrap();
    let store = Arc::new(store);
    let tx = store.start_indexer(payload, Duration::from_millis(20), 20_000_000).unwrap();
    (dir, store, tx)
}

/// Hands one WAL record to the indexer and waits (bounded) until it is searchable.
fn feed(store: &LogStore, tx: &std::sync::mpsc::Sender<IndexerMsg>, seq: u64, events: Vec<LogEvent>) {
    tx.send(IndexerMsg::Records(vec![Arc::new(WalRecord::new(seq, None, events))])).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.indexed.load(Ordering::Acquire) < seq {
        assert!(Instant::now() < deadline, "record {seq} not indexed in time");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn ev(ts: i64, host: &str, source: &str, level: &str, message: &str) -> LogEvent {
    LogEvent { timestamp: ts, host: host.into(), source: source.into(), level: level.into(), message: message.into(), ..Default::default() }
}

fn page(store: &LogStore, limit: usize, desc: bool, cursor: Option<&str>) -> (Vec<String>, Option<String>, usize) {
    let cursor = cursor.map(|c| ordered::Key::parse_cursor(c).unwrap());
    let r = store.search(&SearchRequest { q: String::new(), start: 0, end: i64::MAX, limit, desc, cursor }).unwrap();
    (r.hits.iter().map(|h| h["message"].as_str().unwrap().to_string()).collect(), r.next_cursor, r.total)
}

#[test]
fn cursor_pages_cover_every_line_once_in_both_orders() {
    let (_dir, store) = store();
    let (p1, c1, total) = page(&store, 4, true, None);
    assert_eq!(total, 6);
    assert_eq!(p1, ["cache hit ratio computed", "connection reset by peer", "user logged in", "slow query on products index"]);
    let (p2, c2, _) = page(&store, 4, true, c1.as_deref());
    assert_eq!(p2, ["order placed", "payment declined for order A-17"]);
    assert_eq!(c2, None, "the last page has no next cursor");
    let (a1, c1, _) = page(&store, 3, false, None);
    let (a2, c2, _) = page(&store, 3, false, c1.as_deref());
    assert_eq!(
        [a1, a2].concat(),
        [
            "payment declined for order A-17",
            "order placed",
            "slow query on products index",
            "user logged in",
            "connection reset by peer",
            "cache hit ratio computed"
        ]
    );
    // exactly a full last page: the cursor is there, the page after it is empty
    assert!(c2.is_none() || page(&store, 3, false, c2.as_deref()).0.is_empty());
}

#[test]
fn cursor_is_stable_under_concurrent_ingest_of_equal_timestamps() {
    let (_dir, store, tx) = live();
    // ten lines sharing one timestamp: only the id orders them
    feed(&store, &tx, 1, (0..10).map(|i| ev(T0, "h", "s", "info", &format!("old {i}"))).collect());
    let (p1, c1, _) = page(&store, 4, true, None);
    // more lines at the same timestamp and newer ones arrive between pages
    feed(
        &store,
        &tx,
        2,
        (0..5).map(|i| ev(T0, "h", "s", "info", &format!("new {i}"))).chain([ev(T0 + 1, "h", "s", "info", "newest")]).collect(),
    );
    let (p2, c2, _) = page(&store, 4, true, c1.as_deref());
    let (p3, c3, _) = page(&store, 4, true, c2.as_deref());
    assert_eq!(c3, None);
    let mut seen: Vec<String> = [p1, p2, p3].concat();
    assert!(seen.iter().all(|m| m.starts_with("old")), "lines that arrived later sort before the cursor: {seen:?}");
    seen.sort();
    assert_eq!(seen, (0..10).map(|i| format!("old {i}")).collect::<Vec<_>>(), "every old line exactly once");
    stop(&tx);
}

#[test]
fn line_ids_resolve_and_survive_a_restart() {
    let (dir, store) = store();
    let id = (1u64 << ID_SHIFT) | 3;
    assert_eq!(store.line(id).unwrap().unwrap()["message"], "user logged in");
    assert!(store.line(id + 100).unwrap().is_none());
    drop(store);
    let (reopened, payload) = LogStore::open(dir.path(), Telemetry::new()).unwrap();
    assert_eq!(payload.wal_seq, 1);
    let hit = reopened.line(id).unwrap().unwrap();
    assert_eq!(hit["id"], id.to_string());
    assert_eq!(hit["fields"]["user"]["plan"], "pro");
}

#[test]
fn context_follows_the_lines_own_host_and_source() {
    let (_dir, store, tx) = live();
    let s = "/var/log/a.log";
    feed(
        &store,
        &tx,
        1,
        vec![
            ev(T0, "web-1", s, "info", "a0"),
            ev(T0 + 10, "web-1", s, "info", "a1"),
            ev(T0 + 15, "web-1", "/var/log/b.log", "info", "other file"),
            ev(T0 + 15, "web-2", s, "info", "other host"),
            ev(T0 + 20, "web-1", s, "info", "a2"),
            ev(T0 + 30, "web-1", s, "info", "a3"),
            ev(T0 + 30, "web-1", s, "info", "a4 same time"),
            ev(T0 + 40, "web-1", s, "info", "a5"),
            ev(T0 + 20, "", "", "info", "no host"),
            ev(T0 + 21, "", "", "info", "no host after"),
        ],
    );
    let id = |i: u64| (1u64 << ID_SHIFT) | i;
    let msgs = |v: &[Value]| v.iter().map(|h| h["message"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let ctx = store.context(id(4), 2, 2).unwrap().unwrap();
    assert_eq!(ctx.line["message"], "a2");
    assert_eq!(msgs(&ctx.before), ["a0", "a1"]);
    assert_eq!(msgs(&ctx.after), ["a3", "a4 same time"]);
    let ctx = store.context(id(5), 10, 10).unwrap().unwrap();
    assert_eq!(msgs(&ctx.before), ["a0", "a1", "a2"]);
    assert_eq!(msgs(&ctx.after), ["a4 same time", "a5"]);
    let ctx = store.context(id(8), 5, 5).unwrap().unwrap();
    assert_eq!(msgs(&ctx.after), ["no host after"], "empty host and source are a group of their own");
    assert!(store.context(id(99), 1, 1).unwrap().is_none());
    stop(&tx);
}

#[test]
fn fields_count_keywords_exactly_and_json_paths_over_the_sample() {
    let (_dir, store) = store();
    let r = store.fields("", 0, i64::MAX).unwrap();
    assert_eq!((r.total, r.sampled), (6, 6));
    let get = |name: &str| r.fields.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no field {name}")).clone();
    let vals = |f: &fields::FieldSummary| f.values.iter().map(|v| (v.value.clone(), v.count)).collect::<Vec<_>>();
    let level = get("level");
    assert!(level.exact);
    assert_eq!(vals(&level), [("error".into(), 2), ("info".into(), 2), ("debug".into(), 1), ("warn".into(), 1)]);
    assert_eq!(vals(&get("service")), [("auth".into(), 2), ("checkout".into(), 2), ("search".into(), 2)]);
    let status = get("http.status");
    assert!(!status.exact);
    assert_eq!(status.count, 5);
    assert_eq!(vals(&status), [("200".into(), 3), ("502".into(), 1), ("503".into(), 1)]);
    assert_eq!(vals(&get("http.method")), [("GET".into(), 3), ("POST".into(), 2)]);
    assert_eq!(r.fields[4].name, "http.method", "JSON paths follow the keywords, most frequent first");
    // the query narrows every count
    let r = store.fields("level:error", 0, i64::MAX).unwrap();
    assert_eq!(r.total, 2);
    let svc = r.fields.iter().find(|f| f.name == "service").unwrap();
    assert_eq!(svc.values.iter().map(|v| (v.value.as_str(), v.count)).collect::<Vec<_>>(), [("auth", 1), ("checkout", 1)]);
    assert!(store.fields("(", 0, i64::MAX).is_err());
}

#[tokio::test]
async fn tail_delivers_new_matching_lines_and_counts_what_a_slow_subscriber_loses() {
    let (_dir, store, tx) = live();
    feed(&store, &tx, 1, vec![ev(T0, "h", "s", "error", "before subscribing")]);
    let dropped = prometheus_client::metrics::counter::Counter::<u64>::default();
    let filter = store.compile_query("level:error").unwrap();
    let mut rx = tail::subscribe(store.clone(), filter, store.last_committed_id(), 2, dropped.clone());
    feed(
        &store,
        &tx,
        2,
        vec![ev(T0 + 1, "h", "s", "error", "e1"), ev(T0 + 2, "h", "s", "info", "i1"), ev(T0 + 3, "h", "s", "error", "e2")],
    );
    let msg = |item: tail::TailItem| match item {
        tail::TailItem::Line(_, hit) => hit["message"].as_str().unwrap().to_string(),
        other => panic!("expected a line, got {other:?}"),
    };
    assert_eq!(msg(next_item(&mut rx).await), "e1");
    assert_eq!(msg(next_item(&mut rx).await), "e2");
    // five matches into a queue of two, nobody reading: three are dropped and counted
    feed(&store, &tx, 3, (0..5).map(|i| ev(T0 + 10 + i, "h", "s", "error", &format!("burst {i}"))).collect());
    let deadline = Instant::now() + Duration::from_secs(20);
    while dropped.get() < 3 {
        assert!(Instant::now() < deadline, "drops not counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(msg(next_item(&mut rx).await), "burst 0");
    assert_eq!(msg(next_item(&mut rx).await), "burst 1");
    feed(&store, &tx, 4, vec![ev(T0 + 20, "h", "s", "error", "after the burst")]);
    assert_eq!(next_item(&mut rx).await, tail::TailItem::Dropped(3));
    assert_eq!(msg(next_item(&mut rx).await), "after the burst");
    assert_eq!(dropped.get(), 3);
    stop(&tx);
}

fn open_live(dir: &Path, retention: Retention, replay_from: Option<u64>) -> (Arc<LogStore>, std::sync::mpsc::Sender<IndexerMsg>) {
    let (store, mut payload) = LogStore::open(dir, Telemetry::new()).unwrap();
    if let Some(seq) = replay_from {
        payload.wal_seq = seq;
    }
    let store = Arc::new(store.with_retention(retention));
    let tx = store.start_indexer(payload, Duration::from_millis(20), 20_000_000).unwrap();
    (store, tx)
}

fn stop(tx: &std::sync::mpsc::Sender<IndexerMsg>) {
    let (done, wait) = std::sync::mpsc::channel();
    tx.send(IndexerMsg::Stop(done)).unwrap();
    wait.recv_timeout(Duration::from_secs(20)).unwrap();
}

const D: i64 = 20_414; // 2025-11-22, days since the epoch

/// Two lines a day on four days: D-10, D-3, D-1 and D.
fn four_days(store: &LogStore, tx: &std::sync::mpsc::Sender<IndexerMsg>) {
    let events = [D - 10, D - 3, D - 1, D]
        .iter()
        .flat_map(|d| {
            let t = d * DAY_NS;
            [ev(t + 1, "h", "s", "info", &format!("day {d} first")), ev(t + DAY_NS - 1, "h", "s", "error", &format!("day {d} last"))]
        })
        .collect();
    feed(store, tx, 1, events);
}

fn days(store: &LogStore) -> Vec<i64> {
    store.partitions().unwrap().iter().map(|p| p.day).collect()
}

#[test]
fn partitions_per_day_are_searched_across_boundaries_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (store, tx) = open_live(dir.path(), Retention::default(), None);
    four_days(&store, &tx);
    assert_eq!(days(&store), [D - 10, D - 3, D - 1, D]);
    let parts = store.partitions().unwrap();
    assert!(parts.iter().all(|p| p.docs == 2 && p.bytes > 0 && p.max_ts - p.min_ts == DAY_NS - 2), "{parts:?}");
    // a range spanning the D-1 / D boundary reads both partitions, in order, with a cursor across them
    let req = |cursor| SearchRequest { q: String::new(), start: (D - 1) * DAY_NS + 2, end: D * DAY_NS + 2, limit: 1, desc: false, cursor };
    let r1 = store.search(&req(None)).unwrap();
    assert_eq!(r1.total, 2);
    assert_eq!(r1.hits[0]["message"], format!("day {} last", D - 1));
    let r2 = store.search(&req(r1.next_cursor.as_deref().map(|c| ordered::Key::parse_cursor(c).unwrap()))).unwrap();
    assert_eq!(r2.hits[0]["message"], format!("day {D} first"));
    assert_eq!(r2.next_cursor, None);
    let (counts, total) = store.histogram("", (D - 3) * DAY_NS, (D + 1) * DAY_NS, DAY_NS).unwrap();
    assert_eq!((counts, total), (vec![2, 0, 2, 2], 6));
    assert_eq!(store.fields("level:error", 0, i64::MAX).unwrap().total, 4);
    stop(&tx);
    drop(store);
    // restart: the catalog and every partition come back
    let (store, tx) = open_live(dir.path(), Retention::default(), None);
    assert_eq!(days(&store), [D - 10, D - 3, D - 1, D]);
    assert_eq!(store.num_docs(), 8);
    assert_eq!(store.line(1 << ID_SHIFT).unwrap().unwrap()["message"], format!("day {} first", D - 10));
    stop(&tx);
}

#[test]
fn retention_by_age_drops_exactly_the_expired_days() {
    let dir = tempfile::tempdir().unwrap();
    let (store, tx) = open_live(dir.path(), Retention { max_age: Some(Duration::from_secs(2 * 86_400)), max_bytes: None }, None);
    four_days(&store, &tx);
    let (reply, answer) = std::sync::mpsc::channel();
    // noon on day D: days wholly older than two days are D-10 and D-3 (D-3 ended at D-2 00:00)
    tx.send(IndexerMsg::Retention(D * DAY_NS + DAY_NS / 2, reply)).unwrap();
    assert_eq!(answer.recv_timeout(Duration::from_secs(20)).unwrap(), [D - 10, D - 3]);
    assert_eq!(days(&store), [D - 1, D]);
    assert_eq!(store.num_docs(), 4);
    assert_eq!(messages(&store, "first"), [format!("day {} first", D - 1), format!("day {D} first")]);
    let dirs = std::fs::read_dir(dir.path()).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).count();
    assert_eq!(dirs, 2, "dropped partitions are deleted from disk");
    stop(&tx);
    drop(store);
    let (store, tx) = open_live(dir.path(), Retention::default(), None);
    assert_eq!(days(&store), [D - 1, D], "a drop is permanent across restarts");
    stop(&tx);
}

#[test]
fn retention_by_size_drops_the_oldest_days_and_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let (store, tx) = open_live(dir.path(), Retention::default(), None);
    four_days(&store, &tx);
    let sizes: Vec<u64> = store.partitions().unwrap().iter().map(|p| p.bytes).collect();
    stop(&tx);
    drop(store);
    let (store, tx) = open_live(dir.path(), Retention { max_age: None, max_bytes: Some(sizes[2] + sizes[3]) }, None);
    let (reply, answer) = std::sync::mpsc::channel();
    tx.send(IndexerMsg::Retention(0, reply)).unwrap();
    assert_eq!(answer.recv_timeout(Duration::from_secs(20)).unwrap(), [D - 10, D - 3]);
    assert_eq!(days(&store), [D - 1, D]);
    stop(&tx);
    drop(store);
    // a limit below one partition still keeps the newest
    let (store, tx) = open_live(dir.path(), Retention { max_age: None, max_bytes: Some(1) }, None);
    let (reply, answer) = std::sync::mpsc::channel();
    tx.send(IndexerMsg::Retention(0, reply)).unwrap();
    assert_eq!(answer.recv_timeout(Duration::from_secs(20)).unwrap(), [D - 1]);
    assert_eq!(days(&store), [D]);
    stop(&tx);
}

#[test]
fn replay_after_a_crash_between_partition_and_catalog_commits_adds_no_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let (store, tx) = open_live(dir.path(), Retention::default(), None);
    four_days(&store, &tx);
    stop(&tx);
    drop(store);
    // pretend the catalog's checkpoint was not written: the WAL replays record 1 again
    let (store, tx) = open_live(dir.path(), Retention::default(), Some(0));
    let mut record = (0..1).map(|_| ev(D * DAY_NS + 5, "h", "s", "info", "replayed")).collect::<Vec<_>>();
    record.extend([ev((D + 1) * DAY_NS, "h", "s", "info", "record 2 on a new day")]);
    tx.send(IndexerMsg::Records(vec![Arc::new(WalRecord::new(
        1,
        None,
        [D - 10, D - 3, D - 1, D]
            .iter()
            .flat_map(|d| [ev(d * DAY_NS + 1, "h", "s", "info", "dup"), ev(d * DAY_NS + DAY_NS - 1, "h", "s", "error", "dup")])
            .collect(),
    ))]))
    .unwrap();
    feed(&store, &tx, 2, record);
    assert_eq!(store.num_docs(), 10);
    assert_eq!(messages(&store, "dup"), Vec::<String>::new());
    assert_eq!(days(&store), [D - 10, D - 3, D - 1, D, D + 1]);
    stop(&tx);
}

async fn next_item(rx: &mut tokio::sync::mpsc::Receiver<tail::TailItem>) -> tail::TailItem {
    tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.expect("tail item in time").expect("tail open")
}

/// Bare words look in every JSON string path a segment has, found per segment: a query compiled
/// before a path first appears (as a live tail's is) still finds lines indexed later under it.
#[test]
fn bare_words_find_json_strings_under_paths_that_appear_after_the_query_is_compiled() {
    let (_dir, store, tx) = live();
    let filter = store.compile_query("zebra").unwrap();
    let phrase = store.compile_query("\"striped zebra\"").unwrap();
    feed(&store, &tx, 1, vec![ev(T0, "h", "s", "info", "first")]);
    let mut e = ev(T0 + 1, "h", "s", "info", "second");
    e.fields = json!({"animal": {"kind": "Striped Zebra", "legs": 4}, "note": "zebra"}).as_object().unwrap().clone();
    let mut other = ev(T0 + 2, "h", "s", "info", "third");
    other.fields = json!({"kind": "striped", "other": "zebra"}).as_object().unwrap().clone();
    feed(&store, &tx, 2, vec![e, other]);
    let found = |q: &dyn tantivy::query::Query| -> Vec<String> {
        store.lines_after(q, 0, 10).unwrap().iter().map(|(_, h)| h["message"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(found(filter.as_ref()), ["second", "third"]);
    // a phrase matches within one value, not across two fields
    assert_eq!(found(phrase.as_ref()), ["second"]);
    // numbers are not bare words (as before: only strings are text)
    assert!(messages(&store, "4").is_empty());
    stop(&tx);
}

/// A hit is rebuilt from the stored part and the columns exactly as the event was ingested.
#[test]
fn hits_come_back_exactly_as_ingested() {
    let (_dir, store) = store();
    for (i, e) in corpus().into_iter().enumerate() {
        let id = (1u64 << ID_SHIFT) | i as u64;
        assert_eq!(store.line(id).unwrap().unwrap(), hit_json(id, e));
    }
    let r = store.search(&SearchRequest { q: "id:1048579".into(), start: 0, end: i64::MAX, limit: 10, desc: true, cursor: None }).unwrap();
    assert_eq!(r.total, 1);
    assert_eq!(r.hits[0]["message"], "user logged in");
}

#[test]
fn partitions_of_another_format_are_refused_with_a_clear_error() {
    // A store written by this build records its format and opens again.
    let (dir, store) = store();
    drop(store);
    assert_eq!(std::fs::read_to_string(dir.path().join("FORMAT")).unwrap(), FORMAT);
    assert!(LogStore::open(dir.path(), Telemetry::new()).is_ok());
    // Partitions without the file were written by format 1 (FST dictionaries).
    std::fs::remove_file(dir.path().join("FORMAT")).unwrap();
    let err = LogStore::open(dir.path(), Telemetry::new()).err().expect("format 1 refused").to_string();
    assert!(err.contains("older Lookout (format 1)") && err.contains("move"), "{err}");
    // A newer format names both.
    std::fs::write(dir.path().join("FORMAT"), "9\n").unwrap();
    let err = LogStore::open(dir.path(), Telemetry::new()).err().expect("format 9 refused").to_string();
    assert!(err.contains("format 9") && err.contains(&format!("reads format {FORMAT}")), "{err}");
    // An empty store without the file is new: it gets one.
    let fresh = tempfile::tempdir().unwrap();
    LogStore::open(fresh.path(), Telemetry::new()).unwrap();
    assert_eq!(std::fs::read_to_string(fresh.path().join("FORMAT")).unwrap(), FORMAT);
}

#[test]
fn a_bare_word_finds_string_values_but_not_numbers_in_json_paths() {
    let (_dir, store) = store();
    // `u-42` is a string under user.id; 830 is only a number (latency_ms), never a word.
    assert_eq!(messages(&store, "u"), ["user logged in"]);
    assert_eq!(messages(&store, "pro"), ["user logged in"]);
    assert!(messages(&store, "830").is_empty());
    // The same again, now from the per-segment path cache.
    assert_eq!(messages(&store, "pro"), ["user logged in"]);
}

#[test]
fn pages_over_many_segments_with_overlapping_times_match_a_full_sort() {
    let (_dir, store, tx) = live();
    // Eight records, each its own commit (segment), with overlapping and shuffled timestamps and
    // ties, so a segment's range does not tell its place in the order.
    let mut all = Vec::new();
    let mut x: u64 = 7;
    for seq in 1..=8u64 {
        let mut events = Vec::new();
        for j in 0..9 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let ts = T0 + ((x >> 33) % 40) as i64 * 1_000_000_000;
            let msg = format!("line {seq}-{j}");
            all.push((ts, (seq << ID_SHIFT) | j, msg.clone()));
            events.push(ev(ts, "h", "/s", if j % 3 == 0 { "error" } else { "info" }, &msg));
        }
        feed(&store, &tx, seq, events);
    }
    let segments: usize = store.all_searchers().iter().map(|s| s.segment_readers().len()).sum();
    assert!(segments > 1, "the test needs several segments, got {segments}");
    for desc in [true, false] {
        for (q, keep) in [("", 0), ("level:error", 3)] {
            let mut expected: Vec<_> =
                all.iter().filter(|(_, id, _)| keep == 0 || (*id & ((1 << ID_SHIFT) - 1)).is_multiple_of(3)).cloned().collect();
            expected.sort_by_key(|(ts, id, _)| (*ts, *id));
            if desc {
                expected.reverse();
            }
            let expected: Vec<String> = expected.into_iter().map(|(_, _, m)| m).collect();
            for limit in [1, 5, 7, 100] {
                let mut got = Vec::new();
                let mut cursor: Option<ordered::Key> = None;
                loop {
                    let r = store.search(&SearchRequest { q: q.into(), start: 0, end: i64::MAX, limit, desc, cursor }).unwrap();
                    assert_eq!(r.total, expected.len(), "{q:?} total");
                    got.extend(r.hits.iter().map(|h| h["message"].as_str().unwrap().to_string()));
                    match r.next_cursor {
                        Some(c) => cursor = Some(ordered::Key::parse_cursor(&c).unwrap()),
                        None => break,
                    }
                    assert!(got.len() <= expected.len(), "pages never end");
                }
                assert_eq!(got, expected, "q={q:?} desc={desc} limit={limit}");
            }
        }
    }
}

#[test]
fn commits_are_spaced_only_while_a_backlog_waits_and_at_most_to_the_stretch() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, _) = LogStore::open(&dir.path().join("a"), Telemetry::new()).unwrap();
    let (stretched, _) = LogStore::open(&dir.path().join("b"), Telemetry::new()).unwrap();
    let stretched = stretched.with_commit_stretch(Duration::from_secs(5));
    let mut ix = Indexer {
        writers: HashMap::new(),
        threads: 1,
        dirty: HashSet::new(),
        part_seq: HashMap::new(),
        infos: BTreeMap::new(),
        memory: 0,
        payload: CommitPayload::default(),
        uncommitted: 10_000,
    };
    let every = Duration::from_secs(1);
    let ms = Duration::from_millis;
    for s in [&plain, &stretched] {
        // Before the interval, never; at it, when the backlog is short.
        s.pending.store(ix.uncommitted + BEHIND_EVENTS - 1, Ordering::Release);
        assert!(!s.commit_due(&ix, ms(999), every));
        assert!(s.commit_due(&ix, ms(1000), every));
    }
    // A backlog: the plain store commits at the interval, the stretched one waits up to 5 s.
    for s in [&plain, &stretched] {
        s.pending.store(ix.uncommitted + BEHIND_EVENTS, Ordering::Release);
    }
    assert!(plain.commit_due(&ix, ms(1000), every));
    assert!(!stretched.commit_due(&ix, ms(1000), every));
    assert!(!stretched.commit_due(&ix, ms(4999), every));
    assert!(stretched.commit_due(&ix, ms(5000), every));
    // Or until a commit's worth of events is uncommitted.
    ix.uncommitted = STRETCH_MAX_EVENTS;
    stretched.pending.store(ix.uncommitted + BEHIND_EVENTS, Ordering::Release);
    assert!(stretched.commit_due(&ix, ms(1000), every));
    assert!(!stretched.commit_due(&ix, ms(999), every));
}
