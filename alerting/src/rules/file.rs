//! Rule files: Prometheus's format, read with serde-saphyr so every error carries
//! file:line:column, and checked the way `promtool check rules` checks them — all errors at once.
//!
//! ```yaml
//! groups:
//!   - name: api                # unique in the file
//!     interval: 30s            # default: the manager's evaluation interval
//!     limit: 0                 # most alerts (or series) a rule may produce; 0 = no limit
//!     labels: {team: web}      # added to every rule of the group
//!     rules:
//!       - record: job:http_requests:rate5m
//!         expr: sum by (job) (rate(http_requests_total[5m]))
//!       - alert: HighErrorRate
//!         expr: job:http_errors:ratio5m > 0.05
//!         for: 10m
//!         keep_firing_for: 5m
//!         labels: {severity: page}
//!         annotations:
//!           summary: "{{ $labels.job }} errors at {{ $value | humanizePercentage }}"
//!       # Lookout's log rule: a log query counted over a window, grouped by fields.
//!       - alert: ManyErrors
//!         log_query: 'level:error'
//!         window: 5m
//!         group_by: [service]
//!         threshold: '> 50'
//!         for: 2m
//! ```
//!
//! A log rule replaces `expr` with `log_query` + `window` (+ `group_by`, `threshold`). Its value
//! is the number of matching lines in `(t - window, t]` per distinct combination of the
//! `group_by` fields, which become labels (characters outside `[a-zA-Z0-9_]` turn into `_`).
//! An alerting log rule needs a `threshold` (`>`, `>=`, `<`, `<=`, `==`, `!=` and a number); a
//! recording log rule writes the counts as a series (the threshold, if any, filters them).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::template::Template;

/// One problem in a rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known.
    pub column: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct RuleErrors(pub Vec<RuleError>);

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A scalar read as text (`expr: 1` and `severity: 2` are valid YAML for Prometheus too).
#[derive(Debug, Clone, PartialEq)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Vec<Spanned<RawGroup>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: Spanned<Text>,
    #[serde(default)]
    interval: Option<Spanned<Text>>,
    #[serde(default)]
    query_offset: Option<Spanned<Text>>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    labels: Option<BTreeMap<String, Spanned<Text>>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<Spanned<Text>>,
    #[serde(default)]
    alert: Option<Spanned<Text>>,
    #[serde(default)]
    expr: Option<Spanned<Text>>,
    #[serde(default, rename = "for")]
    for_: Option<Spanned<Text>>,
    #[serde(default)]
    keep_firing_for: Option<Spanned<Text>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, Spanned<Text>>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, Spanned<Text>>>,
    // Lookout's log rules.
    #[serde(default)]
    log_query: Option<Spanned<Text>>,
    #[serde(default)]
    window: Option<Spanned<Text>>,
    #[serde(default)]
    group_by: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    threshold: Option<Spanned<Text>>,
}

/// A checked rule group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    /// File it came from.
    pub file: PathBuf,
    /// Group name (unique within the file).
    pub name: String,
    /// Evaluation interval; `None` = the manager's default.
    pub interval: Option<Duration>,
    /// Evaluate at `t - query_offset`.
    pub query_offset: Duration,
    /// Most alerts/series a rule may produce (0 = unlimited).
    pub limit: u64,
    /// Rules in file order.
    pub rules: Vec<RuleSpec>,
}

/// What a rule computes its vector from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A PromQL expression.
    Promql(String),
    /// A log rule.
    Logs(LogSource),
}

/// The log-count half of a log rule.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSource {
    /// Query in the log search language.
    pub query: String,
    /// Lines in `(t - window, t]` are counted.
    pub window: Duration,
    /// Fields whose distinct value combinations are counted separately.
    pub group_by: Vec<String>,
    /// Comparison the count must pass to produce an element.
    pub threshold: Option<(Cmp, f64)>,
}

/// A threshold's comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Cmp {
    /// Whether `v op t` holds.
    pub fn holds(self, v: f64, t: f64) -> bool {
        match self {
            Cmp::Gt => v > t,
            Cmp::Ge => v >= t,
            Cmp::Lt => v < t,
            Cmp::Le => v <= t,
            Cmp::Eq => v == t,
            Cmp::Ne => v != t,
        }
    }
    /// As written.
    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
        }
    }
}

