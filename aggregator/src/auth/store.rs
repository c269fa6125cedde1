//! Users, API tokens, sessions and the audit log, in `<data_dir>/auth.db` (SQLite, WAL mode).
//!
//! The CLI (`lookout user …`, `lookout token …`) and the running server open the same file;
//! every check reads the database, so a token revoked from the CLI is refused by the very next
//! request. Passwords are hashed with argon2id; API tokens and session ids are 256-bit random
//! secrets stored as SHA-256 (a fast hash is right for secrets with that much entropy). All SQL
//! takes its values as bound parameters.

use std::path::Path;
use std::sync::Mutex;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Role;

/// A store error (database or a refused operation).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// SQLite failed.
    #[error("auth database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The request is wrong (bad name, weak password, unknown role…).
    #[error("{0}")]
    Invalid(String),
    /// No such user or token.
    #[error("{0}")]
    NotFound(String),
    /// Already exists.
    #[error("{0}")]
    Conflict(String),
}

/// A user as the API shows it (never the hash).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Created, ms since the epoch.
    pub created_ms: i64,
    /// Last change of role or password, ms.
    pub updated_ms: i64,
}

/// A token as the API shows it (never the secret).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenInfo {
    /// Public id (the `lkt_<id>_` part of the token).
    pub id: String,
    /// What it is for.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Created, ms.
    pub created_ms: i64,
    /// Expiry, ms (`None`: never).
    pub expires_ms: Option<i64>,
    /// Revoked at, ms.
    pub revoked_ms: Option<i64>,
    /// Who created it.
    pub created_by: String,
}

/// Why a bearer token or session was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a token this server issued.
    Unknown,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
}

impl Refused {
    /// For the 401 body and the failure counter.
    pub fn reason(self) -> &'static str {
        match self {
            Refused::Unknown => "unknown token",
            Refused::Expired => "token expired",
            Refused::Revoked => "token revoked",
        }
    }
}

/// An audit row.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    /// Sequence.
    pub id: i64,
    /// When, ms.
    pub ts_ms: i64,
    /// Who (`user:alice`, `token:ci-agent`, `cli:root`, `anonymous`).
    pub actor: String,
    /// From where (client address).
    pub addr: String,
    /// What (`POST /api/v2/silences`, `login`, `user.add`…).
    pub action: String,
    /// The object acted on (silence id, fingerprint, user name…).
    pub target: String,
    /// State before, JSON.
    pub before: Option<Value>,
    /// State after, JSON.
    pub after: Option<Value>,
    /// HTTP status, or 0 for the CLI.
    pub status: u16,
}

/// A new audit row.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    /// Who.
    pub actor: String,
    /// From where.
    pub addr: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Before.
    pub before: Option<Value>,
    /// After.
    pub after: Option<Value>,
    /// Status.
    pub status: u16,
}

/// The auth database.
pub struct AuthStore {
    conn: Mutex<Connection>,
    dummy_hash: String,
}

