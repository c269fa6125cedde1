//! An [`AlertSink`] that posts to external Alertmanagers' `POST /api/v2/alerts`, as
//! Prometheus's notifier does: a bounded queue (oldest batches dropped and counted when full),
//! one sender task, every batch to every Alertmanager, a timeout per request. No retry beyond
//! the next evaluation's re-send: alerts are re-sent every resend delay anyway.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::model::{AlertSink, PostableAlert};

/// Queue capacity in batches.
pub const QUEUE: usize = 1024;

/// Delivery counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Alerts delivered (per Alertmanager).
    pub sent: AtomicU64,
    /// Failed requests.
    pub errors: AtomicU64,
    /// Alerts dropped because the queue was full.
    pub dropped: AtomicU64,
}

/// Sends to Alertmanagers at `urls` (base URLs, e.g. `http://am:9093`).
pub struct Alertmanager {
    tx: mpsc::Sender<Vec<PostableAlert>>,
    /// Counters.
    pub stats: Arc<Stats>,
}

impl Alertmanager {
    /// Starts the sender task on the current tokio runtime.
    pub fn start(urls: Vec<String>, timeout: Duration) -> Result<Alertmanager, String> {
        let client = reqwest::Client::builder().timeout(timeout).build().map_err(|e| format!("cannot build HTTP client: {e}"))?;
        let (tx, mut rx) = mpsc::channel::<Vec<PostableAlert>>(QUEUE);
        let stats = Arc::new(Stats::default());
        let st = stats.clone();
        let endpoints: Vec<String> = urls.iter().map(|u| format!("{}/api/v2/alerts", u.trim_end_matches('/'))).collect();
        tokio::spawn(async move {
            while let Some(mut batch) = rx.recv().await {
                // Coalesce what is queued into one request.
                while batch.len() < 1000 {
                    match rx.try_recv() {
                        Ok(more) => batch.extend(more),
                        Err(_) => break,
                    }
                }
                for url in &endpoints {
                    match client.post(url).json(&batch).send().await {
                        Ok(r) if r.status().is_success() => {
                            st.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        }
                        Ok(r) => {
                            st.errors.fetch_add(1, Ordering::Relaxed);
                            let status = r.status();
                            let body = r.text().await.unwrap_or_default();
                            tracing::warn!(%url, %status, body = %body.chars().take(200).collect::<String>(), alerts = batch.len(), "Alertmanager refused alerts");
                        }
                        Err(e) => {
                            st.errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(%url, error = %e, alerts = batch.len(), "cannot send alerts to Alertmanager");
                        }
                    }
                }
            }
        });
        Ok(Alertmanager { tx, stats })
    }
}

impl AlertSink for Alertmanager {
    fn send(&self, alerts: Vec<PostableAlert>) {
        let n = alerts.len() as u64;
        if self.tx.try_send(alerts).is_err() {
            self.stats.dropped.fetch_add(n, Ordering::Relaxed);
            tracing::warn!(alerts = n, "alert queue full; dropping alerts");
        }
    }
}

/// A sink that discards (counting), for when no Alertmanager is configured.
#[derive(Debug, Default)]
pub struct Discard {
    /// Alerts received.
    pub received: AtomicU64,
}

impl AlertSink for Discard {
    fn send(&self, alerts: Vec<PostableAlert>) {
        self.received.fetch_add(alerts.len() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn posts_alertmanager_v2_json() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let got: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
        let g = got.clone();
        let app = axum::Router::new().route(
            "/api/v2/alerts",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let g = g.clone();
                async move {
                    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    g.lock().unwrap().push((ct, serde_json::from_str(&body).unwrap()));
                    ""
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let am = Alertmanager::start(vec![format!("http://{addr}/")], Duration::from_secs(5)).unwrap();
        let alert = PostableAlert {
            labels: [("alertname".to_string(), "Down".to_string())].into(),
            annotations: [("summary".to_string(), "x".to_string())].into(),
            starts_at: Some("2024-01-01T00:00:00Z".into()),
            ends_at: Some("2024-01-01T00:04:00Z".into()),
            generator_url: Some("http://l/graph".into()),
        };
        am.send(vec![alert]);
        for _ in 0..200 {
            if am.stats.sent.load(Ordering::Relaxed) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "application/json");
        assert_eq!(
            got[0].1,
            serde_json::json!([{"labels": {"alertname": "Down"}, "annotations": {"summary": "x"}, "startsAt": "2024-01-01T00:00:00Z", "endsAt": "2024-01-01T00:04:00Z", "generatorURL": "http://l/graph"}])
        );
    }
}