/// Alerting or recording.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `alert:` with its hold durations.
    Alert {
        /// `for`.
        for_: Duration,
        /// `keep_firing_for`.
        keep_firing_for: Duration,
    },
    /// `record:`.
    Record,
}

/// A checked rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    /// Alert name or recorded metric name.
    pub name: String,
    /// Alert or record.
    pub kind: Kind,
    /// Where the vector comes from.
    pub source: Source,
    /// Labels (templates for alerts), group labels merged in.
    pub labels: BTreeMap<String, String>,
    /// Annotations (templates).
    pub annotations: BTreeMap<String, String>,
    /// Line of the rule in its file.
    pub line: u64,
}

impl RuleSpec {
    /// The query as shown by the API (`expr`, or the log rule described in PromQL-like text).
    pub fn query_text(&self) -> String {
        match &self.source {
            Source::Promql(e) => e.clone(),
            Source::Logs(l) => {
                let mut s = format!("count_logs({:?}[{}])", l.query, fmt_duration(l.window));
                if !l.group_by.is_empty() {
                    s = format!("{s} by ({})", l.group_by.join(", "));
                }
                if let Some((c, t)) = l.threshold {
                    s = format!("{s} {} {t}", c.as_str());
                }
                s
            }
        }
    }
}

/// Renders a duration the way Prometheus does (`1h5m`, `30s`, `0s`).
pub fn fmt_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in
        [("y", 365 * 86_400_000u64), ("w", 7 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]
    {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// A warning that does not stop loading (as promtool's lints).
#[derive(Debug, Clone, PartialEq)]
pub struct Warning(pub RuleError);

/// Expands globs into files, sorted and de-duplicated. A glob matching nothing is fine (as in
/// Prometheus); an unreadable pattern is an error.
pub fn expand_globs(patterns: &[String]) -> Result<Vec<PathBuf>, RuleErrors> {
    let mut files = Vec::new();
    let mut errs = Vec::new();
    for p in patterns {
        match glob::glob(p) {
            Ok(paths) => {
                for entry in paths {
                    match entry {
                        Ok(path) if path.is_file() => files.push(path),
                        Ok(_) => {}
                        Err(e) => {
                            errs.push(RuleError { file: e.path().to_path_buf(), line: None, column: None, message: e.error().to_string() })
                        }
                    }
                }
            }
            Err(e) => errs.push(RuleError { file: PathBuf::from(p), line: None, column: None, message: format!("invalid glob: {e}") }),
        }
    }
    files.sort();
    files.dedup();
    if errs.is_empty() { Ok(files) } else { Err(RuleErrors(errs)) }
}

/// Loads every file, collecting every error of every file.
pub fn load_files(files: &[PathBuf]) -> Result<(Vec<GroupSpec>, Vec<Warning>), RuleErrors> {
    let mut groups = Vec::new();
    let mut warnings = Vec::new();
    let mut errs = Vec::new();
    for f in files {
        match std::fs::read_to_string(f) {
            Ok(text) => match parse(f, &text) {
                Ok((g, w)) => {
                    groups.extend(g);
                    warnings.extend(w);
                }
                Err(e) => errs.extend(e.0),
            },
            Err(e) => errs.push(RuleError { file: f.clone(), line: None, column: None, message: format!("cannot read: {e}") }),
        }
    }
    if errs.is_empty() { Ok((groups, warnings)) } else { Err(RuleErrors(errs)) }
}

fn valid_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

/// Prometheus's (legacy) label-name rule `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_') && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// A log field name as a label name.
pub fn field_label(field: &str) -> String {
    let mut s: String = field.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    promql_parser::util::parse_duration(s.trim()).map_err(|e| format!("not a duration like 30s, 5m or 1h: {e}"))
}

/// Parses and checks one file's text.
pub fn parse(file: &Path, text: &str) -> Result<(Vec<GroupSpec>, Vec<Warning>), RuleErrors> {
    let mut errs = Vec::new();
    let mut warnings = Vec::new();
    let err_at = |errs: &mut Vec<RuleError>, loc: &serde_saphyr::Location, message: String| {
        let known = loc.line() > 0;
        errs.push(RuleError { file: file.to_path_buf(), line: known.then(|| loc.line()), column: known.then(|| loc.column()), message })
    };
    if text.trim().is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let raw: RawFile = match serde_saphyr::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let loc = e.location();
            return Err(RuleErrors(vec![RuleError {
                file: file.to_path_buf(),
                line: loc.map(|l| l.line()),
                column: loc.map(|l| l.column()),
                message: short_yaml_error(&e),
            }]));
        }
    };
    let mut out = Vec::new();
    let mut names: HashMap<String, u64> = HashMap::new();
    for g in raw.groups {
        let gloc = g.referenced;
        let g = g.value;
        let name = g.name.value.0.clone();
        if name.trim().is_empty() {
            err_at(&mut errs, &g.name.referenced, "groupname must not be empty".into());
        } else if let Some(first) = names.insert(name.clone(), g.name.referenced.line()) {
            err_at(&mut errs, &g.name.referenced, format!("groupname {name:?} is repeated in the same file (first at line {first})"));
        }
        let interval = match &g.interval {
            Some(i) => match parse_duration(&i.value.0) {
                Ok(d) if d.is_zero() => {
                    err_at(&mut errs, &i.referenced, "interval must be positive".into());
                    None
                }
                Ok(d) => Some(d),
                Err(e) => {
                    err_at(&mut errs, &i.referenced, format!("interval {:?}: {e}", i.value.0));
                    None
                }
            },
            None => None,
        };
        let query_offset = match &g.query_offset {
            Some(i) => parse_duration(&i.value.0).unwrap_or_else(|e| {
                err_at(&mut errs, &i.referenced, format!("query_offset {:?}: {e}", i.value.0));
                Duration::ZERO
            }),
            None => Duration::ZERO,
        };
        let mut group_labels = BTreeMap::new();
        for (k, v) in g.labels.iter().flatten() {
            if !valid_label_name(k) {
                err_at(&mut errs, &v.referenced, format!("invalid label name: {k:?}"));
            }
            group_labels.insert(k.clone(), v.value.0.clone());
        }
        if g.rules.is_empty() {
            warnings.push(Warning(RuleError {
                file: file.to_path_buf(),
                line: Some(gloc.line()),
                column: Some(gloc.column()),
                message: format!("group {name:?} has no rules"),
            }));
        }
        let mut rules = Vec::new();
        let mut seen: HashMap<(String, BTreeMap<String, String>), u64> = HashMap::new();
        for r in g.rules {
            let rloc = r.referenced;
            let before = errs.len();
            let spec = check_rule(r.value, &rloc, &group_labels, &mut |loc, msg| err_at(&mut errs, loc, msg));
            if errs.len() == before
                && let Some(spec) = spec
            {
                let key = (spec.name.clone(), spec.labels.clone());
                if let Some(first) = seen.insert(key, spec.line) {
                    warnings.push(Warning(RuleError {
                        file: file.to_path_buf(),
                        line: Some(spec.line),
                        column: None,
                        message: format!("duplicate rule {:?} in group {name:?} (same name and labels as line {first})", spec.name),
                    }));
                }
                rules.push(spec);
            }
        }
        out.push(GroupSpec { file: file.to_path_buf(), name, interval, query_offset, limit: g.limit.unwrap_or(0), rules });
    }
    if errs.is_empty() { Ok((out, warnings)) } else { Err(RuleErrors(errs)) }
}