/// Prefix of every API token.
pub const TOKEN_PREFIX: &str = "lkt_";

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn random_secret() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn sha256(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

fn hash_password(pw: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Invalid(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(pw.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Invalid(format!("cannot hash password: {e}")))
}

fn verify_password(pw: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(h) => Argon2::default().verify_password(pw.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// User names: 1–64 characters of letters, digits and `._@-`.
pub fn check_name(name: &str) -> Result<(), AuthError> {
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c)) {
        return Err(AuthError::Invalid(format!("invalid name {name:?}: use 1-64 letters, digits, '.', '_', '@' or '-'")));
    }
    Ok(())
}

/// Passwords: at least 8 characters, at most 1024.
pub fn check_password(pw: &str) -> Result<(), AuthError> {
    let n = pw.chars().count();
    if n < 8 {
        return Err(AuthError::Invalid("password too short: use at least 8 characters".into()));
    }
    if pw.len() > 1024 {
        return Err(AuthError::Invalid("password too long: at most 1024 bytes".into()));
    }
    Ok(())
}

fn role_col(s: String) -> Role {
    // Rows are written only through `Role::as_str`; an edited row with another value gets the
    // least privilege.
    s.parse().unwrap_or(Role::Viewer)
}

impl AuthStore {
    /// Opens (creating) `<data_dir>/auth.db`.
    pub fn open(data_dir: &Path) -> Result<AuthStore, AuthError> {
        std::fs::create_dir_all(data_dir).map_err(|e| AuthError::Invalid(format!("cannot create {}: {e}", data_dir.display())))?;
        let conn = Connection::open(data_dir.join("auth.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
                 created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
                 secret_hash BLOB NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER, revoked_ms INTEGER,
                 created_by TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS sessions (id_hash BLOB PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL,
                 created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, addr TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, ts_ms INTEGER NOT NULL,
                 actor TEXT NOT NULL, addr TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
                 before TEXT, after TEXT, status INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS audit_ts ON audit(ts_ms);",
        )?;
        let dummy_hash = hash_password("not-a-real-password-used-for-timing")?;
        Ok(AuthStore { conn: Mutex::new(conn), dummy_hash })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a user.
    pub fn add_user(&self, name: &str, role: Role, password: &str) -> Result<User, AuthError> {
        check_name(name)?;
        check_password(password)?;
        if role == Role::Ingest {
            return Err(AuthError::Invalid("users are viewer, editor or admin; ingest is for tokens".into()));
        }
        let hash = hash_password(password)?;
        let now = now_ms();
        let n = self.conn().execute(
            "INSERT OR IGNORE INTO users (name, role, password_hash, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
            params![name, role.as_str(), hash, now],
        )?;
        if n == 0 {
            return Err(AuthError::Conflict(format!("user {name:?} already exists")));
        }
        Ok(User { name: name.into(), role, created_ms: now, updated_ms: now })
    }

    /// One user.
    pub fn user(&self, name: &str) -> Result<Option<User>, AuthError> {
        Ok(self
            .conn()
            .query_row("SELECT name, role, created_ms, updated_ms FROM users WHERE name = ?1", params![name], |r| {
                Ok(User { name: r.get(0)?, role: role_col(r.get(1)?), created_ms: r.get(2)?, updated_ms: r.get(3)? })
            })
            .optional()?)
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>, AuthError> {
        let c = self.conn();
        let mut st = c.prepare("SELECT name, role, created_ms, updated_ms FROM users ORDER BY name")?;
        let rows =
            st.query_map([], |r| Ok(User { name: r.get(0)?, role: role_col(r.get(1)?), created_ms: r.get(2)?, updated_ms: r.get(3)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Changes a password (and signs the user out everywhere).
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), AuthError> {
        check_password(password)?;
        let hash = hash_password(password)?;
        let c = self.conn();
        let n = c.execute("UPDATE users SET password_hash = ?2, updated_ms = ?3 WHERE name = ?1", params![name, hash, now_ms()])?;
        if n == 0 {
            return Err(AuthError::NotFound(format!("no user {name:?}")));
        }
        c.execute("DELETE FROM sessions WHERE user = ?1", params![name])?;
        Ok(())
    }

    /// Changes a role (and signs the user out everywhere).
    pub fn set_role(&self, name: &str, role: Role) -> Result<(), AuthError> {
        if role == Role::Ingest {
            return Err(AuthError::Invalid("users are viewer, editor or admin; ingest is for tokens".into()));
        }
        let c = self.conn();
        let n = c.execute("UPDATE users SET role = ?2, updated_ms = ?3 WHERE name = ?1", params![name, role.as_str(), now_ms()])?;
        if n == 0 {
            return Err(AuthError::NotFound(format!("no user {name:?}")));
        }
        c.execute("DELETE FROM sessions WHERE user = ?1", params![name])?;
        Ok(())
    }

    /// Removes a user and their sessions.
    pub fn remove_user(&self, name: &str) -> Result<(), AuthError> {
        let c = self.conn();
        let n = c.execute("DELETE FROM users WHERE name = ?1", params![name])?;
        if n == 0 {
            return Err(AuthError::NotFound(format!("no user {name:?}")));
        }
        c.execute("DELETE FROM sessions WHERE user = ?1", params![name])?;
        Ok(())
    }

    /// Checks a password. Unknown users cost the same time as known ones.
    pub fn check_login(&self, name: &str, password: &str) -> Result<Option<User>, AuthError> {
        let row: Option<(String, String, i64, i64)> = self
            .conn()
            .query_row("SELECT role, password_hash, created_ms, updated_ms FROM users WHERE name = ?1", params![name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        match row {
            Some((role, hash, created_ms, updated_ms)) if verify_password(password, &hash) => {
                Ok(Some(User { name: name.into(), role: role_col(role), created_ms, updated_ms }))
            }
            Some(_) => Ok(None),
            None => {
                let _ = verify_password(password, &self.dummy_hash);
                Ok(None)
            }
        }
    }

    /// Creates a token; returns its info and the secret (shown once, never stored).
    pub fn create_token(
        &self,
        name: &str,
        role: Role,
        expires_ms: Option<i64>,
        created_by: &str,
    ) -> Result<(TokenInfo, String), AuthError> {
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return Err(AuthError::Invalid("token name: 1-128 printable characters".into()));
        }
        let mut idb = [0u8; 6];
        rand::rng().fill_bytes(&mut idb);
        let id: String = idb.iter().map(|b| format!("{b:02x}")).collect();
        let secret = random_secret();
        let now = now_ms();
        self.conn().execute(
            "INSERT INTO tokens (id, name, role, secret_hash, created_ms, expires_ms, revoked_ms, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7)",
            params![id, name, role.as_str(), sha256(&secret), now, expires_ms, created_by],
        )?;
        let token = format!("{TOKEN_PREFIX}{id}_{secret}");
        Ok((TokenInfo { id, name: name.into(), role, created_ms: now, expires_ms, revoked_ms: None, created_by: created_by.into() }, token))
    }

    /// Every token, newest first.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, AuthError> {
        let c = self.conn();
        let mut st =
            c.prepare("SELECT id, name, role, created_ms, expires_ms, revoked_ms, created_by FROM tokens ORDER BY created_ms DESC, id")?;
        let rows = st.query_map([], token_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One token by id.
    pub fn token(&self, id: &str) -> Result<Option<TokenInfo>, AuthError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, name, role, created_ms, expires_ms, revoked_ms, created_by FROM tokens WHERE id = ?1",
                params![id],
                token_row,
            )
            .optional()?)
    }

    /// Revokes a token by id (or by name when exactly one live token has it).
    pub fn revoke_token(&self, id_or_name: &str) -> Result<TokenInfo, AuthError> {
        let id = match self.token(id_or_name)? {
            Some(t) => t.id,
            None => {
                let c = self.conn();
                let mut st = c.prepare("SELECT id FROM tokens WHERE name = ?1 AND revoked_ms IS NULL")?;
                let ids: Vec<String> = st.query_map(params![id_or_name], |r| r.get(0))?.collect::<Result<_, _>>()?;
                match ids.len() {
                    0 => return Err(AuthError::NotFound(format!("no live token with id or name {id_or_name:?}"))),
                    1 => ids.into_iter().next().unwrap_or_default(),
                    n => return Err(AuthError::Invalid(format!("{n} live tokens are named {id_or_name:?}: revoke by id"))),
                }
            }
        };
        self.conn().execute("UPDATE tokens SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL", params![id, now_ms()])?;
        self.token(&id)?.ok_or_else(|| AuthError::NotFound(format!("no token {id:?}")))
    }

    /// Resolves a bearer token.
    pub fn check_token(&self, token: &str) -> Result<Result<TokenInfo, Refused>, AuthError> {
        let Some(rest) = token.strip_prefix(TOKEN_PREFIX) else { return Ok(Err(Refused::Unknown)) };
        let Some((id, secret)) = rest.split_once('_') else { return Ok(Err(Refused::Unknown)) };
        let row: Option<(TokenInfo, Vec<u8>)> = self
            .conn()
            .query_row(
                "SELECT id, name, role, created_ms, expires_ms, revoked_ms, created_by, secret_hash FROM tokens WHERE id = ?1",
                params![id],
                |r| Ok((token_row(r)?, r.get(7)?)),
            )
            .optional()?;
        let Some((info, hash)) = row else { return Ok(Err(Refused::Unknown)) };
        if !bool::from(sha256(secret).ct_eq(&hash)) {
            return Ok(Err(Refused::Unknown));
        }
        if info.revoked_ms.is_some() {
            return Ok(Err(Refused::Revoked));
        }
        if info.expires_ms.is_some_and(|e| e <= now_ms()) {
            return Ok(Err(Refused::Expired));
        }
        Ok(Ok(info))
    }

    /// Starts a session; returns (session id, CSRF token).
    pub fn create_session(&self, user: &str, ttl_ms: i64, addr: &str) -> Result<(String, String), AuthError> {
        let id = random_secret();
        let csrf = random_secret();
        let now = now_ms();
        let c = self.conn();
        c.execute("DELETE FROM sessions WHERE expires_ms <= ?1", params![now])?;
        c.execute(
            "INSERT INTO sessions (id_hash, user, csrf, created_ms, expires_ms, addr) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![sha256(&id), user, csrf, now, now + ttl_ms, addr],
        )?;
        Ok((id, csrf))
    }

    /// Resolves a session cookie to its user and CSRF token.
    pub fn check_session(&self, id: &str) -> Result<Option<(User, String)>, AuthError> {
        let row: Option<(String, String, i64)> = self
            .conn()
            .query_row("SELECT user, csrf, expires_ms FROM sessions WHERE id_hash = ?1", params![sha256(id)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let Some((user, csrf, expires)) = row else { return Ok(None) };
        if expires <= now_ms() {
            return Ok(None);
        }
        Ok(self.user(&user)?.map(|u| (u, csrf)))
    }

    /// Ends a session.
    pub fn end_session(&self, id: &str) -> Result<(), AuthError> {
        self.conn().execute("DELETE FROM sessions WHERE id_hash = ?1", params![sha256(id)])?;
        Ok(())
    }

    /// Appends an audit row.
    pub fn audit(&self, e: AuditEntry) -> Result<(), AuthError> {
        self.conn().execute(
            "INSERT INTO audit (ts_ms, actor, addr, action, target, before, after, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                now_ms(),
                e.actor,
                e.addr,
                e.action,
                e.target,
                e.before.map(|v| v.to_string()),
                e.after.map(|v| v.to_string()),
                e.status
            ],
        )?;
        Ok(())
    }

    /// Audit rows, newest first, optionally filtered by actor and action prefix.
    pub fn audit_rows(
        &self,
        limit: usize,
        before_id: Option<i64>,
        actor: Option<&str>,
        action: Option<&str>,
    ) -> Result<Vec<AuditRow>, AuthError> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT id, ts_ms, actor, addr, action, target, before, after, status FROM audit
             WHERE (?1 IS NULL OR id < ?1) AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR substr(action, 1, length(?3)) = ?3)
             ORDER BY id DESC LIMIT ?4",
        )?;
        let parse = |s: Option<String>| s.map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s)));
        let rows = st.query_map(params![before_id, actor, action, limit as i64], |r| {
            Ok(AuditRow {
                id: r.get(0)?,
                ts_ms: r.get(1)?,
                actor: r.get(2)?,
                addr: r.get(3)?,
                action: r.get(4)?,
                target: r.get(5)?,
                before: parse(r.get(6)?),
                after: parse(r.get(7)?),
                status: r.get::<_, i64>(8)? as u16,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenInfo> {
    Ok(TokenInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        role: role_col(r.get(2)?),
        created_ms: r.get(3)?,
        expires_ms: r.get(4)?,
        revoked_ms: r.get(5)?,
        created_by: r.get(6)?,
    })
}

/// A user's public JSON (for audit before/after).
pub fn user_json(u: &User) -> Value {
    json!({"name": u.name, "role": u.role.as_str()})
}

/// A token's public JSON (for audit before/after).
pub fn token_json(t: &TokenInfo) -> Value {
    json!({"id": t.id, "name": t.name, "role": t.role.as_str(), "expires_ms": t.expires_ms, "revoked_ms": t.revoked_ms})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_tokens_sessions_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = AuthStore::open(dir.path()).unwrap();
        s.add_user("alice", Role::Editor, "correct horse").unwrap();
        assert!(matches!(s.add_user("alice", Role::Viewer, "another one"), Err(AuthError::Conflict(_))));
        assert!(matches!(s.add_user("bob", Role::Viewer, "short"), Err(AuthError::Invalid(_))));
        assert!(matches!(s.add_user("x' OR '1'='1", Role::Viewer, "long enough"), Err(AuthError::Invalid(_))));
        assert_eq!(s.check_login("alice", "correct horse").unwrap().map(|u| u.role), Some(Role::Editor));
        assert!(s.check_login("alice", "wrong horse!").unwrap().is_none());
        assert!(s.check_login("nobody", "correct horse").unwrap().is_none());
        // The stored hash is argon2id, not the password.
        let stored: String = s.conn().query_row("SELECT password_hash FROM users WHERE name='alice'", [], |r| r.get(0)).unwrap();
        assert!(stored.starts_with("$argon2id$") && !stored.contains("correct horse"), "{stored}");

        let (info, token) = s.create_token("ci agent", Role::Ingest, None, "cli:test").unwrap();
        assert!(token.starts_with("lkt_"));
        assert_eq!(s.check_token(&token).unwrap().unwrap().id, info.id);
        let secret = token.rsplit('_').next().unwrap().to_string();
        let raw: Vec<u8> = s.conn().query_row("SELECT secret_hash FROM tokens", [], |r| r.get(0)).unwrap();
        assert_ne!(raw, secret.as_bytes(), "the secret itself is not stored");
        let forged = format!("lkt_{}_{}", info.id, "A".repeat(secret.len()));
        assert_eq!(s.check_token(&forged).unwrap().unwrap_err(), Refused::Unknown);
        s.revoke_token("ci agent").unwrap();
        assert_eq!(s.check_token(&token).unwrap().unwrap_err(), Refused::Revoked);
        let (_, old) = s.create_token("old", Role::Viewer, Some(now_ms() - 1), "cli:test").unwrap();
        assert_eq!(s.check_token(&old).unwrap().unwrap_err(), Refused::Expired);

        let (sid, csrf) = s.create_session("alice", 60_000, "127.0.0.1").unwrap();
        let (u, c) = s.check_session(&sid).unwrap().unwrap();
        assert_eq!((u.name.as_str(), c), ("alice", csrf));
        s.set_password("alice", "new password").unwrap();
        assert!(s.check_session(&sid).unwrap().is_none(), "a password change signs out");
        s.remove_user("alice").unwrap();
        assert!(s.check_login("alice", "new password").unwrap().is_none());
    }
}
