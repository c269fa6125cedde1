//! Dashboards: the JSON files the UI renders, served as `GET /api/v1/dashboards` (the list) and
//! `GET /api/v1/dashboards/<uid>` (one file as written).
//!
//! A dashboard is a subset of Grafana's dashboard JSON model (`uid`, `title`, `time`, `refresh`,
//! `templating.list`, `panels` of type `timeseries`, `stat`, `table` or `logs` with `gridPos` and
//! `targets`), so a file also imports into Grafana pointed at Lookout's Prometheus API. A target
//! is either PromQL (`expr`, datasource type `prometheus`) or a log query (`query`, datasource
//! type `lookout-logs`, optionally `groupBy` a field).
//!
//! Where files come from: `dashboards_dir` when configured; otherwise `./dashboards` when it
//! exists; otherwise the dashboards shipped with Lookout, compiled into the binary, so `lookout
//! up` shows them from any working directory. Files are re-read on every request (a dashboard
//! edited on disk shows on the next reload). A uid is looked up among the listed files, never
//! joined onto a path, so no request can read outside the directory.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

/// The dashboards shipped in the repository's `dashboards/`, compiled in.
pub const SHIPPED: &[(&str, &str)] = &[
    ("host-overview.json", include_str!("../../dashboards/host-overview.json")),
    ("lookout-self.json", include_str!("../../dashboards/lookout-self.json")),
    ("service-logs.json", include_str!("../../dashboards/service-logs.json")),
];

/// Panel types the UI renders.
pub const PANEL_TYPES: &[&str] = &["timeseries", "stat", "table", "logs", "row", "text"];

/// Where dashboards are read from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Every `*.json` file in a directory.
    Dir(PathBuf),
    /// The files compiled into the binary.
    Shipped,
}

impl Source {
    /// The source for a configured `dashboards_dir` (relative to `base`), else `./dashboards`
    /// if it exists, else the shipped files.
    pub fn resolve(configured: Option<&Path>, base: &Path) -> Source {
        match configured {
            Some(p) => Source::Dir(base.join(p)),
            None if Path::new("dashboards").is_dir() => Source::Dir(PathBuf::from("dashboards")),
            None => Source::Shipped,
        }
    }
}

/// One entry of the list.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The dashboard's `uid` (the file name without `.json` when it has none).
    pub uid: String,
    /// Its `title`.
    pub title: String,
    /// Its `description`, empty if none.
    pub description: String,
    /// Its `tags`.
    pub tags: Vec<String>,
    /// The file it came from.
    pub file: String,
    /// Problems found by [`check`]; the dashboard is still listed and served.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// A file that could not be read as a dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct FileError {
    /// The file.
    pub file: String,
    /// Why.
    pub error: String,
}

/// Why a dashboard could not be served.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The uid has characters a uid never has.
    #[error("{0:?} is not a dashboard uid (1-64 characters of [A-Za-z0-9_-])")]
    BadUid(String),
    /// No listed dashboard has that uid.
    #[error("no dashboard with uid {0:?}")]
    NotFound(String),
    /// The directory could not be read.
    #[error("cannot read dashboards directory {0}: {1}")]
    Io(String, std::io::Error),
}

