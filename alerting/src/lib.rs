//! Alerting: rule loading and evaluation, alert state, routing, grouping, inhibition,
//! silences, escalation and notifiers (Slack, email, SMS, webhook).
//!
//! The seams it will plug into are already fixed: rule evaluation
//! takes a query function and a notify function rather than the stores, so this crate never
//! depends on the aggregator's log or metrics storage.
#![warn(missing_docs)]

pub mod model;
