//! Alerting: rule loading and evaluation, alert state, routing, grouping, inhibition,
//! silences, escalation and notifiers (Slack, email, SMS, webhook).
//!
//! The seams it plugs into are fixed: rule evaluation ([`rules`])
//! takes a query function and a notify function rather than the stores, so this crate never
//! depends on the aggregator's log or metrics storage.
#![warn(missing_docs)]

pub mod model;
pub mod rules;
