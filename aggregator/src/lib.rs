//! `lookout`, the aggregator: ingest, write-ahead log, log store, HTTP API and the web UI.
//!
//! Data flows one way: HTTP ingest → [`wal`] (durable, deduplicated) → [`logs`] indexer →
//! searchable. Query paths ([`logs`] search, [`http`] handlers) never write. [`server`]
//! starts and stops everything in one place; [`up`] is the all-in-one `lookout up`.
#![warn(missing_docs)]

pub mod agents;
pub mod auth;
pub mod backup;
pub mod config;
pub mod dashboards;
pub mod demo;
pub mod group_commit;
pub mod http;
pub mod ingest;
pub mod logs;
pub mod metrics_api;
pub mod promql;
pub mod rules_api;
pub mod self_monitor;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod tsdb;
pub mod up;
pub mod wal;
