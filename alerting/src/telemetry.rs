//! Alerting's own metrics, `lookout_alerting_*`. Labels are bounded: receiver and integration
//! names come from the configuration, outcomes from fixed sets.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Every metric of the dispatcher.
#[derive(Clone)]
pub struct Telemetry {
    registry: Arc<Registry>,
    /// Alerts received, by `source` (`api`, `rules`) and `status` (`firing`, `resolved`).
    pub alerts_received: Family<Labels, Counter>,
    /// Alerts refused as invalid, by `source`.
    pub alerts_invalid: Family<Labels, Counter>,
    /// Alerts held, by `state` (`active`, `suppressed`).
    pub alerts: Family<Labels, Gauge>,
    /// Notifications delivered or given up, by `receiver`, `integration`, `outcome` (`sent`, `failed`).
    pub notifications: Family<Labels, Counter>,
    /// Single delivery attempts, by `integration` and `result` (`ok`, `retryable`, `fatal`).
    pub attempts: Family<Labels, Counter>,
    /// Time from start of delivery to success, by `integration`.
    pub latency: Family<Labels, Histogram>,
    /// Failed writes of alerting state to SQLite.
    pub state_write_errors: Counter,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

/// Label pairs.
pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl Telemetry {
    /// Creates and registers every metric.
    pub fn new() -> Telemetry {
        let mut r = Registry::default();
        let t = Telemetry {
            registry: Arc::new(Registry::default()),
            alerts_received: Family::default(),
            alerts_invalid: Family::default(),
            alerts: Family::default(),
            notifications: Family::default(),
            attempts: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])),
            state_write_errors: Counter::default(),
        };
        r.register("lookout_alerting_alerts_received", "Alerts received by source and status", t.alerts_received.clone());
        r.register("lookout_alerting_alerts_invalid", "Alerts refused as invalid, by source", t.alerts_invalid.clone());
        r.register("lookout_alerting_alerts", "Alerts held by the dispatcher, by state", t.alerts.clone());
        r.register("lookout_alerting_notifications", "Notifications by receiver, integration and outcome", t.notifications.clone());
        r.register("lookout_alerting_notification_attempts", "Delivery attempts by integration and result", t.attempts.clone());
        r.register("lookout_alerting_notification_latency_seconds", "Delivery time including retries", t.latency.clone());
        r.register("lookout_alerting_state_write_errors", "Failed writes of alerting state", t.state_write_errors.clone());
        Telemetry { registry: Arc::new(r), ..t }
    }

    /// Text exposition without the trailing `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        out.trim_end_matches("# EOF\n").to_string()
    }
}
