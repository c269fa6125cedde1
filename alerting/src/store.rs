//! Durable dispatch state in one SQLite file (`<data_dir>/alerting.db`): alerts, silences,
//! acknowledgements, escalation progress, the notification log and the delivery log.
//!
//! Every change is written before the dispatcher acts on it (WAL journal, `synchronous=FULL`),
//! so a SIGKILL loses nothing that was acknowledged: on restart the alerts rebuild their groups
//! and the notification log stops anything already delivered from being sent again. Rows are
//! JSON documents keyed by their natural id; the schema is small on purpose.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Serialize, de::DeserializeOwned};

/// A storage failure (the message names the database file).
#[derive(Debug, thiserror::Error)]
#[error("alerting state {path}: {source}")]
pub struct StoreError {
    path: String,
    #[source]
    source: rusqlite::Error,
}

/// The database.
pub struct Store {
    conn: Mutex<Connection>,
    path: String,
}

/// The kinds of document kept.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    /// Alerts by fingerprint.
    Alerts,
    /// Silences by id.
    Silences,
    /// Acknowledgements by alert fingerprint.
    Acks,
    /// Escalation progress by group key.
    Escalations,
    /// Notification log entries by `group key / receiver / integration`.
    Nflog,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Alerts => "alerts",
            Table::Silences => "silences",
            Table::Acks => "acks",
            Table::Escalations => "escalations",
            Table::Nflog => "nflog",
        }
    }
    const ALL: [Table; 5] = [Table::Alerts, Table::Silences, Table::Acks, Table::Escalations, Table::Nflog];
}

/// One delivery attempt series, as shown by `GET /api/v1/notifications`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Delivery {
    /// Row id.
    pub id: i64,
    /// When it finished, RFC 3339.
    pub time: String,
    /// Receiver name.
    pub receiver: String,
    /// `slack`, `email`, `sms` or `webhook`.
    pub integration: String,
    /// Group key.
    pub group_key: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Number of alerts in the message.
    pub alerts: usize,
    /// `sent`, or `failed`.
    pub outcome: String,
    /// Attempts made.
    pub attempts: u32,
    /// Last error, when failed.
    pub error: Option<String>,
    /// Why it was sent: `group`, `repeat`, `escalation`.
    pub reason: String,
}

