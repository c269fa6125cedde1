//! Label matchers, shared by routes, inhibition rules, silences and API filters.
//!
//! Syntax and semantics are Alertmanager's: `name="value"`, `name!="value"`, `name=~"regex"`,
//! `name!~"regex"`; values may be unquoted; regexes are fully anchored; a missing label matches
//! as the empty string.

use std::fmt;

use regex::Regex;

use crate::model::LabelSet;

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchType {
    fn op(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        }
    }
}

/// One label matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Value or regex source (unanchored, as written).
    pub value: String,
    /// Comparison.
    pub kind: MatchType,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.value == o.value && self.kind == o.kind
    }
}

impl Matcher {
    /// Builds a matcher; a regex that does not compile is an error.
    pub fn new(name: &str, kind: MatchType, value: &str) -> Result<Matcher, String> {
        if !valid_label_name(name) {
            return Err(format!("invalid label name {name:?}"));
        }
        let re = match kind {
            MatchType::Regex | MatchType::NotRegex => {
                Some(Regex::new(&format!("^(?:{value})$")).map_err(|e| format!("invalid regex {value:?}: {e}"))?)
            }
            _ => None,
        };
        Ok(Matcher { name: name.to_string(), value: value.to_string(), kind, re })
    }

    /// Whether `labels` satisfy this matcher (a missing label is the empty string).
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matches_value(labels.get(&self.name).map(String::as_str).unwrap_or(""))
    }

    /// Whether one value satisfies this matcher.
    pub fn matches_value(&self, v: &str) -> bool {
        match (self.kind, &self.re) {
            (MatchType::Equal, _) => v == self.value,
            (MatchType::NotEqual, _) => v != self.value,
            (MatchType::Regex, Some(re)) => re.is_match(v),
            (MatchType::NotRegex, Some(re)) => !re.is_match(v),
            _ => false,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.kind.op(), self.value)
    }
}

/// Whether all matchers match.
pub fn all_match(matchers: &[Matcher], labels: &LabelSet) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

/// Prometheus label name rule.
pub fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses one matcher or a comma-separated list, optionally in braces: `{a="b", c=~"d.*"}`.
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, String> {
    let mut s = input.trim();
    if let Some(inner) = s.strip_prefix('{') {
        s = inner.strip_suffix('}').ok_or_else(|| format!("missing closing '}}' in {input:?}"))?.trim();
    }
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.trim().is_empty() {
        let (m, after) = parse_one(rest.trim_start()).map_err(|e| format!("{e} in {input:?}"))?;
        out.push(m);
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(r) => r,
            None if after.is_empty() => "",
            None => return Err(format!("expected ',' before {after:?} in {input:?}")),
        };
    }
    if out.is_empty() {
        return Err(format!("no matcher in {input:?}"));
    }
    Ok(out)
}

/// Parses exactly one matcher.
pub fn parse_matcher(input: &str) -> Result<Matcher, String> {
    let mut v = parse_matchers(input)?;
    if v.len() != 1 {
        return Err(format!("expected one matcher, found {} in {input:?}", v.len()));
    }
    Ok(v.remove(0))
}

fn parse_one(s: &str) -> Result<(Matcher, &str), String> {
    let name_end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    let name = &s[..name_end];
    if name.is_empty() {
        return Err("expected a label name".into());
    }
    let rest = s[name_end..].trim_start();
    let (kind, rest) = if let Some(r) = rest.strip_prefix("=~") {
        (MatchType::Regex, r)
    } else if let Some(r) = rest.strip_prefix("!~") {
        (MatchType::NotRegex, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (MatchType::NotEqual, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (MatchType::Equal, r)
    } else {
        return Err(format!("expected one of = != =~ !~ after {name:?}"));
    };
    let rest = rest.trim_start();
    let (value, after) = if let Some(body) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, e)) => out.push(e),
                    None => break,
                },
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                c => out.push(c),
            }
        }
        let end = end.ok_or("unterminated quoted value")?;
        (out, &body[end..])
    } else {
        let end = rest.find(',').unwrap_or(rest.len());
        (rest[..end].trim().to_string(), &rest[end..])
    };
    Ok((Matcher::new(name, kind, &value)?, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_all_operators_quoted_and_unquoted() {
        let m = parse_matchers(r#"{severity="page", team=~"db|web", env!=dev, job!~"test.*"}"#).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[1].kind, MatchType::Regex);
        assert_eq!(m[2].value, "dev");
        let l = ls(&[("severity", "page"), ("team", "db"), ("env", "prod"), ("job", "api")]);
        assert!(all_match(&m, &l));
        assert!(!all_match(&m, &ls(&[("severity", "page"), ("team", "dbx"), ("env", "prod")])));
    }

    #[test]
    fn regex_is_anchored_and_missing_label_is_empty() {
        let m = parse_matcher("team=~db").unwrap();
        assert!(!m.matches(&ls(&[("team", "mydb")])));
        assert!(parse_matcher(r#"x="""#).unwrap().matches(&ls(&[])));
        assert!(parse_matcher("x!~.+").unwrap().matches(&ls(&[])));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(parse_matcher("team").unwrap_err().contains("expected one of"));
        assert!(parse_matcher(r#"a=~"(""#).unwrap_err().contains("invalid regex"));
        assert!(parse_matcher(r#"a="x"#).unwrap_err().contains("unterminated"));
        assert!(parse_matcher("1a=b").is_err());
    }
}
