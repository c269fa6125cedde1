//! `lookout-tsdb-bench`: the metrics store benchmarks (BENCHMARKS.md, "Metrics store").
//!
//! - `chunks`: compares the chunk encodings (Gorilla XOR/delta-of-delta vs pcodec) on generated
//!   series shaped like real scrapes — counters, integer and float gauges, constant series,
//!   timestamps with scrape jitter — at several chunk sizes: bytes per sample, encode and decode
//!   time per sample. Pure CPU, in process, bounded by `--series`.
//! - `prometheus`: sends the same generated remote_write data to a `prometheus` (Debian package,
//!   `--web.enable-remote-write-receiver`, started here on loopback) and to `lookout serve`,
//!   then compares ingest time, bytes per sample on disk after blocks are cut, and the latency
//!   of a query set, as ratios of the same run.

use std::time::Instant;

mod vs_prometheus;

use aggregator::tsdb::chunk;
use clap::{Parser, Subcommand};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Chunk encodings compared on generated series.
    Chunks {
        /// Series of each kind.
        #[arg(long, default_value_t = 200)]
        series: usize,
        /// Samples per series (15 s apart: 480 = 2 h).
        #[arg(long, default_value_t = 1920)]
        samples: usize,
    },
    /// Rule evaluation: the same rules and data in a real Prometheus and in `lookout serve`.
    Rules {
        /// Active series.
        #[arg(long, default_value_t = 100_000)]
        series: usize,
        /// Rules (groups of 100).
        #[arg(long, default_value_t = 1000)]
        rules: usize,
        /// Evaluation interval, seconds.
        #[arg(long, default_value_t = 15)]
        interval: u64,
        /// Cycles to wait before reading the evaluation times.
        #[arg(long, default_value_t = 3)]
        cycles: usize,
        /// The `lookout` binary (default: next to this one).
        #[arg(long)]
        lookout: Option<std::path::PathBuf>,
        /// The `prometheus` binary.
        #[arg(long, default_value = "prometheus")]
        prometheus: std::path::PathBuf,
    },
    /// The same remote_write data into a real Prometheus and into `lookout serve`, same run.
    Prometheus {
        /// Active series.
        #[arg(long, default_value_t = 10_000)]
        series: usize,
        /// Hours of data at 15 s per sample, ending now.
        #[arg(long, default_value_t = 3)]
        hours: u32,
        /// Block range of both stores, minutes.
        #[arg(long, default_value_t = 30)]
        block_minutes: u32,
        /// Runs of each query (the median is reported).
        #[arg(long, default_value_t = 11)]
        rounds: usize,
        /// The `lookout` binary (default: next to this one).
        #[arg(long)]
        lookout: Option<std::path::PathBuf>,
        /// The `prometheus` binary.
        #[arg(long, default_value = "prometheus")]
        prometheus: std::path::PathBuf,
        /// Series per remote_write request.
        #[arg(long, default_value_t = 2000)]
        series_per_request: usize,
        /// Samples per series per request.
        #[arg(long, default_value_t = 10)]
        samples_per_series_per_request: usize,
        /// The data set: `jitter` (±25 ms timestamp jitter, full-precision random-walk floats)
        /// or `scrape` (as node_exporter scraped by Prometheus: timestamps exactly on the
        /// interval, integer counters, page-sized memory steps, ratios with 2 decimals).
        #[arg(long, default_value = "jitter", value_parser = ["jitter", "scrape"])]
        data: String,
    },
}

