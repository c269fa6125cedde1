//! SIGKILL the aggregator while a client keeps sending batches with `Lookout-Batch` ids, as the
//! agent does: every acknowledged line survives, and the client's retries of batches whose
//! answer it never saw are stored once, not twice.

use std::time::Duration;

use tests::{Aggregator, client, free_port, wait_for};

const BATCHES: u64 = 60;
const PER_BATCH: u64 = 50;

fn body(batch: u64) -> String {
    (0..PER_BATCH).map(|i| format!("{{\"message\":\"crash-test line\",\"batch\":{batch},\"n\":{}}}\n", batch * PER_BATCH + i)).collect()
}

#[test]
fn sigkill_loses_no_acknowledged_line_and_adds_no_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let mut agg = Aggregator::start(&data, port, &[]);
    let c = client();
    let mut acked = 0u64;
    let mut batch = 1u64;
    let mut kills = 0;
    while batch <= BATCHES {
        // kill in the middle of the stream, several times, without waiting for the indexer
        if batch.is_multiple_of(17) && kills < (batch / 17) {
            agg.proc.kill9();
            kills += 1;
            agg = Aggregator::start(&data, port, &[]);
        }
        let resp = c
            .post(format!("{}/api/v1/logs/ingest", agg.url))
            .header("Lookout-Batch", format!("crash-client/s1/{batch}"))
            .body(body(batch))
            .send();
        match resp {
            Ok(r) if r.status().is_success() => {
                acked = batch;
                // every fifth batch is re-sent as if the answer had been lost: must be a no-op
                if batch.is_multiple_of(5) {
                    let again = c
                        .post(format!("{}/api/v1/logs/ingest", agg.url))
                        .header("Lookout-Batch", format!("crash-client/s1/{batch}"))
                        .body(body(batch))
                        .send()
                        .unwrap();
                    assert!(again.status().is_success());
                    let v: serde_json::Value = again.json().unwrap();
                    assert_eq!(v["duplicate"], true, "batch {batch} re-sent");
                }
                batch += 1;
            }
            _ => std::thread::sleep(Duration::from_millis(50)), // retry the same batch id
        }
    }
    assert_eq!(acked, BATCHES);
    assert!(kills >= 3);
    // one last kill right after the final acknowledgement, before any index commit
    agg.proc.kill9();
    let agg = Aggregator::start(&data, port, &[]);
    let expected = BATCHES * PER_BATCH;
    wait_for("all acknowledged lines", Duration::from_secs(30), || (agg.count("crash-test") >= expected).then_some(()));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(agg.count("crash-test"), expected);
    let hits = agg.search("crash-test", 10_000);
    let mut ns: Vec<u64> = hits["hits"].as_array().unwrap().iter().map(|h| h["fields"]["n"].as_u64().unwrap()).collect();
    ns.sort();
    assert_eq!(ns, (PER_BATCH..(BATCHES + 1) * PER_BATCH).collect::<Vec<_>>());
}
