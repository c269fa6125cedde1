//! The agent's configuration file, and the TOML loading used by both binaries.
//!
//! Configs are Vector-style: named components under `[sources.NAME]`, `[sinks.NAME]` with a
//! `type` and, for sinks, `inputs = [...]`. Unknown keys are errors that name the key path and
//! the line, so a typo never silently changes behaviour. Raw config is validated once into a
//! checked form ([`AgentConfig::validate`]) at load.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::sinks::SinkConfig;
use crate::sources::SourceConfig;
use crate::transforms::TransformConfig;

/// A configuration error with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file it came from.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Dotted key path (`sinks.central.endpoint`), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every error found in one file.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
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

impl std::error::Error for ConfigErrors {}

/// Finds the 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, col)
}

/// Finds the line of a dotted key path in TOML text, for errors found after deserialization
/// (semantic checks). Understands `[table]` headers and `key = value` lines, which is what
/// Lookout's configs use; a key inside an inline table (`tls = { ca_file = … }`) is found at the
/// line of its nearest enclosing key.
pub fn locate_key(text: &str, key: &str) -> Option<usize> {
    let mut key = key;
    loop {
        if let Some(line) = locate_exact(text, key) {
            return Some(line);
        }
        key = key.rsplit_once('.')?.0;
    }
}

fn locate_exact(text: &str, key: &str) -> Option<usize> {
    let want: Vec<&str> = key.split('.').collect();
    let split = |s: &str| -> Vec<String> { s.split('.').map(|p| p.trim().trim_matches('"').to_string()).collect() };
    let mut table: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            table = split(t.trim_start_matches('[').trim_end_matches(']'));
            if table == want {
                return Some(n + 1);
            }
        } else if let Some((k, _)) = t.split_once('=') {
            let mut full = table.clone();
            full.extend(split(k));
            if full == want {
                return Some(n + 1);
            }
        }
    }
    None
}

/// Parses TOML into `T`, reporting unknown keys and type errors with key path and line.
pub fn parse_toml<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_error(file, text, &e, None))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let key = (path != "." && !path.is_empty()).then_some(path);
        toml_error(file, text, e.inner(), key)
    })
}

fn toml_error(file: &Path, text: &str, e: &toml::de::Error, key: Option<String>) -> ConfigError {
    let message = e.message().trim().to_string();
    // For an unknown field, point at the field itself, not at its table.
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some(name) = rest.split('`').next()
    {
        let full = match &key {
            Some(k) => format!("{k}.{name}"),
            None => name.to_string(),
        };
        if let Some(line) = locate_key(text, &full) {
            return ConfigError { file: file.to_path_buf(), line: Some(line), column: None, key: Some(full), message };
        }
    }
    let (line, column) = match e.span() {
        Some(span) => {
            let (l, c) = line_col(text, span.start);
            (Some(l), Some(c))
        }
        None => (key.as_deref().and_then(|k| locate_key(text, k)), None),
    };
    ConfigError { file: file.to_path_buf(), line, column, key, message }
}

/// Reads and parses a TOML file.
pub fn load_toml<T: DeserializeOwned>(file: &Path) -> Result<(T, String), ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| ConfigError {
        file: file.to_path_buf(),
        line: None,
        column: None,
        key: None,
        message: format!("cannot read config: {e}"),
    })?;
    let value = parse_toml(file, &text)?;
    Ok((value, text))
}

/// `agent.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Where checkpoints, buffers and the agent id live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Address of the agent's own `/metrics` and `/health` endpoints.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Host name stamped on events; defaults to the machine's host name.
    #[serde(default)]
    pub host: Option<String>,
    /// Sources by name.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    /// Transforms by name.
    #[serde(default)]
    pub transforms: BTreeMap<String, TransformConfig>,
    /// Sinks by name.
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkConfig>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/lookout-agent")
}

fn default_listen() -> String {
    "127.0.0.1:9401".into()
}

impl AgentConfig {
    /// Loads and validates a config file, reporting every error at once.
    pub fn load(file: &Path) -> Result<AgentConfig, ConfigErrors> {
        let (cfg, text): (AgentConfig, String) = load_toml(file).map_err(|e| ConfigErrors(vec![e]))?;
        let problems = cfg.validate();
        if problems.is_empty() {
            return Ok(cfg);
        }
        Err(ConfigErrors(
            problems
                .into_iter()
                .map(|(key, message)| ConfigError {
                    file: file.to_path_buf(),
                    line: locate_key(&text, &key),
                    column: None,
                    key: Some(key),
                    message,
                })
                .collect(),
        ))
    }