/// Generated series by kind: (name, series).
/// Generated series of each kind: `(kind, series of (ms, value) samples)`.
pub type Generated = Vec<(&'static str, Vec<Vec<(i64, f64)>>)>;

pub fn generate(series: usize, samples: usize, seed: u64) -> Generated {
    let mut rng = StdRng::seed_from_u64(seed);
    let times = |rng: &mut StdRng| -> Vec<i64> {
        let mut t = 1_700_000_000_000i64 + rng.random_range(0..15_000);
        (0..samples)
            .map(|_| {
                t += 15_000;
                t + rng.random_range(-25..=25) // scrape jitter, ms
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut counters = Vec::new();
    for _ in 0..series {
        let ts = times(&mut rng);
        let rate = rng.random_range(0.1..200.0f64);
        let mut v = rng.random_range(0..1_000_000) as f64;
        counters.push(
            ts.into_iter()
                .map(|t| {
                    v += (rate * 15.0 * rng.random_range(0.5..1.5f64)).round();
                    if rng.random_range(0..5000) == 0 {
                        v = 0.0; // restart
                    }
                    (t, v)
                })
                .collect(),
        );
    }
    out.push(("counter (integer increments)", counters));
    let mut gauges = Vec::new();
    for _ in 0..series {
        let ts = times(&mut rng);
        let mut v = rng.random_range(1e8..8e9f64).round();
        gauges.push(
            ts.into_iter()
                .map(|t| {
                    v = (v + rng.random_range(-4096.0..4096.0f64) * 4096.0).max(0.0).round();
                    (t, v)
                })
                .collect(),
        );
    }
    out.push(("gauge (memory bytes)", gauges));
    let mut floats = Vec::new();
    for _ in 0..series {
        let ts = times(&mut rng);
        let mut v = rng.random_range(0.0..1.0f64);
        floats.push(
            ts.into_iter()
                .map(|t| {
                    v = (v + rng.random_range(-0.05..0.05f64)).clamp(0.0, 1.0);
                    (t, v)
                })
                .collect(),
        );
    }
    out.push(("gauge (float ratio)", floats));
    let mut consts = Vec::new();
    for _ in 0..series {
        let ts = times(&mut rng);
        consts.push(ts.into_iter().map(|t| (t, 1.0)).collect());
    }
    out.push(("constant (up)", consts));
    out
}

fn chunks_bench(series: usize, samples: usize) {
    let data = generate(series, samples, 42);
    println!("| series kind | chunk size | encoding | bytes/sample | encode ns/sample | decode ns/sample |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let mut totals: std::collections::BTreeMap<(usize, &str), (usize, u64, f64, f64)> = Default::default();
    for (kind, list) in &data {
        for size in [120usize, 480, 1920] {
            for (enc, name) in [
                (chunk::ENC_GORILLA, "gorilla"),
                (chunk::ENC_XOR_DECIMAL, "xor-decimal"),
                (chunk::ENC_PCO, "pco"),
                (chunk::ENC_SHAPED, "shaped"),
            ] {
                let mut bytes = 0usize;
                let mut n = 0u64;
                let mut encoded = Vec::new();
                let t0 = Instant::now();
                for s in list {
                    for part in s.chunks(size) {
                        let b = chunk::encode(enc, part);
                        bytes += b.len();
                        n += part.len() as u64;
                        encoded.push(b);
                    }
                }
                let enc_ns = t0.elapsed().as_nanos() as f64 / n as f64;
                let t0 = Instant::now();
                let mut check = 0u64;
                for b in &encoded {
                    let d = chunk::decode(b).expect("round trip");
                    check += d.len() as u64;
                }
                let dec_ns = t0.elapsed().as_nanos() as f64 / n as f64;
                assert_eq!(check, n);
                println!("| {kind} | {size} | {name} | {:.3} | {enc_ns:.1} | {dec_ns:.1} |", bytes as f64 / n as f64);
                let e = totals.entry((size, name)).or_default();
                e.0 += bytes;
                e.1 += n;
                e.2 += enc_ns * n as f64;
                e.3 += dec_ns * n as f64;
            }
        }
    }
    println!();
    println!("| all kinds | chunk size | encoding | bytes/sample | encode ns/sample | decode ns/sample |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for ((size, name), (bytes, n, e, d)) in totals {
        println!("| all | {size} | {name} | {:.3} | {:.1} | {:.1} |", bytes as f64 / n as f64, e / n as f64, d / n as f64);
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.cmd {
        Cmd::Chunks { series, samples } => {
            chunks_bench(series.clamp(1, 10_000), samples.clamp(1, 100_000));
            Ok(())
        }
        Cmd::Rules { series, rules, interval, cycles, lookout, prometheus } => {
            let lookout = match lookout {
                Some(p) => p,
                None => std::env::current_exe()?.with_file_name("lookout"),
            };
            let o = vs_prometheus::Opts {
                series: series.clamp(1, 1_000_000),
                hours: 0,
                minutes: 10,
                block_minutes: 120,
                rounds: 1,
                lookout,
                prometheus,
                series_per_request: 2000,
                samples_per_series_per_request: 10,
                scrape_data: false,
            };
            vs_prometheus::run_rules(o, rules.clamp(1, 100_000), interval.clamp(1, 600), cycles.clamp(1, 100))
        }
        Cmd::Prometheus {
            series,
            hours,
            block_minutes,
            rounds,
            lookout,
            prometheus,
            series_per_request,
            samples_per_series_per_request,
            data,
        } => {
            let lookout = match lookout {
                Some(p) => p,
                None => std::env::current_exe()?.with_file_name("lookout"),
            };
            vs_prometheus::run(vs_prometheus::Opts {
                series: series.clamp(1, 1_000_000),
                hours: hours.clamp(2, 48),
                minutes: 0,
                block_minutes: block_minutes.clamp(5, 240),
                rounds: rounds.clamp(1, 101),
                lookout,
                prometheus,
                series_per_request: series_per_request.clamp(1, 100_000),
                samples_per_series_per_request: samples_per_series_per_request.clamp(1, 1000),
                scrape_data: data == "scrape",
            })
        }
    }
}