/// The first line of serde-saphyr's message, without its rendered snippet.
fn short_yaml_error(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let first = full.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid YAML").trim();
    // serde-saphyr prefixes "error: " in its rendering; keep the reason.
    first.trim_start_matches("error: ").to_string()
}

fn check_rule(
    r: RawRule,
    rloc: &serde_saphyr::Location,
    group_labels: &BTreeMap<String, String>,
    err: &mut dyn FnMut(&serde_saphyr::Location, String),
) -> Option<RuleSpec> {
    let (name, name_loc, is_alert) = match (&r.alert, &r.record) {
        (Some(a), None) => (a.value.0.clone(), a.referenced, true),
        (None, Some(rec)) => (rec.value.0.clone(), rec.referenced, false),
        (Some(a), Some(_)) => {
            err(&a.referenced, "only one of 'record' and 'alert' must be set".into());
            return None;
        }
        (None, None) => {
            err(rloc, "one of 'record' or 'alert' must be set".into());
            return None;
        }
    };
    if name.trim().is_empty() {
        err(&name_loc, format!("field '{}' must be set in rule", if is_alert { "alert" } else { "record" }));
    } else if !is_alert && !valid_metric_name(&name) {
        err(&name_loc, format!("invalid recording rule name: {name}"));
    } else if is_alert && !valid_metric_name(&name) && !valid_alert_text(&name) {
        err(&name_loc, format!("invalid alert name: {name:?}"));
    }
    let source = match (&r.expr, &r.log_query) {
        (Some(_), Some(q)) => {
            err(&q.referenced, "a rule has either 'expr' or 'log_query', not both".into());
            None
        }
        (None, None) => {
            err(rloc, "field 'expr' must be set in rule".into());
            None
        }
        (Some(e), None) => {
            for (f, v) in [("window", r.window.as_ref().map(|s| s.referenced)), ("threshold", r.threshold.as_ref().map(|s| s.referenced))] {
                if let Some(loc) = v {
                    err(&loc, format!("'{f}' belongs to log rules (with 'log_query'), not to PromQL rules"));
                }
            }
            if let Some(g) = &r.group_by {
                err(&g.referenced, "'group_by' belongs to log rules (with 'log_query'), not to PromQL rules".into());
            }
            let text = e.value.0.trim().to_string();
            if text.is_empty() {
                err(&e.referenced, "field 'expr' must be set in rule".into());
                None
            } else {
                match promql_parser::parser::parse(&text) {
                    Ok(_) => Some(Source::Promql(e.value.0.clone())),
                    Err(msg) => {
                        err(&e.referenced, format!("could not parse expression: {msg}"));
                        None
                    }
                }
            }
        }
        (None, Some(q)) => check_log_source(&r, q, rloc, is_alert, err),
    };
    let dur = |v: &Option<Spanned<Text>>, what: &str, err: &mut dyn FnMut(&serde_saphyr::Location, String)| -> Duration {
        match v {
            Some(s) => parse_duration(&s.value.0).unwrap_or_else(|e| {
                err(&s.referenced, format!("{what} {:?}: {e}", s.value.0));
                Duration::ZERO
            }),
            None => Duration::ZERO,
        }
    };
    let kind = if is_alert {
        Kind::Alert { for_: dur(&r.for_, "for", err), keep_firing_for: dur(&r.keep_firing_for, "keep_firing_for", err) }
    } else {
        if let Some(f) = &r.for_ {
            err(&f.referenced, "invalid field 'for' in recording rule".into());
        }
        if let Some(f) = &r.keep_firing_for {
            err(&f.referenced, "invalid field 'keep_firing_for' in recording rule".into());
        }
        if let Some(a) = r.annotations.as_ref().and_then(|a| a.values().next()) {
            err(&a.referenced, "invalid field 'annotations' in recording rule".into());
        }
        Kind::Record
    };
    let mut labels = group_labels.clone();
    for (k, v) in r.labels.iter().flatten() {
        if !valid_label_name(k) {
            err(&v.referenced, format!("invalid label name: {k:?}"));
        } else if k == "__name__" {
            err(&v.referenced, "invalid label name: \"__name__\" cannot be set in rule labels".into());
        }
        if is_alert && let Err(e) = Template::parse(&v.value.0) {
            err(&v.referenced, format!("label {k:?}: template: {e}"));
        }
        labels.insert(k.clone(), v.value.0.clone());
    }
    let mut annotations = BTreeMap::new();
    for (k, v) in r.annotations.iter().flatten() {
        if !valid_label_name(k) {
            err(&v.referenced, format!("invalid annotation name: {k:?}"));
        }
        if let Err(e) = Template::parse(&v.value.0) {
            err(&v.referenced, format!("annotation {k:?}: template: {e}"));
        }
        annotations.insert(k.clone(), v.value.0.clone());
    }
    Some(RuleSpec { name, kind, source: source?, labels, annotations, line: rloc.line() })
}