    /// Semantic checks: every `(key path, problem)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            out.push(("listen".into(), format!("{:?} is not an address like 127.0.0.1:9401", self.listen)));
        }
        for (name, src) in &self.sources {
            for (k, m) in src.validate() {
                out.push((format!("sources.{name}.{k}"), m));
            }
        }
        let outputs: Vec<String> = self.transforms.iter().flat_map(|(n, t)| t.output_names(n)).collect();
        let known: Vec<&String> = self.sources.keys().chain(outputs.iter()).collect();
        for name in self.transforms.keys() {
            if self.sources.contains_key(name) {
                out.push((format!("transforms.{name}"), format!("{name:?} is already the name of a source")));
            }
        }
        let components = self
            .transforms
            .iter()
            .map(|(n, t)| ("transforms", n, t.validate(), t.inputs()))
            .chain(self.sinks.iter().map(|(n, s)| ("sinks", n, s.validate(), s.inputs())));
        for (table, name, problems, inputs) in components {
            for (k, m) in problems {
                out.push((format!("{table}.{name}.{k}"), m));
            }
            // Two outputs of one route into one component would carry the same batch position
            // twice, and the second share would look like a duplicate downstream.
            let mut routes_seen = Vec::new();
            for input in inputs {
                if let Some((route, _)) = input.split_once('.')
                    && matches!(self.transforms.get(route), Some(TransformConfig::Route(_)))
                {
                    if routes_seen.contains(&route) {
                        out.push((
                            format!("{table}.{name}.inputs"),
                            format!("takes more than one output of route {route:?}; add a condition to one route instead"),
                        ));
                    }
                    routes_seen.push(route);
                }
                if !known.contains(&input) {
                    out.push((
                        format!("{table}.{name}.inputs"),
                        format!("unknown input {input:?}; known sources and transforms: {known:?}"),
                    ));
                }
            }
        }
        // A sink fed straight by a source of a kind it cannot ship would drop everything.
        for (name, sink) in &self.sinks {
            let (logs, metrics) = sink.accepts();
            for input in sink.inputs() {
                if let Some(src) = self.sources.get(input) {
                    let emits_metrics = src.emits_metrics();
                    if (emits_metrics && !metrics) || (!emits_metrics && !logs) {
                        out.push((
                            format!("sinks.{name}.inputs"),
                            format!(
                                "source {input:?} ({}) emits {} and a {} sink does not ship them",
                                src.kind(),
                                if emits_metrics { "metric samples" } else { "log events" },
                                sink.kind()
                            ),
                        ));
                    }
                }
            }
        }
        if let Some(name) = self.transform_cycle() {
            out.push((format!("transforms.{name}.inputs"), format!("transform {name:?} feeds itself through a cycle of inputs")));
        }
        if self.sinks.is_empty() && !self.sources.is_empty() {
            out.push(("sinks".into(), "no sink is configured, events would go nowhere".into()));
        }
        out
    }

    /// A transform that is its own (indirect) input, if any.
    fn transform_cycle(&self) -> Option<&String> {
        // Depth-first search over transform → input edges; 1 = on the stack, 2 = done.
        fn visit<'a>(cfg: &'a AgentConfig, n: &'a String, state: &mut BTreeMap<&'a String, u8>) -> Option<&'a String> {
            match state.get(n) {
                Some(1) => return Some(n),
                Some(_) => return None,
                None => {}
            }
            state.insert(n, 1);
            if let Some(t) = cfg.transforms.get(n) {
                for i in t.inputs() {
                    // `route.output` is an edge to the route itself
                    let i = cfg
                        .transforms
                        .get_key_value(i.as_str())
                        .or_else(|| cfg.transforms.get_key_value(i.split('.').next().unwrap_or("")))
                        .map(|(k, _)| k);
                    if let Some(i) = i
                        && let Some(c) = visit(cfg, i, state)
                    {
                        return Some(c);
                    }
                }
            }
            state.insert(n, 2);
            None
        }
        let mut state = BTreeMap::new();
        self.transforms.keys().find_map(|n| visit(self, n, &mut state))
    }

    /// The host name to stamp on events.
    pub fn host_name(&self) -> String {
        self.host.clone().unwrap_or_else(crate::host_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AgentConfig, ConfigError> {
        parse_toml(Path::new("agent.toml"), text)
    }

    #[test]
    fn parses_the_design_example() {
        let cfg = parse(
            r#"
data_dir = "/var/lib/lookout-agent"
listen = "127.0.0.1:9401"

[sources.app]
type = "file"
include = ["/var/log/app/*.log"]

[sinks.central]
type = "lookout"
inputs = ["app"]
endpoint = "http://127.0.0.1:9400"
"#,
        )
        .unwrap();
        assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
        assert_eq!(cfg.sinks["central"].inputs(), ["app".to_string()]);
    }

    #[test]
    fn unknown_key_names_its_path_and_line() {
        let err = parse("data_dir = \"/tmp\"\n\n[sources.app]\ntype = \"file\"\ninclude = [\"/x\"]\nincldue = [\"/y\"]\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("sources.app.incldue"), "{err}");
        assert!(err.message.contains("incldue"), "{err}");
        assert_eq!(err.line, Some(6), "{err}");
    }

    #[test]
    fn unknown_top_level_key_is_an_error() {
        let err = parse("data_dri = \"/tmp\"\n").unwrap_err();
        assert!(err.to_string().contains("data_dri"), "{err}");
        assert_eq!(err.line, Some(1), "{err}");
    }

    #[test]
    fn unknown_input_is_reported_with_its_key() {
        let text = "[sources.app]\ntype = \"file\"\ninclude = [\"/x\"]\n[sinks.out]\ntype = \"lookout\"\ninputs = [\"ap\"]\nendpoint = \"http://127.0.0.1:1\"\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, text).unwrap();
        let errs = AgentConfig::load(&path).unwrap_err();
        let msg = errs.to_string();
        assert!(msg.contains("sinks.out.inputs") && msg.contains("\"ap\""), "{msg}");
        assert!(msg.contains("agent.toml:6"), "{msg}");
    }

    #[test]
    fn transforms_are_inputs_and_cycles_and_unknown_inputs_are_errors() {
        let base =
            "[sources.app]\ntype = \"file\"\ninclude = [\"/x\"]\n[sinks.out]\ntype = \"lookout\"\nendpoint = \"http://127.0.0.1:1\"\n";
        let ok = parse(&format!(
            "{base}inputs = [\"red\"]\n[transforms.f]\ntype = \"filter\"\ninputs = [\"app\"]\nconditions = [{{ field = \"level\", equals = [\"error\"] }}]\n[transforms.red]\ntype = \"redact\"\ninputs = [\"f\"]\n"
        ))
        .unwrap();
        assert!(ok.validate().is_empty(), "{:?}", ok.validate());
        let cyclic = parse(&format!(
            "{base}inputs = [\"a\"]\n[transforms.a]\ntype = \"redact\"\ninputs = [\"b\"]\n[transforms.b]\ntype = \"redact\"\ninputs = [\"a\", \"nope\"]\n"
        ))
        .unwrap();
        let problems = cyclic.validate();
        assert!(problems.iter().any(|(k, m)| k.starts_with("transforms.") && m.contains("cycle")), "{problems:?}");
        assert!(problems.iter().any(|(k, m)| k == "transforms.b.inputs" && m.contains("\"nope\"")), "{problems:?}");
        let routed = parse(&format!(
            "{base}inputs = [\"r.errors\", \"r._unmatched\"]\n[transforms.r]\ntype = \"route\"\ninputs = [\"app\"]\nroutes = {{ errors = [{{ field = \"level\", equals = [\"error\"] }}] }}\n"
        ))
        .unwrap();
        let problems = routed.validate();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].1.contains("more than one output"), "{problems:?}");
    }

    #[test]
    fn metric_sources_and_sinks_are_checked_for_kinds() {
        let ok = parse(
            "[sources.node]\ntype = \"host_metrics\"\n[sources.apps]\ntype = \"prometheus_scrape\"\ntargets = [\"http://127.0.0.1:9/metrics\"]\n[sources.self]\ntype = \"internal_metrics\"\n[sinks.prom]\ntype = \"prometheus_remote_write\"\ninputs = [\"node\", \"apps\", \"self\"]\nendpoint = \"http://127.0.0.1:9090/api/v1/write\"\nbuffer = { type = \"disk\", max_bytes = 1048576 }\n",
        )
        .unwrap();
        assert!(ok.validate().is_empty(), "{:?}", ok.validate());
        let bad = parse(
            "[sources.app]\ntype = \"file\"\ninclude = [\"/x\"]\n[sources.node]\ntype = \"host_metrics\"\n[sinks.prom]\ntype = \"prometheus_remote_write\"\ninputs = [\"app\"]\nendpoint = \"http://127.0.0.1:9090/api/v1/write\"\n[sinks.otel]\ntype = \"otlp\"\ninputs = [\"node\"]\nendpoint = \"http://127.0.0.1:4318\"\n",
        )
        .unwrap();
        let problems = bad.validate();
        assert!(problems.iter().any(|(k, m)| k == "sinks.prom.inputs" && m.contains("log events")), "{problems:?}");
        assert!(problems.iter().any(|(k, m)| k == "sinks.otel.inputs" && m.contains("metric samples")), "{problems:?}");
        let err = parse(
            "[sinks.x]\ntype = \"lookout\"\ninputs = [\"a\"]\nendpoint = \"http://h:1\"\nbuffer = { type = \"disk\", max_byts = 5 }\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("max_byts"), "{err}");
    }

    #[test]
    fn reports_line_and_column() {
        assert_eq!(line_col("a\nbc\nd", 3), (2, 2));
        assert_eq!(line_col("abc", 0), (1, 1));
    }
}