impl Store {
    /// Opens or creates the database.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let p = path.display().to_string();
        let wrap = |source| StoreError { path: p.clone(), source };
        let conn = Connection::open(path).map_err(wrap)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(wrap)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(wrap)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(wrap)?;
        for t in Table::ALL {
            conn.execute(&format!("CREATE TABLE IF NOT EXISTS {} (id TEXT PRIMARY KEY, doc TEXT NOT NULL)", t.name()), []).map_err(wrap)?;
        }
        conn.execute(
            "CREATE TABLE IF NOT EXISTS deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, receiver TEXT NOT NULL,
             integration TEXT NOT NULL, group_key TEXT NOT NULL, status TEXT NOT NULL, alerts INTEGER NOT NULL, outcome TEXT NOT NULL,
             attempts INTEGER NOT NULL, error TEXT, reason TEXT NOT NULL)",
            [],
        )
        .map_err(wrap)?;
        Ok(Store { conn: Mutex::new(conn), path: p })
    }

    /// An in-memory database (tests).
    pub fn memory() -> Store {
        Store::open(Path::new(":memory:")).expect("in-memory sqlite")
    }

    fn wrap(&self, source: rusqlite::Error) -> StoreError {
        StoreError { path: self.path.clone(), source }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Inserts or replaces a document.
    pub fn put<T: Serialize>(&self, t: Table, id: &str, doc: &T) -> Result<(), StoreError> {
        let json = serde_json::to_string(doc).expect("state documents serialize");
        self.conn()
            .prepare_cached(&format!("INSERT OR REPLACE INTO {} (id, doc) VALUES (?1, ?2)", t.name()))
            .and_then(|mut s| s.execute(params![id, json]))
            .map(|_| ())
            .map_err(|e| self.wrap(e))
    }

    /// Inserts or replaces many documents in one transaction (one fsync).
    pub fn put_many<T: Serialize>(&self, t: Table, docs: &[(&str, &T)]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.wrap(e))?;
        {
            let mut stmt =
                tx.prepare_cached(&format!("INSERT OR REPLACE INTO {} (id, doc) VALUES (?1, ?2)", t.name())).map_err(|e| self.wrap(e))?;
            for (id, doc) in docs {
                let json = serde_json::to_string(doc).expect("state documents serialize");
                stmt.execute(params![id, json]).map_err(|e| self.wrap(e))?;
            }
        }
        tx.commit().map_err(|e| self.wrap(e))
    }

    /// Deletes a document (no error when absent).
    pub fn delete(&self, t: Table, id: &str) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(&format!("DELETE FROM {} WHERE id = ?1", t.name()))
            .and_then(|mut s| s.execute(params![id]))
            .map(|_| ())
            .map_err(|e| self.wrap(e))
    }

    /// One document.
    pub fn get<T: DeserializeOwned>(&self, t: Table, id: &str) -> Result<Option<T>, StoreError> {
        let doc: Option<String> = self
            .conn()
            .query_row(&format!("SELECT doc FROM {} WHERE id = ?1", t.name()), params![id], |r| r.get(0))
            .optional()
            .map_err(|e| self.wrap(e))?;
        Ok(doc.and_then(|d| serde_json::from_str(&d).ok()))
    }

    /// Every document of a table; rows that no longer parse are skipped with a warning.
    pub fn all<T: DeserializeOwned>(&self, t: Table) -> Result<Vec<(String, T)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT id, doc FROM {}", t.name())).map_err(|e| self.wrap(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.wrap(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.wrap(e))?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, doc) in rows {
            match serde_json::from_str(&doc) {
                Ok(v) => out.push((id, v)),
                Err(e) => tracing::warn!(table = t.name(), id = %id, error = %e, "unreadable alerting state row skipped"),
            }
        }
        Ok(out)
    }

    /// Appends to the delivery log and trims it to the newest 10,000 rows.
    pub fn log_delivery(&self, d: &Delivery) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO deliveries (time, receiver, integration, group_key, status, alerts, outcome, attempts, error, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .and_then(|mut s| {
            s.execute(params![
                d.time,
                d.receiver,
                d.integration,
                d.group_key,
                d.status,
                d.alerts as i64,
                d.outcome,
                d.attempts,
                d.error,
                d.reason
            ])
        })
        .map_err(|e| self.wrap(e))?;
        let id = conn.last_insert_rowid();
        if id % 1000 == 0 {
            let _ = conn.execute("DELETE FROM deliveries WHERE id <= ?1", params![id - 10_000]);
        }
        Ok(id)
    }

    /// Newest deliveries first.
    pub fn deliveries(&self, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, time, receiver, integration, group_key, status, alerts, outcome, attempts, error, reason
                 FROM deliveries ORDER BY id DESC LIMIT ?1",
            )
            .map_err(|e| self.wrap(e))?;
        stmt.query_map(params![limit as i64], |r| {
            Ok(Delivery {
                id: r.get(0)?,
                time: r.get(1)?,
                receiver: r.get(2)?,
                integration: r.get(3)?,
                group_key: r.get(4)?,
                status: r.get(5)?,
                alerts: r.get::<_, i64>(6)? as usize,
                outcome: r.get(7)?,
                attempts: r.get(8)?,
                error: r.get(9)?,
                reason: r.get(10)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.wrap(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        {
            let s = Store::open(&path).unwrap();
            s.put(Table::Silences, "x", &serde_json::json!({"a": 1})).unwrap();
            s.put(Table::Silences, "y", &serde_json::json!({"a": 2})).unwrap();
            s.delete(Table::Silences, "y").unwrap();
        }
        let s = Store::open(&path).unwrap();
        let all: Vec<(String, serde_json::Value)> = s.all(Table::Silences).unwrap();
        assert_eq!(all, vec![("x".to_string(), serde_json::json!({"a": 1}))]);
    }
}