/// Alert names outside the metric-name alphabet are accepted by Prometheus 3 (UTF-8 names) as
/// long as they are printable.
fn valid_alert_text(s: &str) -> bool {
    !s.chars().any(|c| c.is_control())
}

fn check_log_source(
    r: &RawRule,
    q: &Spanned<Text>,
    rloc: &serde_saphyr::Location,
    is_alert: bool,
    err: &mut dyn FnMut(&serde_saphyr::Location, String),
) -> Option<Source> {
    let mut ok = true;
    if q.value.0.len() > 10_000 {
        err(&q.referenced, "log_query is longer than 10000 bytes".into());
        ok = false;
    }
    let window = match &r.window {
        Some(w) => match parse_duration(&w.value.0) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                err(&w.referenced, "window must be positive".into());
                ok = false;
                Duration::ZERO
            }
            Err(e) => {
                err(&w.referenced, format!("window {:?}: {e}", w.value.0));
                ok = false;
                Duration::ZERO
            }
        },
        None => {
            err(rloc, "field 'window' must be set in a log rule".into());
            ok = false;
            Duration::ZERO
        }
    };
    let mut group_by = Vec::new();
    if let Some(g) = &r.group_by {
        for f in &g.value {
            if f.trim().is_empty() {
                err(&g.referenced, "group_by has an empty field name".into());
                ok = false;
            } else if field_label(f) == "alertname" || field_label(f) == "__name__" {
                err(&g.referenced, format!("group_by field {f:?} would overwrite the {:?} label", field_label(f)));
                ok = false;
            }
            group_by.push(f.clone());
        }
    }
    let threshold = match &r.threshold {
        Some(t) => match parse_threshold(&t.value.0) {
            Ok(x) => Some(x),
            Err(e) => {
                err(&t.referenced, e);
                ok = false;
                None
            }
        },
        None if is_alert => {
            err(rloc, "field 'threshold' must be set in a log alerting rule (e.g. '> 50')".into());
            ok = false;
            None
        }
        None => None,
    };
    ok.then(|| Source::Logs(LogSource { query: q.value.0.clone(), window, group_by, threshold }))
}