/// Grafana's uid alphabet; no dots, so no uid can read as a path.
fn valid_uid(uid: &str) -> bool {
    !uid.is_empty() && uid.len() <= 64 && uid.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// A file's name and its JSON, or why it could not be read.
type ReadFile = (String, Result<Value, String>);

/// Reads every dashboard file, by file name.
fn read_all(source: &Source) -> Result<Vec<ReadFile>, DashboardError> {
    let mut out = Vec::new();
    match source {
        Source::Shipped => {
            for (name, text) in SHIPPED {
                out.push((name.to_string(), serde_json::from_str(text).map_err(|e| e.to_string())));
            }
        }
        Source::Dir(dir) => {
            let entries = std::fs::read_dir(dir).map_err(|e| DashboardError::Io(dir.display().to_string(), e))?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().and_then(|e| e.to_str()) != Some("json") || !path.is_file() {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                let parsed = std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| format!("invalid JSON: {e}")));
                out.push((name, parsed));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn uid_of(file: &str, v: &Value) -> String {
    v.get("uid").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| file.trim_end_matches(".json").to_string())
}

/// The list of dashboards and the files that are not dashboards.
pub fn list(source: &Source) -> Result<(Vec<Summary>, Vec<FileError>), DashboardError> {
    let mut dashboards = Vec::new();
    let mut errors = Vec::new();
    for (file, parsed) in read_all(source)? {
        match parsed {
            Ok(v) if v.is_object() => {
                let uid = uid_of(&file, &v);
                if !valid_uid(&uid) {
                    errors.push(FileError { file, error: DashboardError::BadUid(uid).to_string() });
                    continue;
                }
                if dashboards.iter().any(|d: &Summary| d.uid == uid) {
                    errors.push(FileError { file, error: format!("uid {uid:?} is used by another file") });
                    continue;
                }
                let title = v.get("title").and_then(Value::as_str).unwrap_or(&uid).to_string();
                let tags = v
                    .get("tags")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                let description = v.get("description").and_then(Value::as_str).unwrap_or("").to_string();
                dashboards.push(Summary { uid, title, description, tags, file, problems: check(&v) });
            }
            Ok(_) => errors.push(FileError { file, error: "not a JSON object".into() }),
            Err(error) => errors.push(FileError { file, error }),
        }
    }
    dashboards.sort_by_key(|a| a.title.to_lowercase());
    Ok((dashboards, errors))
}

/// One dashboard's JSON, as written in its file.
pub fn get(source: &Source, uid: &str) -> Result<Value, DashboardError> {
    if !valid_uid(uid) {
        return Err(DashboardError::BadUid(uid.to_string()));
    }
    for (file, parsed) in read_all(source)? {
        if let Ok(v) = parsed
            && v.is_object()
            && uid_of(&file, &v) == uid
        {
            return Ok(v);
        }
    }
    Err(DashboardError::NotFound(uid.to_string()))
}

/// Replaces dashboard variables (`$name`, `${name}`, `${name:fmt}`, `[[name]]`) with a value
/// that keeps the expression well-formed, so that it can be parsed: interval variables become
/// `1m`, the others `x`.
fn placeholder_vars(text: &str) -> String {
    let re = regex::Regex::new(r"\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\[\[([A-Za-z0-9_]+)\]\]|\$([A-Za-z0-9_]+)").expect("valid regex");
    re.replace_all(text, |c: &regex::Captures| {
        let name = c.get(1).or(c.get(2)).or(c.get(3)).map(|m| m.as_str()).unwrap_or("");
        if matches!(name, "__interval" | "__rate_interval" | "__range") { "1m".to_string() } else { "x".to_string() }
    })
    .into_owned()
}

/// Checks a dashboard the way the UI will read it: panel types, grid positions, and every
/// target's PromQL or log query parsing (with variables replaced). Returns the problems, each
/// naming the panel; empty means the dashboard is fine.
pub fn check(v: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if v.get("title").and_then(Value::as_str).is_none() {
        problems.push("missing \"title\"".into());
    }
    let Some(panels) = v.get("panels").and_then(Value::as_array) else {
        problems.push("missing \"panels\" array".into());
        return problems;
    };
    for (i, p) in panels.iter().enumerate() {
        let title = p.get("title").and_then(Value::as_str).unwrap_or("");
        let at = format!("panels[{i}] ({title:?})");
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
        if !PANEL_TYPES.contains(&ty) {
            problems.push(format!("{at}: panel type {ty:?} is not one of {PANEL_TYPES:?}"));
            continue;
        }
        let grid = p.get("gridPos");
        for k in ["x", "y", "w", "h"] {
            if grid.and_then(|g| g.get(k)).and_then(Value::as_u64).is_none() {
                problems.push(format!("{at}: gridPos.{k} missing or not a whole number"));
            }
        }
        let logs_ds = p.pointer("/datasource/type").and_then(Value::as_str) == Some("lookout-logs");
        for (j, t) in p.get("targets").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]).iter().enumerate() {
            let target_logs = logs_ds || t.pointer("/datasource/type").and_then(Value::as_str) == Some("lookout-logs");
            if target_logs {
                let q = t.get("query").and_then(Value::as_str).unwrap_or("");
                if let Err(e) = crate::logs::query::parse(&placeholder_vars(q)) {
                    problems.push(format!("{at}: targets[{j}] log query {q:?}: {e}"));
                }
            } else {
                match t.get("expr").and_then(Value::as_str) {
                    None => problems.push(format!("{at}: targets[{j}] has no \"expr\"")),
                    Some(expr) => {
                        if let Err(e) = crate::promql::parse(&placeholder_vars(expr)) {
                            problems.push(format!("{at}: targets[{j}] PromQL {expr:?}: {e}"));
                        }
                    }
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_dashboards_pass_the_check() {
        let (list, errors) = list(&Source::Shipped).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(list.len(), SHIPPED.len());
        for d in &list {
            assert!(d.problems.is_empty(), "{}: {:?}", d.file, d.problems);
        }
        let titles: Vec<_> = list.iter().map(|d| d.title.as_str()).collect();
        assert_eq!(titles, ["Host overview", "Lookout self-monitoring", "Service logs overview"]);
    }

    #[test]
    fn the_repository_directory_matches_what_is_compiled_in() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards");
        let on_disk: Vec<_> = read_all(&Source::Dir(dir)).unwrap().into_iter().map(|(f, _)| f).collect();
        let shipped: Vec<_> = SHIPPED.iter().map(|(f, _)| f.to_string()).collect();
        assert_eq!(on_disk, shipped, "add new files in dashboards/ to dashboards::SHIPPED");
    }

    #[test]
    fn check_reports_bad_queries_and_panel_types_by_panel() {
        let v: Value = serde_json::from_str(
            r#"{"title":"t","panels":[
                {"type":"graph","title":"old","gridPos":{"x":0,"y":0,"w":1,"h":1}},
                {"type":"timeseries","title":"bad","gridPos":{"x":0,"y":0,"w":1,"h":1},"targets":[{"expr":"rate(x[5m]"}]},
                {"type":"logs","title":"l","gridPos":{"x":0,"y":0,"w":1,"h":1},"datasource":{"type":"lookout-logs"},"targets":[{"query":"status:[500 TO"}]},
                {"type":"stat","title":"ok","gridPos":{"x":0,"y":0,"w":1,"h":1},"targets":[{"expr":"rate(x{a=~\"$v\"}[$__rate_interval])"}]}
            ]}"#,
        )
        .unwrap();
        let p = check(&v);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("panels[0]") && p[0].contains("graph"), "{}", p[0]);
        assert!(p[1].contains("panels[1]") && p[1].contains("PromQL"), "{}", p[1]);
        assert!(p[2].contains("panels[2]") && p[2].contains("log query"), "{}", p[2]);
    }

    #[test]
    fn uids_are_looked_up_never_joined_onto_paths() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("dashboards");
        std::fs::create_dir(&inner).unwrap();
        std::fs::write(dir.path().join("secret.json"), r#"{"uid":"secret","title":"s","panels":[]}"#).unwrap();
        std::fs::write(inner.join("a.json"), r#"{"title":"A","panels":[]}"#).unwrap();
        std::fs::write(inner.join("broken.json"), "{").unwrap();
        let src = Source::Dir(inner);
        for uid in ["../secret", "..", "a/../../secret", ""] {
            assert!(matches!(get(&src, uid), Err(DashboardError::BadUid(_))), "{uid}");
        }
        assert!(matches!(get(&src, "secret"), Err(DashboardError::NotFound(_))));
        assert_eq!(get(&src, "a").unwrap()["title"], "A");
        let (list, errors) = list(&src).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].file, "broken.json");
    }
}
