//! The partition catalog: which day partitions exist, what they hold, and how far the WAL is
//! indexed, in one SQLite file (`logs/catalog.sqlite`).
//!
//! ```sql
//! partitions(day INTEGER PRIMARY KEY,  -- days since the Unix epoch (UTC)
//!            min_ts INTEGER, max_ts INTEGER,  -- event time range held, ns
//!            docs INTEGER, bytes INTEGER)     -- searchable lines, bytes on disk
//! meta(key TEXT PRIMARY KEY, value TEXT)      -- 'checkpoint': JSON CommitPayload
//! ```
//!
//! A commit round updates the rows of the partitions it committed and the checkpoint in one
//! transaction, after every partition's own tantivy commit (see the module docs of `logs` for
//! why that order keeps replay exactly-once).

use std::path::Path;

use rusqlite::{Connection, params};

use super::{CommitPayload, LogError};

/// One partition's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PartitionInfo {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    /// Oldest event time held, ns.
    pub min_ts: i64,
    /// Newest event time held, ns.
    pub max_ts: i64,
    /// Searchable lines.
    pub docs: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

/// The catalog database.
pub struct Catalog {
    conn: Connection,
}

fn err(e: rusqlite::Error) -> LogError {
    LogError::Storage(format!("partition catalog: {e}"))
}

impl Catalog {
    /// Opens or creates the catalog.
    pub fn open(path: &Path) -> Result<Catalog, LogError> {
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS partitions (day INTEGER PRIMARY KEY, min_ts INTEGER NOT NULL, max_ts INTEGER NOT NULL,
                                                    docs INTEGER NOT NULL, bytes INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        )
        .map_err(err)?;
        Ok(Catalog { conn })
    }

    /// The last recorded checkpoint (zero when none).
    pub fn checkpoint(&self) -> Result<CommitPayload, LogError> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'checkpoint'", [], |r| r.get(0))
            .map(Some)
            .or_else(|e| if matches!(e, rusqlite::Error::QueryReturnedNoRows) { Ok(None) } else { Err(e) })
            .map_err(err)?;
        Ok(v.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default())
    }

    /// Every partition, oldest first.
    pub fn partitions(&self) -> Result<Vec<PartitionInfo>, LogError> {
        let mut stmt = self.conn.prepare("SELECT day, min_ts, max_ts, docs, bytes FROM partitions ORDER BY day").map_err(err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(PartitionInfo {
                    day: r.get(0)?,
                    min_ts: r.get(1)?,
                    max_ts: r.get(2)?,
                    docs: r.get::<_, i64>(3)? as u64,
                    bytes: r.get::<_, i64>(4)? as u64,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    /// Records a commit round: the partitions it touched and the new checkpoint, atomically.
    pub fn commit(&mut self, payload: &CommitPayload, parts: &[PartitionInfo]) -> Result<(), LogError> {
        let tx = self.conn.transaction().map_err(err)?;
        for p in parts {
            tx.execute(
                "INSERT INTO partitions (day, min_ts, max_ts, docs, bytes) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(day) DO UPDATE SET min_ts = excluded.min_ts, max_ts = excluded.max_ts, docs = excluded.docs, bytes = excluded.bytes",
                params![p.day, p.min_ts, p.max_ts, p.docs as i64, p.bytes as i64],
            )
            .map_err(err)?;
        }
        let json = serde_json::to_string(payload).expect("payload serializes");
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('checkpoint', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![json],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Forgets a dropped partition.
    pub fn remove(&self, day: i64) -> Result<(), LogError> {
        self.conn.execute("DELETE FROM partitions WHERE day = ?1", params![day]).map_err(err)?;
        Ok(())
    }
}