/// `> 50`, `>=1`, `== 0`.
pub fn parse_threshold(s: &str) -> Result<(Cmp, f64), String> {
    let s = s.trim();
    let (op, rest) = [(">=", Cmp::Ge), ("<=", Cmp::Le), ("==", Cmp::Eq), ("!=", Cmp::Ne), (">", Cmp::Gt), ("<", Cmp::Lt)]
        .iter()
        .find_map(|(p, c)| s.strip_prefix(p).map(|r| (*c, r)))
        .ok_or_else(|| format!("threshold {s:?} must start with >, >=, <, <=, == or != (e.g. '> 50')"))?;
    let v: f64 = rest.trim().parse().map_err(|_| format!("threshold {s:?}: {:?} is not a number", rest.trim()))?;
    Ok((op, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Vec<GroupSpec>, String> {
        parse(Path::new("r.yml"), text).map(|(g, _)| g).map_err(|e| e.to_string())
    }

    #[test]
    fn prometheus_file_loads() {
        let g = check(
            r#"
groups:
  - name: example
    interval: 30s
    rules:
      - record: job:http_inprogress_requests:sum
        expr: sum by (job) (http_inprogress_requests)
      - alert: HighRequestLatency
        expr: job:request_latency_seconds:mean5m{job="myjob"} > 0.5
        for: 10m
        keep_firing_for: 5m
        labels:
          severity: page
          priority: 1
        annotations:
          summary: "High request latency on {{ $labels.instance }}"
  - name: other
    rules:
      - alert: Always
        expr: 1
"#,
        )
        .unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].interval, Some(Duration::from_secs(30)));
        assert_eq!(g[0].rules[1].kind, Kind::Alert { for_: Duration::from_secs(600), keep_firing_for: Duration::from_secs(300) });
        assert_eq!(g[0].rules[1].labels["priority"], "1");
        assert_eq!(g[0].rules[1].line, 8);
        assert_eq!(g[1].rules[0].source, Source::Promql("1".into()));
    }

    #[test]
    fn log_rule_loads() {
        let g = check(
            "groups:\n- name: logs\n  rules:\n  - alert: ManyErrors\n    log_query: 'level:error'\n    window: 5m\n    group_by: [service]\n    threshold: '> 50'\n    for: 2m\n",
        )
        .unwrap();
        let r = &g[0].rules[0];
        assert_eq!(
            r.source,
            Source::Logs(LogSource {
                query: "level:error".into(),
                window: Duration::from_secs(300),
                group_by: vec!["service".into()],
                threshold: Some((Cmp::Gt, 50.0))
            })
        );
        assert_eq!(r.query_text(), "count_logs(\"level:error\"[5m]) by (service) > 50");
    }

    #[test]
    fn every_error_is_reported_with_its_line() {
        let text = r#"groups:
  - name: a
    rules:
      - alert: Bad Expr
        expr: sum(rate(x[5m])
      - record: "not a metric"
        expr: up
      - alert: X
        expr: up == 0
        for: 5 minutes
        labels:
          "bad-label": x
        annotations:
          summary: "{{ $labels.instance "
      - record: y
        expr: up
        for: 1m
  - name: a
    rules:
      - alert: NoExpr
      - alert: Logs
        log_query: 'level:error'
        threshold: 'more than 5'
"#;
        let err = check(text).unwrap_err();
        let lines: Vec<&str> = err.lines().collect();
        let want = [
            ("r.yml:5:15", "could not parse expression"),
            ("r.yml:6:17", "invalid recording rule name: not a metric"),
            ("r.yml:10:14", "for \"5 minutes\""),
            ("r.yml:12:24", "invalid label name: \"bad-label\""),
            ("r.yml:14:20", "annotation \"summary\": template: line 1: unclosed action"),
            ("r.yml:17:14", "invalid field 'for' in recording rule"),
            ("r.yml:18:11", "groupname \"a\" is repeated"),
            ("r.yml:20:9", "field 'expr' must be set"),
            ("r.yml:21:9", "field 'window' must be set"),
            ("r.yml:23:20", "threshold \"more than 5\""),
        ];
        assert_eq!(lines.len(), want.len(), "{err}");
        for (line, (pos, msg)) in lines.iter().zip(want) {
            assert!(line.starts_with(&format!("{pos}: ")) && line.contains(msg), "want {pos} {msg}, got {line}");
        }
    }

    #[test]
    fn template_syntax_errors_are_reported_with_file_line_and_reason() {
        let text = r#"groups:
  - name: t
    rules:
      - alert: A
        expr: up == 0
        labels:
          tier: '{{ if gt $value 1.0 }}high'
        annotations:
          ok: '{{ range $k, $v := $labels }}{{ $k }}{{ else }}none{{ end }}{{ with query "up" }}{{ . | first | value }}{{ end }}'
          unknown: '{{ humanise $value }}'
          stray: "fine\n{{ end }}"
          refused: '{{ define "x" }}{{ end }}'
"#;
        let err = check(text).unwrap_err();
        let lines: Vec<&str> = err.lines().collect();
        let want = [
            ("r.yml:7:17", "label \"tier\": template: line 1: unexpected EOF"),
            ("r.yml:12:20", "annotation \"refused\": template: line 1: {{define}} is not supported"),
            ("r.yml:11:18", "annotation \"stray\": template: line 2: unexpected {{end}}"),
            ("r.yml:10:20", "annotation \"unknown\": template: line 1: function \"humanise\" not defined"),
        ];
        assert_eq!(lines.len(), want.len(), "{err}");
        for (line, (pos, msg)) in lines.iter().zip(want) {
            assert!(line.starts_with(&format!("{pos}: ")) && line.contains(msg), "want {pos} {msg}, got {line}");
        }
    }

    #[test]
    fn yaml_and_unknown_key_errors_have_positions() {
        let err = check("groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        fro: 5m\n").unwrap_err();
        assert!(err.starts_with("r.yml:6:") && err.contains("fro"), "{err}");
        let err = check("groups:\n  - name: a\n    rules: [\n").unwrap_err();
        assert!(err.starts_with("r.yml:"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn duplicates_are_warnings() {
        let (g, w) =
            parse(Path::new("r.yml"), "groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up\n  - alert: A\n    expr: up == 0\n")
                .unwrap();
        assert_eq!(g[0].rules.len(), 2);
        assert_eq!(w.len(), 1);
        assert!(w[0].0.to_string().starts_with("r.yml:6: duplicate rule \"A\""), "{}", w[0].0);
    }

    #[test]
    fn durations_render_like_prometheus() {
        assert_eq!(fmt_duration(Duration::from_secs(3900)), "1h5m");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1s500ms");
    }
}
