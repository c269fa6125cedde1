//! Alerting: rule loading and evaluation, alert state, routing, grouping, inhibition,
//! silences, escalation and notifiers (Slack, email, SMS, webhook).
//!
//! The seams it plugs into are fixed: rule evaluation ([`rules`])
//! takes a query function and a notify function rather than the stores, so this crate never
//! depends on the aggregator's log or metrics storage.
//!
//! Dispatch (everything Alertmanager does, plus escalation): [`config`] reads
//! `alertmanager.yml`; [`dispatch::Dispatcher`] is the [`model::AlertSink`] the rules engine
//! hands alerts to and the state behind [`api::router`]; [`store`] keeps that state in SQLite.
#![warn(missing_docs)]

pub mod api;
pub mod clock;
pub mod config;
pub mod dispatch;
pub mod escalation;
pub mod inhibit;
pub mod matcher;
pub mod model;
pub mod nflog;
pub mod notify;
pub mod rules;
pub mod silence;
pub mod store;
pub mod telemetry;

use std::path::Path;
use std::sync::Arc;

pub use dispatch::Dispatcher;

/// Opens the dispatch state in `<data_dir>/alerting.db` and builds the dispatcher for `cfg`;
/// run it with [`Dispatcher::run`]. `external_url` is the UI's base URL used in links unless
/// the config sets `global.external_url`.
pub fn open_dispatcher(cfg: config::Config, data_dir: &Path, external_url: String) -> Result<Dispatcher, store::StoreError> {
    let store = Arc::new(store::Store::open(&data_dir.join("alerting.db"))?);
    Dispatcher::new(cfg, store, external_url, Arc::new(clock::SystemClock))
}
