//! Templates in rule labels and annotations: Go's `text/template` language with Prometheus's
//! data and functions, so a Prometheus rule file renders here byte for byte as in Prometheus.
//!
//! No maintained Rust crate implements Go templates with Prometheus's function set (`gtmpl` is
//! unmaintained and lacks `humanize*` and `query`), so this is an interpreter written from Go's
//! and Prometheus's documentation:
//!
//! - Text and actions with `{{-`/`-}}` trimming and `{{/* comments */}}`.
//! - Control structures: `if`/`else if`/`else`, `with`/`else with`/`else`, `range` over lists
//!   and maps (sorted keys) with one or two variables and `else` for empty, `break`,
//!   `continue`, `end`.
//! - Variables: `$x := …` declares (scoped to the enclosing block, as in Go), `$x = …` assigns,
//!   `$` is the data. As in Prometheus, every template is parsed behind the prefix
//!   [`DEFS`] that declares `$labels`, `$externalLabels`, `$externalURL` and `$value`, so those
//!   are ordinary variables and error positions match Prometheus's.
//! - Operands: fields (`.Labels.job`, `$labels.job`, `(first $r).Value`), string (`"…"` and raw
//!   `` `…` ``), number, char, `true`/`false`/`nil` constants, parenthesised pipelines, `|`.
//! - Go's builtins `and or not len index print printf println eq ne lt le gt ge html urlquery`
//!   with Go's truthiness, short-circuit `and`/`or` and Go's comparison rules (an `int` never
//!   equals a `float64`: `gt $value 80` is an error, `gt $value 80.0` is not).
//! - Prometheus's functions: `query` (through a [`QueryFn`] the rule manager provides),
//!   `first`, `label`, `value`, `strvalue`, `sortByLabel`, `args`, `safeHtml`, `humanize`,
//!   `humanize1024`, `humanizeDuration`, `humanizePercentage`, `humanizeTimestamp`,
//!   `pathPrefix`, `externalURL`, `graphLink`, `tableLink`, `parseDuration`, `title`,
//!   `toUpper`, `toLower`, `match`, `reReplaceAll`, `stripPort`, `stripDomain`.
//!
//! Refused at parse time with a clear error (so `lookout rules check` reports them):
//! `define`/`template`/`block`, and the functions `tmpl`, `toTime`, `toDuration`, `now`, `js`,
//! `call`, `slice`. Runtime errors (an index out of range, `first` of an empty result, a
//! comparison of an `int` with a `float64`) fail the expansion with Go's message, which the
//! rule shows as `<error expanding template: …>`, as Prometheus does.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::QueryFn;

/// Prepended to every template, as Prometheus does: these declare the variables rule templates
/// use. Error positions count from the start of this prefix (Prometheus's do too).
pub const DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Data a template sees.
pub struct Data<'a> {
    /// The alert's labels (`$labels`, `.Labels`).
    pub labels: &'a BTreeMap<String, String>,
    /// The sample value (`$value`, `.Value`).
    pub value: f64,
    /// External labels (`$externalLabels`).
    pub external_labels: &'a BTreeMap<String, String>,
    /// External URL (`$externalURL`).
    pub external_url: &'a str,
    /// PromQL for `query`; `None`: `query` fails with an error saying so.
    pub query: Option<&'a dyn QueryFn>,
    /// Evaluation time (ms) for `query`.
    pub ts_ms: i64,
    /// The rule's name: the template is called `__alert_<name>` in error messages.
    pub name: &'a str,
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
    /// The full text (with [`DEFS`]), for error positions.
    text: String,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If { pipe: Pipe, list: Vec<Node>, else_list: Option<Vec<Node>>, with: bool },
    Range { pipe: Pipe, list: Vec<Node>, else_list: Option<Vec<Node>> },
    Break,
    Continue,
}

#[derive(Debug, Clone)]
struct Pipe {
    decl: Vec<String>,
    assign: bool,
    cmds: Vec<Cmd>,
}

#[derive(Debug, Clone)]
struct Cmd {
    pos: usize,
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
struct Arg {
    pos: usize,
    kind: ArgKind,
}

#[derive(Debug, Clone)]
enum ArgKind {
    Func(String),
    Var(String, Vec<String>),
    Field(Vec<String>),
    Chain(Box<Pipe>, Vec<String>),
    Dot,
    Nil,
    Bool(bool),
    /// Source text, and the value (`Int` or `Float`, as Go's ideal constants).
    Num(String, V),
    /// Source text (quoted) and value.
    Str(String, String),
    Pipe(Box<Pipe>),
}

impl std::fmt::Display for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.decl.is_empty() {
            write!(f, "{} := ", self.decl.join(", "))?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match &a.kind {
                ArgKind::Pipe(p) => write!(f, "({p})")?,
                _ => write!(f, "{a}")?,
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            ArgKind::Func(n) => f.write_str(n),
            ArgKind::Var(n, path) => {
                f.write_str(n)?;
                path.iter().try_for_each(|p| write!(f, ".{p}"))
            }
            ArgKind::Field(path) => path.iter().try_for_each(|p| write!(f, ".{p}")),
            ArgKind::Chain(p, path) => {
                write!(f, "({p})")?;
                path.iter().try_for_each(|p| write!(f, ".{p}"))
            }
            ArgKind::Dot => f.write_str("."),
            ArgKind::Nil => f.write_str("nil"),
            ArgKind::Bool(b) => write!(f, "{b}"),
            ArgKind::Num(t, _) | ArgKind::Str(t, _) => f.write_str(t),
            ArgKind::Pipe(p) => write!(f, "{p}"),
        }
    }
}

/// A query result sample (Prometheus's `*template.sample`).
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A template value, with Go's types where they matter (kinds for comparison and truth, type
/// names for error messages).
#[derive(Debug, Clone, PartialEq)]
enum V {
    /// Go's invalid value (an untyped nil): prints `<no value>`.
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `html/template.HTML` (from `safeHtml`): a string kind, but not a `string`.
    Html(String),
    /// `map[string]string` (labels).
    StrMap(Rc<BTreeMap<String, String>>),
    /// `map[string]interface {}` (from `args`).
    AnyMap(Rc<BTreeMap<String, V>>),
    /// `queryResult` (`[]*sample`).
    Samples(Rc<Vec<Rc<Sample>>>),
    /// `*sample`; `None` is a nil pointer.
    Sample(Option<Rc<Sample>>),
    /// The template's data (an anonymous struct).
    Data,
}

impl V {
    fn type_name(&self) -> &'static str {
        match self {
            V::Nil => "<nil>",
            V::Bool(_) => "bool",
            V::Int(_) => "int",
            V::Float(_) => "float64",
            V::Str(_) => "string",
            V::Html(_) => "template.HTML",
            V::StrMap(_) => "map[string]string",
            V::AnyMap(_) => "map[string]interface {}",
            V::Samples(_) => "template.queryResult",
            V::Sample(_) => "*template.sample",
            V::Data => "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }",
        }
    }
}

/// Builtins and Prometheus functions this interpreter implements.
const FUNCS: &[&str] = &[
    "and",
    "or",
    "not",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "urlquery",
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
    "args",
    "safeHtml",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "pathPrefix",
    "externalURL",
    "graphLink",
    "tableLink",
    "parseDuration",
    "title",
    "toUpper",
    "toLower",
    "match",
    "reReplaceAll",
    "stripPort",
    "stripDomain",
];
/// Functions Prometheus or Go has that Lookout refuses (clearly, at load time).
const REFUSED: &[&str] = &["tmpl", "toTime", "toDuration", "now", "js", "call", "slice"];

/// An action's tokens with their byte positions.
type Toks = Vec<(usize, Tok)>;

/// Parse error: line (1-based, of the template text) and Go's message.
type ParseErr = (usize, String);

impl Template {
    /// Parses `text` (behind [`DEFS`]); the error says where (`line N:`) and what is wrong,
    /// with Go's messages (`unexpected EOF` for an unclosed block, `function "x" not defined`).
    pub fn parse(text: &str) -> Result<Template, String> {
        Template::parse_full(text).map_err(|(line, msg)| format!("line {line}: {msg}"))
    }

    fn parse_full(text: &str) -> Result<Template, ParseErr> {
        let full = format!("{DEFS}{text}");
        let items = scan(&full)?;
        let mut p = Parser { items, i: 0, vars: vec!["$".into()], range_depth: 0, text: &full };
        let (nodes, term) = p.list()?;
        match term {
            Term::Eof => {}
            Term::End(pos) => return Err((p.line(pos), "unexpected {{end}}".into())),
            Term::Else(pos, _) => return Err((p.line(pos), "unexpected {{else}}".into())),
        }
        Ok(Template { nodes, text: full })
    }

    /// Renders with `data`. The error is Prometheus's text for a failed expansion (`error
    /// executing template __alert_X: template: __alert_X:1:130: executing … at <…>: …`).
    pub fn render(&self, data: &Data<'_>) -> Result<String, String> {
        let name = format!("__alert_{}", data.name);
        let mut ex = Exec { data, vars: vec![("$".into(), V::Data)], out: String::new(), depth: 0 };
        match ex.walk_list(&V::Data, &self.nodes) {
            Ok(()) => Ok(ex.out),
            Err(Flow::Err(e)) => {
                let before = &self.text[..e.pos.min(self.text.len())];
                let line = 1 + before.matches('\n').count();
                let col = match before.rfind('\n') {
                    Some(nl) => e.pos - nl - 1,
                    None => e.pos,
                };
                Err(format!("error executing template {name}: template: {name}:{line}:{col}: executing {name:?} at <{}>: {}", e.ctx, e.msg))
            }
            Err(Flow::Break | Flow::Continue) => Ok(ex.out),
        }
    }
}

/// Parses and renders in one step (as Prometheus expands label and annotation templates).
pub fn expand(text: &str, data: &Data<'_>) -> Result<String, String> {
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    let name = format!("__alert_{}", data.name);
    let t = Template::parse_full(text).map_err(|(line, msg)| format!("error parsing template {name}: template: {name}:{line}: {msg}"))?;
    t.render(data)
}

// ---------------------------------------------------------------------------------------------
// Lexing

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `$name` with a field path.
    Var(String, Vec<String>),
    /// `.A.b` (non-empty path).
    Field(Vec<String>),
    /// `.Field` directly after `)`.
    ChainField(Vec<String>),
    Dot,
    Str(String, String),
    Num(String, V),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

#[derive(Debug)]
enum Item {
    Text(String),
    /// Position of the action's first token (or of `{{` if empty), and its tokens.
    Action(usize, Vec<(usize, Tok)>),
}

fn line_of(text: &str, pos: usize) -> usize {
    1 + text[..pos.min(text.len())].matches('\n').count()
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Splits the text into text and actions (tokenised), applying trim markers and dropping
/// comments.
fn scan(s: &str) -> Result<Vec<Item>, ParseErr> {
    let b = s.as_bytes();
    let mut items = Vec::new();
    let mut i = 0;
    let mut trim_next = false;
    loop {
        let open = s[i..].find("{{").map(|o| o + i);
        let end = open.unwrap_or(s.len());
        let mut text = &s[i..end];
        if trim_next {
            text = text.trim_start_matches([' ', '\t', '\r', '\n']);
        }
        let Some(open) = open else {
            if !text.is_empty() {
                items.push(Item::Text(text.to_string()));
            }
            break;
        };
        let mut j = open + 2;
        let trim_left = b.get(j) == Some(&b'-') && b.get(j + 1).is_some_and(|&c| is_space(c));
        if trim_left {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            j += 2;
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_string()));
        }
        // A comment: right after the delimiter (and trim marker).
        if s[j..].starts_with("/*") {
            let close = s[j + 2..].find("*/").ok_or((line_of(s, j), "unclosed comment".to_string()))? + j + 2;
            let mut k = close + 2;
            trim_next = false;
            if s[k..].starts_with(" -}}") || s[k..].starts_with("\t-}}") || s[k..].starts_with("\n-}}") || s[k..].starts_with("\r-}}") {
                trim_next = true;
                k += 2;
            }
            if !s[k..].starts_with("}}") {
                return Err((line_of(s, k), "comment ends before closing delimiter".into()));
            }
            i = k + 2;
            continue;
        }
        let (toks, after, trim) = lex_action(s, j)?;
        trim_next = trim;
        let pos = toks.first().map(|t| t.0).unwrap_or(open);
        items.push(Item::Action(pos, toks));
        i = after;
    }
    Ok(items)
}

/// Lexes one action from `start` (after `{{`): tokens, the index after `}}`, and whether the
/// action ends with a right trim marker.
fn lex_action(s: &str, start: usize) -> Result<(Toks, usize, bool), ParseErr> {
    let b = s.as_bytes();
    let mut i = start;
    let mut out: Vec<(usize, Tok)> = Vec::new();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    let err = |pos: usize, m: String| (line_of(s, pos), m);
    loop {
        let Some(&c) = b.get(i) else {
            return Err(err(i, "unclosed action".into()));
        };
        if s[i..].starts_with("}}") {
            return Ok((out, i + 2, false));
        }
        if is_space(c) {
            if s[i + 1..].starts_with("-}}") {
                return Ok((out, i + 4, true));
            }
            // Since Go 1.16 actions may span lines.
            i += 1;
            continue;
        }
        let pos = i;
        match c {
            b'|' => {
                out.push((pos, Tok::Pipe));
                i += 1;
            }
            b'(' => {
                out.push((pos, Tok::LParen));
                i += 1;
            }
            b')' => {
                out.push((pos, Tok::RParen));
                i += 1;
                if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(|&c| ident(c)) {
                    let (path, n) = field_path(s, i);
                    out.push((i, Tok::ChainField(path)));
                    i = n;
                }
            }
            b',' => {
                out.push((pos, Tok::Comma));
                i += 1;
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                out.push((pos, Tok::Declare));
                i += 2;
            }
            b'=' => {
                out.push((pos, Tok::Assign));
                i += 1;
            }
            b'"' => {
                let mut v = String::new();
                let mut k = i + 1;
                loop {
                    let Some(ch) = s[k..].chars().next() else { return Err(err(pos, "unterminated quoted string".into())) };
                    k += ch.len_utf8();
                    match ch {
                        '"' => break,
                        '\n' => return Err(err(pos, "unterminated quoted string".into())),
                        '\\' => {
                            let Some(e) = s[k..].chars().next() else { return Err(err(pos, "unterminated quoted string".into())) };
                            k += e.len_utf8();
                            match e {
                                'n' => v.push('\n'),
                                't' => v.push('\t'),
                                'r' => v.push('\r'),
                                'a' => v.push('\x07'),
                                'b' => v.push('\x08'),
                                'f' => v.push('\x0c'),
                                'v' => v.push('\x0b'),
                                '\\' | '"' | '\'' => v.push(e),
                                'x' | 'u' | 'U' => {
                                    let n = match e {
                                        'x' => 2,
                                        'u' => 4,
                                        _ => 8,
                                    };
                                    let hex = s.get(k..k + n).ok_or_else(|| err(pos, "invalid syntax".into()))?;
                                    let code = u32::from_str_radix(hex, 16).map_err(|_| err(pos, "invalid syntax".into()))?;
                                    v.push(char::from_u32(code).ok_or_else(|| err(pos, "invalid syntax".into()))?);
                                    k += n;
                                }
                                _ => return Err(err(pos, format!("invalid syntax in {:?}", &s[pos..k]))),
                            }
                        }
                        ch => v.push(ch),
                    }
                }
                out.push((pos, Tok::Str(s[pos..k].to_string(), v)));
                i = k;
            }
            b'`' => {
                let end = s[i + 1..].find('`').ok_or_else(|| err(pos, "unterminated raw quoted string".into()))? + i + 1;
                out.push((pos, Tok::Str(s[pos..end + 1].to_string(), s[i + 1..end].to_string())));
                i = end + 1;
            }
            b'\'' => {
                let rest = &s[i + 1..];
                let (ch, n) = if let Some(r) = rest.strip_prefix('\\') {
                    let e = r.chars().next().ok_or_else(|| err(pos, "unterminated character constant".into()))?;
                    let ch = match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '\\' => '\\',
                        '\'' => '\'',
                        '0' => '\0',
                        _ => return Err(err(pos, "unsupported escape in character constant".into())),
                    };
                    (ch, 1 + e.len_utf8())
                } else {
                    let ch = rest.chars().next().ok_or_else(|| err(pos, "unterminated character constant".into()))?;
                    (ch, ch.len_utf8())
                };
                if s.as_bytes().get(i + 1 + n) != Some(&b'\'') {
                    return Err(err(pos, "unterminated character constant".into()));
                }
                let text = s[pos..i + 2 + n].to_string();
                out.push((pos, Tok::Num(text, V::Int(ch as i64))));
                i += 2 + n;
            }
            b'$' => {
                let mut k = i + 1;
                while k < b.len() && ident(b[k]) {
                    k += 1;
                }
                let name = s[i..k].to_string();
                let (path, n) =
                    if b.get(k) == Some(&b'.') && b.get(k + 1).is_some_and(|&c| ident(c)) { field_path(s, k) } else { (Vec::new(), k) };
                out.push((pos, Tok::Var(name, path)));
                i = n;
            }
            b'.' => {
                if b.get(i + 1).is_some_and(|&c| ident(c) && !c.is_ascii_digit()) {
                    let (path, n) = field_path(s, i);
                    out.push((pos, Tok::Field(path)));
                    i = n;
                } else if b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
                    let (tok, n) = number(s, i).map_err(|m| err(pos, m))?;
                    out.push((pos, tok));
                    i = n;
                } else {
                    out.push((pos, Tok::Dot));
                    i += 1;
                }
            }
            b'0'..=b'9' | b'-' | b'+' => {
                let (tok, n) = number(s, i).map_err(|m| err(pos, m))?;
                out.push((pos, tok));
                i = n;
            }
            c if ident(c) => {
                let mut k = i;
                while k < b.len() && ident(b[k]) {
                    k += 1;
                }
                out.push((pos, Tok::Ident(s[i..k].to_string())));
                i = k;
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(err(pos, format!("unexpected {ch:?} in command")));
            }
        }
    }
}

/// `.a.b.c` starting at the first `.`: the names and the index after them.
fn field_path(s: &str, mut i: usize) -> (Vec<String>, usize) {
    let b = s.as_bytes();
    let mut path = Vec::new();
    while b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80) {
        let mut k = i + 1;
        while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_' || b[k] >= 0x80) {
            k += 1;
        }
        path.push(s[i + 1..k].to_string());
        i = k;
    }
    (path, i)
}

/// A number constant: Go's ideal constants become `int` unless written as a float.
fn number(s: &str, start: usize) -> Result<(Tok, usize), String> {
    let b = s.as_bytes();
    let mut k = start;
    if matches!(b.get(k), Some(b'-' | b'+')) {
        k += 1;
    }
    while k < b.len()
        && (b[k].is_ascii_alphanumeric()
            || b[k] == b'.'
            || b[k] == b'_'
            || (matches!(b[k], b'-' | b'+') && matches!(b[k - 1], b'e' | b'E' | b'p' | b'P')))
    {
        k += 1;
    }
    let text = &s[start..k];
    let clean = text.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(bin) = lower.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else {
        lower.parse::<i64>().ok()
    };
    let v = match int {
        Some(n) if !lower.starts_with("0x") || !lower.contains('p') => V::Int(if neg { -n } else { n }),
        _ => match body.parse::<f64>() {
            Ok(f) if body.contains(['.', 'e', 'E']) || !body.bytes().all(|c| c.is_ascii_digit()) => V::Float(if neg { -f } else { f }),
            Ok(_) => return Err(format!("{text} overflows int")),
            Err(_) => return Err(format!("bad number syntax: {text:?}")),
        },
    };
    Ok((Tok::Num(text.to_string(), v), k))
}

// ---------------------------------------------------------------------------------------------
// Parsing

enum Term {
    Eof,
    End(usize),
    /// `{{else …}}`: position and the tokens after `else`.
    Else(usize, Vec<(usize, Tok)>),
}

struct Parser<'t> {
    items: Vec<Item>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    text: &'t str,
}

impl Parser<'_> {
    fn line(&self, pos: usize) -> usize {
        line_of(self.text, pos)
    }

    fn err<T>(&self, pos: usize, m: impl Into<String>) -> Result<T, ParseErr> {
        Err((self.line(pos), m.into()))
    }

    /// Nodes up to `{{end}}`, `{{else}}` or the end of the text.
    fn list(&mut self) -> Result<(Vec<Node>, Term), ParseErr> {
        let mut nodes = Vec::new();
        while self.i < self.items.len() {
            let item = std::mem::replace(&mut self.items[self.i], Item::Text(String::new()));
            self.i += 1;
            let (pos, toks) = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Item::Action(pos, toks) => (pos, toks),
            };
            let kw = match toks.first() {
                Some((_, Tok::Ident(k))) => k.as_str(),
                _ => "",
            };
            match kw {
                "end" => {
                    if let Some((_, t)) = toks.get(1) {
                        return self.err(pos, format!("unexpected {} in end", tok_desc(t)));
                    }
                    return Ok((nodes, Term::End(pos)));
                }
                "else" => return Ok((nodes, Term::Else(pos, toks[1..].to_vec()))),
                "if" | "with" | "range" => {
                    let node = self.control(kw, pos, &toks[1..])?;
                    nodes.push(node);
                }
                "break" | "continue" => {
                    if self.range_depth == 0 {
                        return self.err(pos, format!("{{{{{kw}}}}} outside {{{{range}}}}"));
                    }
                    if let Some((_, t)) = toks.get(1) {
                        return self.err(pos, format!("unexpected {} in {{{{{kw}}}}}", tok_desc(t)));
                    }
                    nodes.push(if kw == "break" { Node::Break } else { Node::Continue });
                }
                "define" | "template" | "block" => {
                    return self.err(pos, format!("{{{{{kw}}}}} is not supported in Lookout rule templates"));
                }
                _ => {
                    let pipe = self.pipeline(&toks, "command", pos)?;
                    nodes.push(Node::Action(pipe));
                }
            }
        }
        Ok((nodes, Term::Eof))
    }

    /// `if`, `with` or `range` after its keyword, through its `{{end}}`.
    fn control(&mut self, kw: &str, pos: usize, toks: &[(usize, Tok)]) -> Result<Node, ParseErr> {
        let mark = self.vars.len();
        let pipe = self.pipeline(toks, kw, pos)?;
        if kw == "range" {
            self.range_depth += 1;
        }
        let (list, term) = self.list()?;
        if kw == "range" {
            self.range_depth -= 1;
        }
        let else_list = match term {
            Term::Eof => return self.err(self.text.len(), "unexpected EOF"),
            Term::End(_) => None,
            Term::Else(epos, rest) => {
                if rest.is_empty() {
                    let (l2, t2) = self.list()?;
                    match t2 {
                        Term::End(_) => Some(l2),
                        Term::Eof => return self.err(self.text.len(), "unexpected EOF"),
                        Term::Else(p2, _) => return self.err(p2, "expected end; found {{else}}"),
                    }
                } else if kw != "range" && rest[0].1 == Tok::Ident(kw.to_string()) {
                    // `else if` / `else with`: a nested block that shares this one's `{{end}}`.
                    Some(vec![self.control(kw, epos, &rest[1..])?])
                } else {
                    return self.err(epos, format!("unexpected {} in else", tok_desc(&rest[0].1)));
                }
            }
        };
        self.vars.truncate(mark);
        Ok(match kw {
            "range" => Node::Range { pipe, list, else_list },
            _ => Node::If { pipe, list, else_list, with: kw == "with" },
        })
    }

    /// A pipeline: optional declarations, then commands separated by `|`.
    fn pipeline(&mut self, toks: &[(usize, Tok)], ctx: &str, pos: usize) -> Result<Pipe, ParseErr> {
        let mut decl = Vec::new();
        let mut assign = false;
        let mut rest = toks;
        let plain_var = |t: &Tok| matches!(t, Tok::Var(_, p) if p.is_empty());
        if let Some((_, v)) = rest.first()
            && plain_var(v)
        {
            let name = |t: &Tok| match t {
                Tok::Var(n, _) => n.clone(),
                _ => String::new(),
            };
            match rest.get(1).map(|t| &t.1) {
                Some(Tok::Declare | Tok::Assign) => {
                    assign = rest[1].1 == Tok::Assign;
                    decl.push(name(v));
                    rest = &rest[2..];
                }
                Some(Tok::Comma) => {
                    if ctx != "range" {
                        return self.err(pos, format!("too many declarations in {ctx}"));
                    }
                    match (rest.get(2), rest.get(3)) {
                        (Some((_, v2)), Some((_, op @ (Tok::Declare | Tok::Assign)))) if plain_var(v2) => {
                            assign = *op == Tok::Assign;
                            decl.push(name(v));
                            decl.push(name(v2));
                            rest = &rest[4..];
                        }
                        _ => return self.err(pos, "range can only initialize variables"),
                    }
                }
                _ => {}
            }
        }
        self.vars.extend(decl.iter().cloned());
        let mut cmds = Vec::new();
        let mut k = 0;
        loop {
            let (cmd, n) = self.command(rest, k, ctx, pos)?;
            k = n;
            cmds.push(cmd);
            match rest.get(k) {
                None => break,
                Some((_, Tok::Pipe)) => k += 1,
                Some((p, t)) => return self.err(*p, format!("unexpected {} in {ctx}", tok_desc(t))),
            }
        }
        for (i, c) in cmds.iter().enumerate().skip(1) {
            if matches!(c.args[0].kind, ArgKind::Bool(_) | ArgKind::Dot | ArgKind::Nil | ArgKind::Num(..) | ArgKind::Str(..)) {
                return self.err(c.pos, format!("non executable command in pipeline stage {}", i + 1));
            }
        }
        Ok(Pipe { decl, assign, cmds })
    }

    /// One command from `toks[k..]`: operands up to `|`, `)` or the end.
    fn command(&mut self, toks: &[(usize, Tok)], mut k: usize, ctx: &str, pos: usize) -> Result<(Cmd, usize), ParseErr> {
        let cpos = toks.get(k).map(|t| t.0).unwrap_or(pos);
        let mut args = Vec::new();
        while let Some((p, t)) = toks.get(k) {
            if matches!(t, Tok::Pipe | Tok::RParen) {
                break;
            }
            let (arg, n) = self.operand(toks, k)?;
            let _ = p;
            args.push(arg);
            k = n;
        }
        if args.is_empty() {
            return self.err(cpos, format!("missing value for {ctx}"));
        }
        Ok((Cmd { pos: cpos, args }, k))
    }

    fn operand(&mut self, toks: &[(usize, Tok)], k: usize) -> Result<(Arg, usize), ParseErr> {
        let (pos, t) = (toks[k].0, toks[k].1.clone());
        let kind = match t {
            Tok::Ident(name) => match name.as_str() {
                "true" | "false" => ArgKind::Bool(name == "true"),
                "nil" => ArgKind::Nil,
                n if FUNCS.contains(&n) => ArgKind::Func(name),
                n if REFUSED.contains(&n) => {
                    return self.err(pos, format!("function {n:?} is not supported in Lookout rule templates"));
                }
                "if" | "else" | "end" | "range" | "with" | "define" | "template" | "block" | "break" | "continue" => {
                    return self.err(pos, format!("unexpected <{name}> in operand"));
                }
                _ => return self.err(pos, format!("function {name:?} not defined")),
            },
            Tok::Var(name, path) => {
                if !self.vars.contains(&name) {
                    return self.err(pos, format!("undefined variable {name:?}"));
                }
                // Go places `$x.a.b` at its first field.
                let at = if path.is_empty() { pos } else { pos + name.len() };
                return Ok((Arg { pos: at, kind: ArgKind::Var(name, path) }, k + 1));
            }
            Tok::Field(path) => ArgKind::Field(path),
            Tok::Dot => ArgKind::Dot,
            Tok::Str(text, v) => ArgKind::Str(text, v),
            Tok::Num(text, v) => ArgKind::Num(text, v),
            Tok::LParen => {
                // Find the matching `)`.
                let mut depth = 0;
                let mut e = k;
                loop {
                    match toks.get(e).map(|t| &t.1) {
                        None => return self.err(pos, "unclosed left paren"),
                        Some(Tok::LParen) => depth += 1,
                        Some(Tok::RParen) => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    e += 1;
                }
                let inner = self.pipeline(&toks[k + 1..e], "parenthesized pipeline", pos)?;
                if let Some((fpos, Tok::ChainField(path))) = toks.get(e + 1) {
                    return Ok((Arg { pos: *fpos, kind: ArgKind::Chain(Box::new(inner), path.clone()) }, e + 2));
                }
                return Ok((Arg { pos, kind: ArgKind::Pipe(Box::new(inner)) }, e + 1));
            }
            other => return self.err(pos, format!("unexpected {} in operand", tok_desc(&other))),
        };
        Ok((Arg { pos, kind }, k + 1))
    }
}

fn tok_desc(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("<{s}>"),
        Tok::Var(n, p) => format!("<{n}{}>", p.iter().map(|x| format!(".{x}")).collect::<String>()),
        Tok::Field(p) | Tok::ChainField(p) => format!("<{}>", p.iter().map(|x| format!(".{x}")).collect::<String>()),
        Tok::Dot => "<.>".into(),
        Tok::Str(s, _) | Tok::Num(s, _) => s.clone(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Execution

struct ExecErr {
    pos: usize,
    ctx: String,
    msg: String,
}

enum Flow {
    Break,
    Continue,
    Err(ExecErr),
}

type R<T> = Result<T, Flow>;

fn fail<T>(pos: usize, ctx: impl std::fmt::Display, msg: impl Into<String>) -> R<T> {
    Err(Flow::Err(ExecErr { pos, ctx: ctx.to_string(), msg: msg.into() }))
}

/// Most nested template evaluations (Go's `maxExecDepth` is 100000; rule templates are small).
const MAX_DEPTH: usize = 10_000;

struct Exec<'a> {
    data: &'a Data<'a>,
    vars: Vec<(String, V)>,
    out: String,
    depth: usize,
}

impl Exec<'_> {
    fn walk_list(&mut self, dot: &V, nodes: &[Node]) -> R<()> {
        for n in nodes {
            self.walk(dot, n)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &V, node: &Node) -> R<()> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(p) => {
                let v = self.pipeline(dot, p)?;
                if p.decl.is_empty() {
                    let s = match v {
                        V::Data => self.fmt_data(),
                        other => printable(&other),
                    };
                    self.out.push_str(&s);
                }
            }
            Node::If { pipe, list, else_list, with } => {
                let mark = self.vars.len();
                let v = self.pipeline(dot, pipe)?;
                let r = if truth(&v) {
                    if *with { self.walk_list(&v, list) } else { self.walk_list(dot, list) }
                } else if let Some(e) = else_list {
                    self.walk_list(dot, e)
                } else {
                    Ok(())
                };
                self.vars.truncate(mark);
                r?;
            }
            Node::Range { pipe, list, else_list } => {
                let mark = self.vars.len();
                let v = self.pipeline(dot, pipe)?;
                let pos = pipe.cmds[0].pos;
                let elems: Vec<(V, V)> = match &v {
                    V::Samples(s) => s.iter().enumerate().map(|(i, x)| (V::Int(i as i64), V::Sample(Some(x.clone())))).collect(),
                    V::StrMap(m) => m.iter().map(|(k, x)| (V::Str(k.clone()), V::Str(x.clone()))).collect(),
                    V::AnyMap(m) => m.iter().map(|(k, x)| (V::Str(k.clone()), x.clone())).collect(),
                    V::Nil => Vec::new(),
                    other => {
                        // Go reports it at the last node evaluated.
                        let last = pipe.cmds.last().and_then(|c| c.args.last());
                        let (at, ctx) = last.map(|a| (a.pos, a.to_string())).unwrap_or((pos, pipe.to_string()));
                        return fail(at, ctx, format!("range can't iterate over {}", printable(other)));
                    }
                };
                let inner = self.vars.len();
                let mut r = Ok(());
                if elems.is_empty() {
                    if let Some(e) = else_list {
                        r = self.walk_list(dot, e);
                    }
                } else {
                    for (k, e) in elems {
                        match pipe.decl.len() {
                            1 => self.set_loop_var(pipe, 0, e.clone(), inner),
                            2 => {
                                self.set_loop_var(pipe, 0, k, inner);
                                self.set_loop_var(pipe, 1, e.clone(), inner);
                            }
                            _ => {}
                        }
                        let res = self.walk_list(&e, list);
                        self.vars.truncate(inner);
                        match res {
                            Ok(()) | Err(Flow::Continue) => {}
                            Err(Flow::Break) => break,
                            Err(e) => {
                                r = Err(e);
                                break;
                            }
                        }
                    }
                }
                self.vars.truncate(mark);
                r?;
            }
            Node::Break => return Err(Flow::Break),
            Node::Continue => return Err(Flow::Continue),
        }
        Ok(())
    }

    /// Sets the `i`th declared variable of a range pipeline (declared: the top ones; assigned:
    /// the nearest of that name).
    fn set_loop_var(&mut self, pipe: &Pipe, i: usize, v: V, top: usize) {
        let name = &pipe.decl[i];
        if pipe.assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v;
            }
        } else {
            let idx = top - pipe.decl.len() + i;
            self.vars[idx].1 = v;
        }
    }

    fn pipeline(&mut self, dot: &V, p: &Pipe) -> R<V> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return fail(p.cmds[0].pos, p, "exceeded maximum template depth");
        }
        let mut val: Option<V> = None;
        for c in &p.cmds {
            val = Some(self.command(dot, c, val)?);
        }
        self.depth -= 1;
        let v = val.unwrap_or(V::Nil);
        for name in &p.decl {
            if p.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return fail(p.cmds[0].pos, p, format!("undefined variable: {name}")),
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn var(&self, name: &str, pos: usize, ctx: &Arg) -> R<V> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => fail(pos, ctx, format!("undefined variable: {name}")),
        }
    }

    fn command(&mut self, dot: &V, c: &Cmd, fin: Option<V>) -> R<V> {
        let first = &c.args[0];
        let no_args = |fin: &Option<V>| -> R<()> {
            if c.args.len() > 1 || fin.is_some() {
                return fail(first.pos, first, format!("can't give argument to non-function {first}"));
            }
            Ok(())
        };
        match &first.kind {
            ArgKind::Func(name) => self.call(dot, name, c, &c.args[1..], fin),
            ArgKind::Nil => fail(first.pos, first, "nil is not a command"),
            _ => {
                no_args(&fin)?;
                self.arg(dot, first)
            }
        }
    }

    /// An operand's value (a function in operand position is called without arguments).
    fn arg(&mut self, dot: &V, a: &Arg) -> R<V> {
        match &a.kind {
            ArgKind::Func(name) => {
                let c = Cmd { pos: a.pos, args: vec![a.clone()] };
                self.call(dot, name, &c, &[], None)
            }
            ArgKind::Var(name, path) => {
                let v = self.var(name, a.pos, a)?;
                self.fields(v, path, a)
            }
            ArgKind::Field(path) => self.fields(dot.clone(), path, a),
            ArgKind::Chain(p, path) => {
                let v = self.pipeline(dot, p)?;
                self.fields(v, path, a)
            }
            ArgKind::Dot => Ok(dot.clone()),
            ArgKind::Nil => Ok(V::Nil),
            ArgKind::Bool(b) => Ok(V::Bool(*b)),
            ArgKind::Num(_, v) => Ok(v.clone()),
            ArgKind::Str(_, s) => Ok(V::Str(s.clone())),
            ArgKind::Pipe(p) => self.pipeline(dot, p),
        }
    }

    fn call(&mut self, dot: &V, name: &str, c: &Cmd, args: &[Arg], fin: Option<V>) -> R<V> {
        let n_in = args.len() + usize::from(fin.is_some());
        let (fixed, variadic) = arity(name);
        if variadic {
            if n_in < fixed {
                return fail(c.pos, name, format!("wrong number of args for {name}: want at least {fixed} got {}", args.len()));
            }
        } else if n_in != fixed {
            return fail(c.pos, name, format!("wrong number of args for {name}: want {fixed} got {n_in}"));
        }
        // `and` and `or` stop at the first argument that decides.
        if name == "and" || name == "or" {
            let mut v = V::Nil;
            for a in args {
                v = self.arg(dot, a)?;
                if truth(&v) == (name == "or") {
                    return Ok(v);
                }
            }
            if let Some(f) = fin {
                v = f;
            }
            return Ok(v);
        }
        let mut vals = Vec::with_capacity(n_in);
        for a in args {
            vals.push(self.arg(dot, a)?);
        }
        if let Some(f) = fin {
            vals.push(f);
        }
        match self.builtin(name, vals) {
            Ok(v) => Ok(v),
            Err(Fe::Call(m)) => fail(c.pos, c, format!("error calling {name}: {m}")),
            // Go reports a bad argument at that argument; a bad piped value at the last
            // argument evaluated (or the function's name).
            Err(Fe::Type(i, m)) => match args.get(i).or(args.last()) {
                Some(a) => fail(a.pos, a, m),
                None => fail(c.pos, name, m),
            },
        }
    }

    fn builtin(&mut self, name: &str, a: Vec<V>) -> Result<V, Fe> {
        let d = self.data;
        Ok(match name {
            "not" => V::Bool(!truth(&a[0])),
            "len" => V::Int(match &a[0] {
                V::Str(s) | V::Html(s) => s.len(),
                V::StrMap(m) => m.len(),
                V::AnyMap(m) => m.len(),
                V::Samples(s) => s.len(),
                V::Nil => return Err(Fe::Call("len of nil pointer".into())),
                other => return Err(Fe::Call(format!("len of type {}", other.type_name()))),
            } as i64),
            "index" => {
                let mut it = a.into_iter();
                let mut item = it.next().unwrap_or(V::Nil);
                if matches!(item, V::Nil) {
                    return Err(Fe::Call("index of untyped nil".into()));
                }
                for ix in it {
                    item = index(item, ix)?;
                }
                item
            }
            "eq" => {
                let (first, rest) = a.split_first().ok_or(Fe::Call("missing argument for comparison".into()))?;
                if rest.is_empty() {
                    return Err(Fe::Call("missing argument for comparison".into()));
                }
                let mut any = false;
                for b in rest {
                    if eq(first, b)? {
                        any = true;
                        break;
                    }
                }
                V::Bool(any)
            }
            "ne" => V::Bool(!eq(&a[0], &a[1])?),
            "lt" => V::Bool(lt(&a[0], &a[1])?),
            "le" => V::Bool(lt(&a[0], &a[1])? || eq(&a[0], &a[1])?),
            "gt" => V::Bool(!(lt(&a[0], &a[1])? || eq(&a[0], &a[1])?)),
            "ge" => V::Bool(!lt(&a[0], &a[1])?),
            "print" => V::Str(sprint(&a)),
            "println" => {
                let mut s: Vec<String> = Vec::new();
                for v in &a {
                    s.push(fmt_v(v));
                }
                V::Str(format!("{}\n", s.join(" ")))
            }
            "printf" => {
                let f = want_str(&a, 0)?;
                V::Str(sprintf(&f, &a[1..]))
            }
            "html" => V::Str(html_escape(&eval_args_str(&a))),
            "urlquery" => V::Str(query_escape(&eval_args_str(&a))),
            "query" => {
                let q = want_str(&a, 0)?;
                let Some(engine) = d.query else {
                    return Err(Fe::Call("no PromQL engine is available to templates here (query works in rule evaluation)".into()));
                };
                let res = engine.query(&q, d.ts_ms).map_err(Fe::Call)?;
                V::Samples(Rc::new(res.into_iter().map(|(labels, value)| Rc::new(Sample { labels, value })).collect()))
            }
            "first" => {
                let s = want_samples(&a, 0)?;
                match s.first() {
                    Some(x) => V::Sample(Some(x.clone())),
                    None => return Err(Fe::Call("first() called on vector with no elements".into())),
                }
            }
            "label" => {
                let l = want_str(&a, 0)?;
                V::Str(want_sample(&a, 1)?.and_then(|s| s.labels.get(&l).cloned()).unwrap_or_default())
            }
            "value" => V::Float(want_sample(&a, 0)?.map(|s| s.value).unwrap_or(0.0)),
            "strvalue" => V::Str(want_sample(&a, 0)?.and_then(|s| s.labels.get("__value__").cloned()).unwrap_or_default()),
            "sortByLabel" => {
                let l = want_str(&a, 0)?;
                let mut v: Vec<Rc<Sample>> = want_samples(&a, 1)?.to_vec();
                v.sort_by(|x, y| {
                    x.labels.get(&l).map(String::as_str).unwrap_or("").cmp(y.labels.get(&l).map(String::as_str).unwrap_or(""))
                });
                V::Samples(Rc::new(v))
            }
            "args" => V::AnyMap(Rc::new(a.into_iter().enumerate().map(|(i, v)| (format!("arg{i}"), v)).collect())),
            "safeHtml" => V::Html(want_str(&a, 0)?),
            "humanize" => V::Str(humanize(to_float(&a[0])?)),
            "humanize1024" => V::Str(humanize1024(to_float(&a[0])?)),
            "humanizeDuration" => V::Str(humanize_duration(to_float(&a[0])?)),
            "humanizePercentage" => V::Str(format!("{}%", go_format(to_float(&a[0])? * 100.0, 'g', Some(4)))),
            "humanizeTimestamp" => V::Str(humanize_timestamp(to_float(&a[0])?)?),
            "pathPrefix" => V::Str(url_path(d.external_url)),
            "externalURL" => V::Str(d.external_url.to_string()),
            "graphLink" => V::Str(format!("/graph?g0.expr={}&g0.tab=0", query_escape(&want_str(&a, 0)?))),
            "tableLink" => V::Str(format!("/graph?g0.expr={}&g0.tab=1", query_escape(&want_str(&a, 0)?))),
            "parseDuration" => {
                let s = want_str(&a, 0)?;
                let dur = promql_parser::util::parse_duration(&s).map_err(|_| Fe::Call(format!("not a valid duration string: {s:?}")))?;
                V::Float(dur.as_secs_f64())
            }
            "title" => V::Str(title(&want_str(&a, 0)?)),
            "toUpper" => V::Str(want_str(&a, 0)?.to_uppercase()),
            "toLower" => V::Str(want_str(&a, 0)?.to_lowercase()),
            "match" => {
                let re = regex::Regex::new(&want_str(&a, 0)?).map_err(|e| Fe::Call(format!("error parsing regexp: {e}")))?;
                V::Bool(re.is_match(&want_str(&a, 1)?))
            }
            "reReplaceAll" => {
                let p = want_str(&a, 0)?;
                let re = regex::Regex::new(&p).map_err(|e| Fe::Call(format!("regexp: Compile(`{p}`): error parsing regexp: {e}")))?;
                V::Str(re.replace_all(&want_str(&a, 2)?, want_str(&a, 1)?.as_str()).into_owned())
            }
            "stripPort" => V::Str(strip_port(&want_str(&a, 0)?)),
            "stripDomain" => V::Str(strip_domain(&want_str(&a, 0)?)),
            other => return Err(Fe::Call(format!("function {other:?} not defined"))),
        })
    }
}

/// `(fixed arguments, variadic)` of a function.
fn arity(name: &str) -> (usize, bool) {
    match name {
        "and" | "or" | "index" | "eq" | "printf" => (1, true),
        "print" | "println" | "html" | "urlquery" | "args" => (0, true),
        "ne" | "lt" | "le" | "gt" | "ge" | "label" | "sortByLabel" | "match" => (2, false),
        "reReplaceAll" => (3, false),
        "pathPrefix" | "externalURL" => (0, false),
        _ => (1, false),
    }
}

/// A function's failure: `Call` errors are reported at the command as `error calling f: …`,
/// `Type` ones (argument `i` has the wrong type) at that argument, as Go does.
enum Fe {
    Call(String),
    Type(usize, String),
}

fn want_str(a: &[V], i: usize) -> Result<String, Fe> {
    match &a[i] {
        V::Str(s) => Ok(s.clone()),
        V::Nil => Err(Fe::Type(i, "invalid value; expected string".into())),
        other => Err(Fe::Type(i, format!("wrong type for value; expected string; got {}", other.type_name()))),
    }
}

fn want_samples(a: &[V], i: usize) -> Result<Rc<Vec<Rc<Sample>>>, Fe> {
    match &a[i] {
        V::Samples(s) => Ok(s.clone()),
        V::Nil => Ok(Rc::new(Vec::new())),
        other => Err(Fe::Type(i, format!("wrong type for value; expected template.queryResult; got {}", other.type_name()))),
    }
}

fn want_sample(a: &[V], i: usize) -> Result<Option<Rc<Sample>>, Fe> {
    match &a[i] {
        V::Sample(s) => Ok(s.clone()),
        V::Nil => Ok(None),
        other => Err(Fe::Type(i, format!("wrong type for value; expected *template.sample; got {}", other.type_name()))),
    }
}

impl Exec<'_> {
    /// Field access: `.Labels`/`.Value` of the data or a sample, keys of maps.
    fn fields(&self, mut v: V, path: &[String], at: &Arg) -> R<V> {
        for f in path {
            v = self.field(&v, f, at)?;
        }
        Ok(v)
    }

    fn field(&self, v: &V, f: &str, at: &Arg) -> R<V> {
        Ok(match v {
            V::Data => match self.data_field(f) {
                Some(x) => x,
                None => return fail(at.pos, at, format!("can't evaluate field {f} in type {}", v.type_name())),
            },
            V::Sample(None) => return fail(at.pos, at, format!("nil pointer evaluating *template.sample.{f}")),
            V::Sample(Some(s)) => match f {
                "Labels" => V::StrMap(Rc::new(s.labels.clone())),
                "Value" => V::Float(s.value),
                _ => return fail(at.pos, at, format!("can't evaluate field {f} in type *template.sample")),
            },
            V::StrMap(m) => V::Str(m.get(f).cloned().unwrap_or_default()),
            V::AnyMap(m) => m.get(f).cloned().unwrap_or(V::Nil),
            V::Nil => return fail(at.pos, at, format!("nil data; no entry for key {f:?}")),
            other => return fail(at.pos, at, format!("can't evaluate field {f} in type {}", other.type_name())),
        })
    }

    /// Go's `%v` of the data struct.
    fn fmt_data(&self) -> String {
        let d = self.data;
        let m = |m: &BTreeMap<String, String>| fmt_map(m.iter().map(|(k, v)| (k.as_str(), v.clone())));
        format!("{{{} {} {} {}}}", m(d.labels), m(d.external_labels), d.external_url, go_format(d.value, 'g', None))
    }

    /// The data's fields.
    fn data_field(&self, f: &str) -> Option<V> {
        let d = self.data;
        Some(match f {
            "Labels" => V::StrMap(Rc::new(d.labels.clone())),
            "ExternalLabels" => V::StrMap(Rc::new(d.external_labels.clone())),
            "ExternalURL" => V::Str(d.external_url.to_string()),
            "Value" => V::Float(d.value),
            _ => return None,
        })
    }
}

fn index(item: V, ix: V) -> Result<V, Fe> {
    let int_ix = |len: usize| -> Result<usize, Fe> {
        let x = match ix {
            V::Int(n) => n,
            V::Nil => return Err(Fe::Call("cannot index slice/array with nil".into())),
            ref other => return Err(Fe::Call(format!("cannot index slice/array with type {}", other.type_name()))),
        };
        if x < 0 || x as usize > len {
            return Err(Fe::Call(format!("index out of range: {x}")));
        }
        Ok(x as usize)
    };
    Ok(match &item {
        V::Samples(s) => {
            let i = int_ix(s.len())?;
            V::Sample(Some(s.get(i).cloned().ok_or(Fe::Call("reflect: slice index out of range".into()))?))
        }
        V::Str(s) | V::Html(s) => {
            let i = int_ix(s.len())?;
            // Go indexes bytes: a `uint8`, printed as a number.
            V::Int(i64::from(*s.as_bytes().get(i).ok_or(Fe::Call("reflect: string index out of range".into()))?))
        }
        V::StrMap(m) => match &ix {
            V::Str(k) => V::Str(m.get(k).cloned().unwrap_or_default()),
            other => return Err(Fe::Call(format!("value has type {}; should be string", other.type_name()))),
        },
        V::AnyMap(m) => match &ix {
            V::Str(k) => m.get(k).cloned().unwrap_or(V::Nil),
            other => return Err(Fe::Call(format!("value has type {}; should be string", other.type_name()))),
        },
        V::Sample(None) => return Err(Fe::Call("index of nil pointer".into())),
        other => return Err(Fe::Call(format!("can't index item of type {}", other.type_name()))),
    })
}

/// Go's truth: false, 0, nil, and empty strings/maps/lists are false.
fn truth(v: &V) -> bool {
    match v {
        V::Nil => false,
        V::Bool(b) => *b,
        V::Int(n) => *n != 0,
        V::Float(f) => *f != 0.0,
        V::Str(s) | V::Html(s) => !s.is_empty(),
        V::StrMap(m) => !m.is_empty(),
        V::AnyMap(m) => !m.is_empty(),
        V::Samples(s) => !s.is_empty(),
        V::Sample(s) => s.is_some(),
        V::Data => true,
    }
}

#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
}

fn basic_kind(v: &V) -> Option<Kind> {
    match v {
        V::Bool(_) => Some(Kind::Bool),
        V::Int(_) => Some(Kind::Int),
        V::Float(_) => Some(Kind::Float),
        V::Str(_) | V::Html(_) => Some(Kind::Str),
        _ => None,
    }
}

fn str_of(v: &V) -> &str {
    match v {
        V::Str(s) | V::Html(s) => s,
        _ => "",
    }
}

/// Go's `eq` for one pair.
fn eq(a: &V, b: &V) -> Result<bool, Fe> {
    let (ka, kb) = (basic_kind(a), basic_kind(b));
    let same_type = std::mem::discriminant(a) == std::mem::discriminant(b);
    if ka != kb || (ka.is_none() && !same_type) {
        if !matches!(a, V::Nil) && !matches!(b, V::Nil) {
            return Err(Fe::Call("incompatible types for comparison".into()));
        }
        return Ok(false);
    }
    Ok(match (a, b) {
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::Int(x), V::Int(y)) => x == y,
        (V::Float(x), V::Float(y)) => x == y,
        (V::Nil, V::Nil) => true,
        (V::Sample(x), V::Sample(y)) => match (x, y) {
            (Some(x), Some(y)) => Rc::ptr_eq(x, y),
            (None, None) => true,
            _ => false,
        },
        _ if ka == Some(Kind::Str) => str_of(a) == str_of(b),
        _ => return Err(Fe::Call(format!("non-comparable type {}: {}", fmt_v(b), b.type_name()))),
    })
}

/// Go's `lt`.
fn lt(a: &V, b: &V) -> Result<bool, Fe> {
    let bad = || Fe::Call("invalid type for comparison".into());
    let ka = basic_kind(a).ok_or_else(bad)?;
    let kb = basic_kind(b).ok_or_else(bad)?;
    if ka != kb {
        return Err(Fe::Call("incompatible types for comparison".into()));
    }
    Ok(match (a, b) {
        (V::Int(x), V::Int(y)) => x < y,
        (V::Float(x), V::Float(y)) => x < y,
        (V::Bool(_), _) => return Err(bad()),
        _ => str_of(a) < str_of(b),
    })
}

fn to_float(v: &V) -> Result<f64, Fe> {
    match v {
        V::Float(n) => Ok(*n),
        V::Int(n) => Ok(*n as f64),
        V::Str(s) => parse_go_float(s).ok_or_else(|| Fe::Call(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))),
        other => Err(Fe::Call(format!("can't convert {} to float", other.type_name()))),
    }
}

/// `strconv.ParseFloat(s, 64)` for the forms rule templates meet (decimal, exponent, `Inf`,
/// `NaN`).
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.strip_prefix('+').unwrap_or(s);
    match t.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+' | b'_')) {
        return None;
    }
    t.parse::<f64>().ok()
}

fn humanize_timestamp(v: f64) -> Result<String, Fe> {
    if !v.is_finite() {
        return Ok(go_format(v, 'g', Some(4)));
    }
    // Prometheus goes through model.Time: milliseconds.
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return Err(Fe::Call(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            go_format(v, 'g', None)
        )));
    }
    let ms = (ns as i64) / 1_000_000;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(|e| Fe::Call(e.to_string()))?;
    // Go's time.Time String(): "2006-01-02 15:04:05.999999999 -0700 MST"
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let mut s = t.format(&fmt).map_err(|e| Fe::Call(e.to_string()))?;
    let frac = t.nanosecond();
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    Ok(s)
}

/// Go's `strings.Title`: upper-cases the first letter of each word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for ch in s.chars() {
        if start && ch.is_alphabetic() {
            out.extend(ch.to_uppercase());
        } else {
            out.push(ch);
        }
        start = !ch.is_alphanumeric() && ch != '_' && ch != '\'';
    }
    out
}

/// `net.SplitHostPort`: host and port, `None` when `s` has no port.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let port = rest[end + 1..].strip_prefix(':')?;
        return Some((&rest[..end], port));
    }
    let (h, p) = s.rsplit_once(':')?;
    if h.contains(':') {
        return None;
    }
    Some((h, p))
}

fn strip_port(s: &str) -> String {
    match split_host_port(s) {
        Some((h, _)) => h.to_string(),
        None => s.to_string(),
    }
}

fn strip_domain(s: &str) -> String {
    let (host, port) = split_host_port(s).unwrap_or((s, ""));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return s.to_string();
    }
    let host = host.split('.').next().unwrap_or("");
    if port.is_empty() {
        host.to_string()
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The path of a URL (`pathPrefix`): what follows `scheme://host`, without the query.
fn url_path(u: &str) -> String {
    let rest = match u.find("://") {
        Some(i) => &u[i + 3..],
        None => return u.split(['?', '#']).next().unwrap_or("").to_string(),
    };
    match rest.find('/') {
        Some(i) => rest[i..].split(['?', '#']).next().unwrap_or("").to_string(),
        None => String::new(),
    }
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Go's `template.HTMLEscapeString`.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `evalArgs` for `html`/`urlquery`: one string as is, otherwise `fmt.Sprint`.
fn eval_args_str(a: &[V]) -> String {
    match a {
        [V::Str(s)] => s.clone(),
        _ => sprint(a),
    }
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn sprint(a: &[V]) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 && !matches!(v, V::Str(_) | V::Html(_)) && !matches!(a[i - 1], V::Str(_) | V::Html(_)) {
            out.push(' ');
        }
        out.push_str(&fmt_v(v));
    }
    out
}

/// What an action prints (Go dereferences a pointer first).
fn printable(v: &V) -> String {
    match v {
        V::Nil => "<no value>".into(),
        V::Sample(Some(s)) => fmt_sample(s),
        other => fmt_v(other),
    }
}

/// Go's `%v`.
fn fmt_v(v: &V) -> String {
    match v {
        V::Nil => "<nil>".into(),
        V::Bool(b) => b.to_string(),
        V::Int(n) => n.to_string(),
        V::Float(f) => go_format(*f, 'g', None),
        V::Str(s) | V::Html(s) => s.clone(),
        V::StrMap(m) => fmt_map(m.iter().map(|(k, v)| (k.as_str(), v.clone()))),
        V::AnyMap(m) => fmt_map(m.iter().map(|(k, v)| (k.as_str(), fmt_v(v)))),
        V::Samples(s) => {
            let inner: Vec<String> = s.iter().map(|x| format!("&{}", fmt_sample(x))).collect();
            format!("[{}]", inner.join(" "))
        }
        V::Sample(Some(s)) => format!("&{}", fmt_sample(s)),
        V::Sample(None) => "<nil>".into(),
        V::Data => "{...}".into(),
    }
}

fn fmt_map<'a>(it: impl Iterator<Item = (&'a str, String)>) -> String {
    let inner: Vec<String> = it.map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", inner.join(" "))
}

fn fmt_sample(s: &Sample) -> String {
    format!("{{{} {}}}", fmt_map(s.labels.iter().map(|(k, v)| (k.as_str(), v.clone()))), go_format(s.value, 'g', None))
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %q %d %f %e %g %x %t %%`, with flags
/// `-+ 0`, width and precision.
fn sprintf(fmt: &str, args: &[V]) -> String {
    let mut out = String::new();
    let c: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    let mut argi = 0;
    while i < c.len() {
        if c[i] != '%' {
            out.push(c[i]);
            i += 1;
            continue;
        }
        i += 1;
        let (mut minus, mut plus, mut zero, mut space) = (false, false, false, false);
        while i < c.len() && matches!(c[i], '-' | '+' | '0' | ' ' | '#') {
            match c[i] {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                _ => {}
            }
            i += 1;
        }
        let mut width = None;
        while i < c.len() && c[i].is_ascii_digit() {
            width = Some(width.unwrap_or(0) * 10 + c[i].to_digit(10).unwrap_or(0) as usize);
            i += 1;
        }
        let mut prec = None;
        if i < c.len() && c[i] == '.' {
            i += 1;
            let mut p = 0;
            while i < c.len() && c[i].is_ascii_digit() {
                p = p * 10 + c[i].to_digit(10).unwrap_or(0) as usize;
                i += 1;
            }
            prec = Some(p);
        }
        let Some(&verb) = c.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        let mut s = match (verb, arg) {
            ('v', a) => match a {
                V::Float(n) => go_format(*n, 'g', prec),
                other => fmt_v(other),
            },
            ('s', V::Str(s) | V::Html(s)) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            ('s', V::StrMap(_) | V::AnyMap(_) | V::Sample(_) | V::Samples(_)) => fmt_v(arg),
            ('q', V::Str(s) | V::Html(s)) => format!("{s:?}"),
            ('t', V::Bool(b)) => b.to_string(),
            ('d', V::Int(n)) => n.to_string(),
            ('x', V::Int(n)) => format!("{n:x}"),
            ('X', V::Int(n)) => format!("{n:X}"),
            ('x', V::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('f' | 'F' | 'e' | 'g', V::Float(n)) => {
                let p = match verb {
                    'g' => prec,
                    _ => Some(prec.unwrap_or(6)),
                };
                go_format(*n, if verb == 'F' { 'f' } else { verb }, p)
            }
            (verb, V::Nil) => {
                out.push_str(&format!("%!{verb}(<nil>)"));
                continue;
            }
            (verb, a) => {
                // A wrong verb: `%!verb(type=value)`, the value padded as the verb would be.
                let mut val = fmt_v(a);
                let len = val.chars().count();
                if let Some(w) = width.filter(|w| *w > len) {
                    let pad = " ".repeat(w - len);
                    if minus { val.push_str(&pad) } else { val.insert_str(0, &pad) }
                }
                out.push_str(&format!("%!{verb}({}={val})", a.type_name()));
                continue;
            }
        };
        let numeric = matches!(arg, V::Float(_) | V::Int(_)) && "dfFegvxX".contains(verb);
        if numeric && !s.starts_with('-') {
            if plus {
                s.insert(0, '+');
            } else if space {
                s.insert(0, ' ');
            }
        }
        if let Some(w) = width {
            let len = s.chars().count();
            if len < w {
                let pad = w - len;
                if minus {
                    s.push_str(&" ".repeat(pad));
                } else if zero && numeric {
                    let sign = if s.starts_with(['-', '+', ' ']) { 1 } else { 0 };
                    s.insert_str(sign, &"0".repeat(pad));
                } else {
                    s.insert_str(0, &" ".repeat(pad));
                }
            }
        }
        out.push_str(&s);
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[argi..].iter().map(|a| format!("{}={}", a.type_name(), fmt_v(a))).collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

/// Prometheus's `humanize`: SI prefixes, 4 significant digits.
pub fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_format(v, 'g', Some(4));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", go_format(v, 'g', Some(4)))
}

/// Prometheus's `humanize1024`: binary prefixes.
pub fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_format(v, 'g', Some(4));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_format(v, 'g', Some(4)))
}

/// Prometheus's `humanizeDuration` (seconds in).
pub fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return go_format(v, 'g', Some(4));
    }
    if v == 0.0 {
        return format!("{}s", go_format(v, 'g', Some(4)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86_400);
        if days != 0 {
            return format!("{sign}{days}d {h}h {m}m {s}s");
        }
        if h != 0 {
            return format!("{sign}{h}h {m}m {s}s");
        }
        if m != 0 {
            return format!("{sign}{m}m {s}s");
        }
        return format!("{sign}{}s", go_format(v, 'g', Some(4)));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", go_format(v, 'g', Some(4)))
}

/// Go's `strconv.FormatFloat(v, fmt, prec, 64)` for `e`, `f` and `g` (`prec` None = shortest),
/// which is also what `fmt` prints for `%v`, `%e`, `%f`, `%g`.
pub fn go_format(v: f64, fmt: char, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let neg = v.is_sign_negative() && v != 0.0;
    let a = v.abs();
    // Decimal digits (no trailing zeros) and decimal point position.
    let (digits, dp): (Vec<u8>, i32) = if a == 0.0 {
        (Vec::new(), 0)
    } else {
        let s = match (fmt, prec) {
            (_, None) => format!("{a:e}"),
            ('e', Some(p)) => format!("{a:.p$e}"),
            ('g', Some(p)) => format!("{a:.*e}", p.max(1) - 1),
            // 'f' with precision: round at the decimal position.
            (_, Some(p)) => {
                let f = format!("{a:.p$}");
                let (int, frac) = f.split_once('.').unwrap_or((&f, ""));
                let mut ds: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
                let mut dp = int.len() as i32;
                while ds.first() == Some(&0) {
                    ds.remove(0);
                    dp -= 1;
                }
                while ds.last() == Some(&0) {
                    ds.pop();
                }
                if ds.is_empty() {
                    dp = 0;
                }
                return finish(neg, &ds, dp, fmt, prec);
            }
        };
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mut ds: Vec<u8> = m.bytes().filter(|b| b.is_ascii_digit()).map(|b| b - b'0').collect();
        while ds.len() > 1 && ds.last() == Some(&0) {
            ds.pop();
        }
        (ds, e.parse::<i32>().unwrap_or(0) + 1)
    };
    finish(neg, &digits, dp, fmt, prec)
}

fn finish(neg: bool, digs: &[u8], dp: i32, fmt: char, prec: Option<usize>) -> String {
    let nd = digs.len() as i32;
    let shortest = prec.is_none();
    let mut prec: i32 = match prec {
        Some(p) => p as i32,
        None => match fmt {
            'e' => (nd - 1).max(0),
            'f' => (nd - dp).max(0),
            _ => nd,
        },
    };
    let body = match fmt {
        'e' => fmt_e(digs, dp, prec),
        'f' => fmt_f(digs, dp, prec),
        _ => {
            let mut eprec = prec;
            if eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if exp < -4 || exp >= eprec {
                if prec > nd {
                    prec = nd;
                }
                fmt_e(digs, dp, prec - 1)
            } else {
                if prec > dp {
                    prec = nd;
                }
                fmt_f(digs, dp, (prec - dp).max(0))
            }
        }
    };
    if neg { format!("-{body}") } else { body }
}

fn fmt_e(digs: &[u8], dp: i32, prec: i32) -> String {
    let mut s = String::new();
    s.push((b'0' + digs.first().copied().unwrap_or(0)) as char);
    if prec > 0 {
        s.push('.');
        for i in 1..=prec as usize {
            s.push((b'0' + digs.get(i).copied().unwrap_or(0)) as char);
        }
    }
    let exp = if digs.is_empty() { 0 } else { dp - 1 };
    s.push('e');
    s.push(if exp < 0 { '-' } else { '+' });
    s.push_str(&format!("{:02}", exp.abs()));
    s
}

fn fmt_f(digs: &[u8], dp: i32, prec: i32) -> String {
    let mut s = String::new();
    if dp > 0 {
        for i in 0..dp as usize {
            s.push((b'0' + digs.get(i).copied().unwrap_or(0)) as char);
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            let idx = dp + i - 1;
            let d = if idx >= 0 { digs.get(idx as usize).copied().unwrap_or(0) } else { 0 };
            s.push((b'0' + d) as char);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LabelSet;

    /// A query engine that answers from a table.
    struct Table(Vec<(&'static str, Vec<(LabelSet, f64)>)>);
    impl QueryFn for Table {
        fn query(&self, expr: &str, _t: i64) -> Result<Vec<(LabelSet, f64)>, String> {
            self.0.iter().find(|(e, _)| *e == expr).map(|(_, v)| v.clone()).ok_or_else(|| format!("parse error: unknown {expr}"))
        }
    }

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn table() -> Table {
        Table(vec![
            (
                "up",
                vec![
                    (ls(&[("__name__", "up"), ("instance", "b:9100"), ("job", "node")]), 0.0),
                    (ls(&[("__name__", "up"), ("instance", "a:9100"), ("job", "node")]), 1.0),
                ],
            ),
            ("nothing", vec![]),
            ("scalar(1.5e9)", vec![(LabelSet::new(), 1.5e9)]),
        ])
    }

    fn render_q(t: &str, value: f64, q: Option<&dyn QueryFn>) -> Result<String, String> {
        let labels = ls(&[("instance", "db-1:9100"), ("job", "node"), ("severity", "critical")]);
        let ext = ls(&[("cluster", "eu1")]);
        expand(
            t,
            &Data {
                labels: &labels,
                value,
                external_labels: &ext,
                external_url: "http://lookout:9400/prefix",
                query: q,
                ts_ms: 0,
                name: "Test",
            },
        )
    }

    fn render(t: &str, value: f64) -> Result<String, String> {
        let q = table();
        render_q(t, value, Some(&q))
    }

    fn ok(t: &str, value: f64) -> String {
        render(t, value).unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    #[test]
    fn go_float_formatting_matches_go() {
        for (v, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (0.5, "0.5"),
            (100.0, "100"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(go_format(v, 'g', None), want, "{v}");
        }
        assert_eq!(go_format(1234.5678, 'g', Some(4)), "1235");
        assert_eq!(go_format(1.5, 'g', Some(4)), "1.5");
        assert_eq!(go_format(12345.0, 'g', Some(4)), "1.234e+04");
        assert_eq!(go_format(1.23456, 'f', Some(2)), "1.23");
        assert_eq!(go_format(0.0, 'f', Some(2)), "0.00");
        assert_eq!(go_format(1.0, 'e', None), "1e+00");
        assert_eq!(go_format(1234.0, 'e', None), "1.234e+03");
        assert_eq!(go_format(0.000123, 'f', Some(5)), "0.00012");
    }

    #[test]
    fn prometheus_functions() {
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(0.0012), "1.2m");
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(999.0), "999");
        assert_eq!(humanize1024(1048576.0), "1Mi");
        assert_eq!(humanize_duration(3725.0), "1h 2m 5s");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(1.5), "1.5s");
        assert_eq!(humanize_duration(0.25), "250ms");
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(ok("{{ $value | humanizePercentage }}", 0.1234), "12.34%");
        assert_eq!(ok("{{ $value | humanizeTimestamp }}", 1_700_000_000.0), "2023-11-14 22:13:20 +0000 UTC");
        // model.Time has millisecond precision.
        assert_eq!(ok("{{ $value | humanizeTimestamp }}", 1_700_000_000.123_456), "2023-11-14 22:13:20.123 +0000 UTC");
        assert_eq!(ok("{{ pathPrefix }}|{{ externalURL }}", 0.0), "/prefix|http://lookout:9400/prefix");
        assert_eq!(ok(r#"{{ graphLink "rate(x[5m]) > 1" }}"#, 0.0), "/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+1&g0.tab=0");
        assert_eq!(ok(r#"{{ tableLink "up" }}"#, 0.0), "/graph?g0.expr=up&g0.tab=1");
        assert_eq!(ok(r#"{{ parseDuration "1h30m" }}"#, 0.0), "5400");
        assert_eq!(
            ok(r#"{{ "a.b.example.com:80" | stripDomain }} {{ "10.0.0.1:80" | stripDomain }} {{ "[::1]:9" | stripPort }}"#, 0.0),
            "a:80 10.0.0.1:80 ::1"
        );
        assert_eq!(
            ok(r#"{{ "<b>" | safeHtml }} {{ html "<a href='x'>" }} {{ urlquery "a b&c" }}"#, 0.0),
            "<b> &lt;a href=&#39;x&#39;&gt; a+b%26c"
        );
        assert_eq!(ok(r#"{{ title "hello wide-world" }}"#, 0.0), "Hello Wide-World");
    }

    #[test]
    fn variables_pipes_and_printf() {
        assert_eq!(ok("{{ $labels.instance }} of {{ $labels.job }} is {{ $value }}", 42.0), "db-1:9100 of node is 42");
        assert_eq!(ok("{{ .Labels.job }}={{ .Value }}", 0.5), "node=0.5");
        assert_eq!(ok("{{$labels.missing}}|", 1.0), "|");
        assert_eq!(ok("{{ $externalLabels.cluster }} {{ $externalURL }}", 1.0), "eu1 http://lookout:9400/prefix");
        assert_eq!(ok(r#"{{ printf "%.2f" $value }}"#, 2.0 / 3.0), "0.67");
        assert_eq!(ok(r#"{{ printf "%s has %d%%" $labels.job 5 }}"#, 0.0), "node has 5%");
        assert_eq!(ok(r#"{{ printf "%5.1f|%-4s|" $value "ab" }}"#, 1.23456), "  1.2|ab  |");
        assert_eq!(ok(r#"{{ printf "%d" $value }}"#, 3.0), "%!d(float64=3)");
        assert_eq!(ok("{{ $labels.instance | stripPort | toUpper }}", 0.0), "DB-1");
        assert_eq!(ok("{{ humanize (printf \"%f\" $value) }}", 2048.0), "2.048k");
        assert_eq!(ok("a  {{- $labels.job -}}  b", 0.0), "anodeb");
        assert_eq!(ok("{{/* note */}}x {{- /* trimmed */ -}} y", 0.0), "xy");
        assert_eq!(ok(r#"{{ reReplaceAll "(.*):.*" "$1" $labels.instance }}"#, 0.0), "db-1");
        assert_eq!(ok("{{ $value | humanize }}B/s", 1.5e9), "1.5GB/s");
        // Declaration, assignment, `$` root, printing maps.
        assert_eq!(ok(r#"{{ $x := "a" }}{{ $x }}{{ $x = "b" }}{{ $x }}"#, 0.0), "ab");
        assert_eq!(ok("{{ $.Labels.job }} {{ $externalLabels }}", 0.0), "node map[cluster:eu1]");
        assert_eq!(ok("{{ $value = 7.0 }}{{ $value }}", 1.0), "7");
        assert_eq!(ok("{{ print 1 2 \"a\" 3 4.5 }}|{{ println 1 \"a\" }}|", 0.0), "1 2a3 4.5|1 a\n|");
        assert_eq!(ok("{{ 'a' }} {{ 0x10 }} {{ 1e3 }} {{ -2 }} {{ true }} {{ `raw\\n` }}", 0.0), "97 16 1000 -2 true raw\\n");
    }

    #[test]
    fn if_else_chains_and_truthiness() {
        let t = r#"{{ if gt $value 90.0 }}critical{{ else if gt $value 80.0 }}warning{{ else }}ok{{ end }}"#;
        assert_eq!(ok(t, 95.0), "critical");
        assert_eq!(ok(t, 85.0), "warning");
        assert_eq!(ok(t, 5.0), "ok");
        // Go truthiness: 0, "", empty map, nil are false; NaN is true.
        for (cond, want) in [
            ("$value", "F"),
            (r#""""#, "F"),
            (r#""x""#, "T"),
            ("0", "F"),
            ("1", "T"),
            ("0.0", "F"),
            ("$labels", "T"),
            ("$labels.missing", "F"),
            ("(args)", "F"),
            ("(print)", "F"),
            ("false", "F"),
            ("(query \"nothing\")", "F"),
            ("(query \"up\")", "T"),
        ] {
            assert_eq!(ok(&format!("{{{{ if {cond} }}}}T{{{{ else }}}}F{{{{ end }}}}"), 0.0), want, "{cond}");
        }
        assert_eq!(ok("{{ if $value }}T{{ else }}F{{ end }}", f64::NAN), "T");
        // and/or return an operand and short-circuit: `index` on an empty list is never called.
        assert_eq!(ok(r#"{{ and 1 "x" 0 "y" }}|{{ or 0 "" "z" 1 }}|{{ or 0 "" }}|{{ and 1 2 }}"#, 0.0), "0|z||2");
        assert_eq!(ok(r#"{{ $r := query "nothing" }}{{ if and $r (index $r 0) }}x{{ else }}none{{ end }}"#, 0.0), "none");
        assert_eq!(
            ok(r#"{{ not 0 }} {{ not "a" }} {{ eq $labels.severity "warning" "critical" }} {{ ne 1 2 }}"#, 0.0),
            "true false true true"
        );
        assert_eq!(ok(r#"{{ lt 1 2 }} {{ le 2 2 }} {{ ge "b" "a" }} {{ gt 1.5 1.5 }} {{ eq 2 2 }}"#, 0.0), "true true true false true");
        assert_eq!(ok("{{ if eq .Labels.severity \"critical\" -}}\n  PAGE\n{{- end }}", 0.0), "PAGE");
    }

    #[test]
    fn with_rebinds_dot_and_else() {
        assert_eq!(ok("{{ with $labels.job }}job={{ . }}{{ else }}none{{ end }}", 0.0), "job=node");
        assert_eq!(ok("{{ with $labels.nope }}x{{ else }}none{{ end }}", 0.0), "none");
        assert_eq!(ok("{{ with $labels.nope }}a{{ else with $labels.job }}b={{ . }}{{ end }}", 0.0), "b=node");
        assert_eq!(ok("{{ with $x := $labels.job }}{{ $x }}/{{ . }}{{ end }}", 0.0), "node/node");
        assert_eq!(ok(r#"{{ with query "up" }}{{ with first . }}{{ .Labels.instance }}={{ .Value }}{{ end }}{{ end }}"#, 0.0), "b:9100=0");
    }

    #[test]
    fn range_over_maps_lists_and_else() {
        assert_eq!(
            ok("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", 0.0),
            "instance=db-1:9100;job=node;severity=critical;",
            "maps in sorted key order"
        );
        assert_eq!(ok("{{ range $labels }}{{ . }},{{ end }}", 0.0), "db-1:9100,node,critical,");
        assert_eq!(ok("{{ range $v := $externalLabels }}{{ $v }}{{ end }}", 0.0), "eu1");
        assert_eq!(
            ok(r#"{{ range $i, $s := query "up" }}{{ $i }}:{{ $s.Labels.instance }}={{ $s.Value }} {{ end }}"#, 0.0),
            "0:b:9100=0 1:a:9100=1 "
        );
        assert_eq!(ok(r#"{{ range query "nothing" }}x{{ else }}empty{{ end }}"#, 0.0), "empty");
        assert_eq!(ok(r#"{{ range (args) }}x{{ else }}no args{{ end }}"#, 0.0), "no args");
        // Dot inside range is the element; `$` is still the data.
        assert_eq!(ok(r#"{{ range query "up" }}{{ .Labels.instance }}/{{ $.Labels.job }} {{ end }}"#, 0.0), "b:9100/node a:9100/node ");
        // break and continue.
        assert_eq!(
            ok(
                r#"{{ range $k, $v := $labels }}{{ if eq $k "job" }}{{ continue }}{{ end }}{{ if eq $k "severity" }}{{ break }}{{ end }}{{ $k }}{{ end }}"#,
                0.0
            ),
            "instance"
        );
        // Variables declared in the body are scoped to one iteration; assignment reaches out.
        assert_eq!(ok(r#"{{ $n := 0 }}{{ range $labels }}{{ $n = 1 }}{{ $m := 2 }}{{ end }}{{ $n }}"#, 0.0), "1");
        assert_eq!(
            ok("{{ range $k, $v := $labels -}}\n  - {{ $k }}: {{ $v }}\n{{ end }}", 0.0),
            "- instance: db-1:9100\n- job: node\n- severity: critical\n"
        );
    }

    #[test]
    fn query_functions() {
        assert_eq!(ok(r#"{{ query "up" | first | value }}"#, 0.0), "0");
        assert_eq!(ok(r#"{{ with query "up" | sortByLabel "instance" | first }}{{ label "instance" . }}{{ end }}"#, 0.0), "a:9100");
        assert_eq!(ok(r#"{{ range query "up" | sortByLabel "instance" }}{{ .Labels.instance }} {{ end }}"#, 0.0), "a:9100 b:9100 ");
        assert_eq!(ok(r#"{{ query "scalar(1.5e9)" | first | value | humanize }}"#, 0.0), "1.5G");
        assert_eq!(ok(r#"{{ (query "up" | first).Labels.job }}"#, 0.0), "node");
        assert_eq!(ok(r#"{{ len (query "up") }} {{ len $labels }} {{ len "héllo" }}"#, 0.0), "2 3 6");
        assert_eq!(ok(r#"{{ index $labels "job" }} {{ (index (query "up") 1).Value }}"#, 0.0), "node 1");
        assert_eq!(ok(r#"{{ query "up" | first }}"#, 0.0), "{map[__name__:up instance:b:9100 job:node] 0}");
        assert_eq!(ok(r#"{{ strvalue (query "up" | first) }}|"#, 0.0), "|");
        assert_eq!(ok(r#"{{ $a := args "x" 2 }}{{ $a.arg0 }} {{ $a.arg1 }} {{ $a.arg2 }}"#, 0.0), "x 2 <no value>");
        // No engine: a clear error, at the call.
        let err = render_q(r#"{{ query "up" }}"#, 0.0, None).unwrap_err();
        assert!(err.contains("error calling query: no PromQL engine is available"), "{err}");
        let err = render(r#"{{ query "bad(" }}"#, 0.0).unwrap_err();
        assert!(err.contains("error calling query: parse error"), "{err}");
    }

    #[test]
    fn runtime_errors_are_gos_messages_with_positions() {
        // Position counts from the start of DEFS (112 bytes), as in Prometheus.
        assert_eq!(DEFS.len(), 112);
        assert_eq!(
            render(r#"{{ index (query "up") 5 }}"#, 0.0).unwrap_err(),
            r#"error executing template __alert_Test: template: __alert_Test:1:115: executing "__alert_Test" at <index (query "up") 5>: error calling index: index out of range: 5"#
        );
        assert_eq!(
            render("x\n {{ query \"nothing\" | first }}", 0.0).unwrap_err(),
            r#"error executing template __alert_Test: template: __alert_Test:2:22: executing "__alert_Test" at <first>: error calling first: first() called on vector with no elements"#
        );
        assert_eq!(
            render("{{ if gt $value 80 }}x{{ end }}", 0.0).unwrap_err(),
            r#"error executing template __alert_Test: template: __alert_Test:1:118: executing "__alert_Test" at <gt $value 80>: error calling gt: incompatible types for comparison"#
        );
        // Exact texts Prometheus 2.42 produced for these templates (value 42), position and
        // node included.
        let pre = "error executing template __alert_Test: template: __alert_Test:1:";
        for (t, want) in [
            ("{{ $labels.job.x }}", r#"122: executing "__alert_Test" at <$labels.job.x>: can't evaluate field x in type string"#),
            ("{{ toUpper $value }}", r#"123: executing "__alert_Test" at <$value>: wrong type for value; expected string; got float64"#),
            ("{{ printf }}", r#"115: executing "__alert_Test" at <printf>: wrong number of args for printf: want at least 1 got 0"#),
            ("{{ lt 1 }}", r#"115: executing "__alert_Test" at <lt>: wrong number of args for lt: want 2 got 1"#),
            ("{{ range $value }}{{ end }}", r#"121: executing "__alert_Test" at <$value>: range can't iterate over 42"#),
            ("{{ $value 1 }}", r#"115: executing "__alert_Test" at <$value>: can't give argument to non-function $value"#),
            ("{{ len 3 }}", r#"115: executing "__alert_Test" at <len 3>: error calling len: len of type int"#),
            (
                "{{ eq $labels $labels }}",
                r#"115: executing "__alert_Test" at <eq $labels $labels>: error calling eq: non-comparable type map[instance:db-1:9100 job:node severity:critical]: map[string]string"#,
            ),
            (
                "{{ .Nope }}",
                r#"115: executing "__alert_Test" at <.Nope>: can't evaluate field Nope in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }"#,
            ),
            (
                r#"{{ humanize "abc" }}"#,
                r#"115: executing "__alert_Test" at <humanize "abc">: error calling humanize: strconv.ParseFloat: parsing "abc": invalid syntax"#,
            ),
        ] {
            assert_eq!(render(t, 42.0).unwrap_err(), format!("{pre}{want}"), "{t}");
        }
        assert_eq!(
            ok("{{ .Value }} {{ . }}", 42.0),
            "42 {map[instance:db-1:9100 job:node severity:critical] map[cluster:eu1] http://lookout:9400/prefix 42}"
        );
        for (t, want) in [
            ("{{ $labels.job.x }}", "can't evaluate field x in type string"),
            ("{{ .Nope }}", "can't evaluate field Nope in type struct"),
            ("{{ toUpper $value }}", "wrong type for value; expected string; got float64"),
            ("{{ len 3 }}", "error calling len: len of type int"),
            ("{{ lt true false }}", "invalid type for comparison"),
            ("{{ printf }}", "wrong number of args for printf: want at least 1 got 0"),
            ("{{ lt 1 }}", "wrong number of args for lt: want 2 got 1"),
            ("{{ humanize \"abc\" }}", r#"strconv.ParseFloat: parsing "abc": invalid syntax"#),
            ("{{ range $value }}{{ end }}", "range can't iterate over 0"),
            ("{{ $value 1 }}", "can't give argument to non-function $value"),
            ("{{ eq $labels $labels }}", "non-comparable"),
            ("{{ if nil }}{{ end }}", "nil is not a command"),
            (r#"{{ reReplaceAll "(" "" "x" }}"#, "error calling reReplaceAll"),
        ] {
            let err = render(t, 0.0).unwrap_err();
            assert!(err.starts_with("error executing template __alert_Test: template: __alert_Test:1:"), "{t}: {err}");
            assert!(err.contains(want), "{t}: {err}");
        }
    }

    /// Outputs Prometheus 2.42 produced for these templates (value 42; `up` answered by the
    /// same two series, sorted as Prometheus returns them).
    #[test]
    fn outputs_match_prometheus() {
        let q = Table(vec![
            (
                "up",
                vec![
                    (ls(&[("__name__", "up"), ("instance", "a:9100"), ("job", "node")]), 1.0),
                    (ls(&[("__name__", "up"), ("instance", "b:9100"), ("job", "node")]), 0.0),
                ],
            ),
            ("max(up)", vec![(LabelSet::new(), 1.0)]),
            ("count(up)", vec![(LabelSet::new(), 2.0)]),
            ("sum(up)", vec![(LabelSet::new(), 1.0)]),
            ("up > 1000", vec![]),
        ]);
        let cases: &[(&str, &str)] = &[
            (r#"{{ printf "%6.2f|%-3s|%d|%v|%q" $value "a" 7 $labels.job "q" }}"#, r#" 42.00|a  |7|node|"q""#),
            (r#"{{ print 1 2 "x" 3.5 }}|{{ println "z" 1 }}|{{ html "<&>" }} {{ urlquery "a b" }}"#, "1 2x3.5|z 1\n|&lt;&amp;&gt; a+b"),
            (
                "{{/* a comment */}}  {{- \"trimmed\" -}}  \n  {{ args 1 \"b\" }} {{ \"<i>\" | safeHtml }} {{ graphLink \"up\" }} {{ tableLink \"up\" }} {{ parseDuration \"90s\" }} {{ \"a.b:80\" | stripDomain }} {{ 'x' }} {{ 1e3 }} {{ print nil }}",
                "trimmedmap[arg0:1 arg1:b] <i> /graph?g0.expr=up&g0.tab=0 /graph?g0.expr=up&g0.tab=1 90 a:80 120 1000 <nil>",
            ),
            (
                r#"{{ $n := 0 }}{{ range $labels }}{{ $n = len . }}{{ end }}{{ $n }} {{ $x := "outer" }}{{ if true }}{{ $x := "inner" }}{{ $x }}{{ end }} {{ $x }} {{ $.Labels.job }}"#,
                "8 inner outer node",
            ),
            (
                r#"{{ range $i, $e := query "up" | sortByLabel "instance" }}{{ if eq $i 0 }}{{ continue }}{{ end }}{{ $i }}:{{ $e.Labels.instance }} {{ end }}"#,
                "1:b:9100 ",
            ),
            (
                r#"{{ with query "max(up)" }}{{ . | first | value | humanize }}{{ end }} {{ (query "count(up)" | first).Value }} {{ query "sum(up)" | first | strvalue }}|"#,
                "1 2 |",
            ),
            (
                r#"{{ index (query "up > 1000") 0 }}"#,
                r#"<error executing template __alert_Test: template: __alert_Test:1:115: executing "__alert_Test" at <index (query "up > 1000") 0>: error calling index: reflect: slice index out of range>"#,
            ),
            (
                "{{ $value | toUpper }}",
                r#"<error executing template __alert_Test: template: __alert_Test:1:124: executing "__alert_Test" at <toUpper>: wrong type for value; expected string; got float64>"#,
            ),
            (
                "{{ if and 1 0 }}a{{ else }}b{{ end }} {{ or }}",
                r#"<error executing template __alert_Test: template: __alert_Test:1:153: executing "__alert_Test" at <or>: wrong number of args for or: want at least 1 got 0>"#,
            ),
            (r#"{{ printf "%s %d %5.1f %x %t %v" 1 "s" 2 255 true nil }}"#, "%!s(int=1) %!d(string=s) %!f(int=    2) ff true <nil>"),
            (
                r#"{{ printf "%v %v" $labels (query "up" | first) }}"#,
                "map[instance:db-1:9100 job:node severity:critical] &{map[__name__:up instance:a:9100 job:node] 1}",
            ),
            (r#"{{ $labels.nosuch }}|{{ index $labels "nosuch" }}|{{ (args).x }}|"#, "||<no value>|"),
            (
                "{{ eq 1 1.0 }}",
                r#"<error executing template __alert_Test: template: __alert_Test:1:115: executing "__alert_Test" at <eq 1 1.0>: error calling eq: incompatible types for comparison>"#,
            ),
            (
                "{{ len $value }}",
                r#"<error executing template __alert_Test: template: __alert_Test:1:115: executing "__alert_Test" at <len $value>: error calling len: len of type float64>"#,
            ),
            (
                "{{ index $labels 1 }}",
                r#"<error executing template __alert_Test: template: __alert_Test:1:115: executing "__alert_Test" at <index $labels 1>: error calling index: value has type int; should be string>"#,
            ),
            (r#"{{ index "abc" 1 }}"#, "98"),
            (r#"{{ humanize1024 1536 }} {{ humanizeDuration 0.5 }} {{ humanizePercentage "0.5" }}"#, "1.5ki 500ms 50%"),
            (r#"{{ title "foo bar" }} {{ match "^a" "abc" }} {{ reReplaceAll "a(b)" "${1}x" "abab" }}"#, "Foo Bar true bxbx"),
            (r#"{{ label "job" (query "up" | first) }}{{ value (query "up" | first) }}"#, "node1"),
            (r#"{{ range query "up" }}{{ .Labels.instance }}{{ break }}{{ end }}"#, "a:9100"),
            ("{{ with $x := 5 }}{{ $x }}{{ . }}{{ end }}", "55"),
            ("{{ 1 }}{{ -1.5 }}{{ 0x1F }}{{ 1_000 }}{{ 010 }}", "1-1.53110008"),
            (
                "{{ .Nope }}",
                r#"<error executing template __alert_Test: template: __alert_Test:1:115: executing "__alert_Test" at <.Nope>: can't evaluate field Nope in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }>"#,
            ),
        ];
        for (t, want) in cases {
            let got = render_q(t, 42.0, Some(&q)).unwrap_or_else(|e| format!("<{e}>"));
            assert_eq!(&got, want, "{t}");
        }
    }

    /// BENCHMARKS.md "Rule evaluation": what a template expansion costs (parse with DEFS and
    /// render, as every alert of every evaluation does). Run:
    /// `cargo test -p alerting --release --lib -- --ignored --nocapture bench_template_expansion`.
    #[test]
    #[ignore]
    fn bench_template_expansion() {
        let labels = ls(&[("__name__", "bench_ratio"), ("instance", "host-17:9100"), ("job", "bench"), ("zone", "z3")]);
        let ext = LabelSet::new();
        let q = table();
        for t in [
            "ratio {{ $value }} on {{ $labels.instance }}",
            "{{ if gt $value 0.9 }}critical{{ else }}warning{{ end }}: {{ range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end }}{{ with query \"up\" }}{{ len . }}{{ end }}",
        ] {
            let n = 20_000;
            let start = std::time::Instant::now();
            for i in 0..n {
                let d = Data {
                    labels: &labels,
                    value: f64::from(i) / 1000.0,
                    external_labels: &ext,
                    external_url: "",
                    query: Some(&q),
                    ts_ms: 0,
                    name: "Bench",
                };
                std::hint::black_box(expand(t, &d).unwrap());
            }
            println!("{:?} per expansion of {t:?}", start.elapsed() / n);
        }
    }

    #[test]
    fn syntax_errors_are_found_at_parse_time() {
        for (t, want) in [
            ("{{ if $value }}x", "line 1: unexpected EOF"),
            ("{{ range $labels }}x{{ else }}", "unexpected EOF"),
            ("x\n{{ end }}", "line 2: unexpected {{end}}"),
            ("{{ else }}", "unexpected {{else}}"),
            ("{{ query \"up\" | tmpl }}", "\"tmpl\" is not supported"),
            ("{{ $labels.job", "unclosed action"),
            ("{{ nosuch $value }}", "function \"nosuch\" not defined"),
            ("{{ $foo }}", "undefined variable \"$foo\""),
            ("{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}", "undefined variable \"$x\""),
            ("{{ \"abc }}", "unterminated quoted string"),
            ("{{ }}", "missing value for command"),
            ("{{ if }}{{ end }}", "missing value for if"),
            ("{{ break }}", "{{break}} outside {{range}}"),
            ("{{ define \"x\" }}{{ end }}", "{{define}} is not supported"),
            ("{{ $a, $b := $labels }}", "too many declarations in command"),
            ("{{ $value | 3 }}", "non executable command in pipeline stage 2"),
            ("{{/* open", "unclosed comment"),
            ("{{ (len $labels }}", "unclosed left paren"),
            ("{{ if true }}{{ else }}{{ else }}{{ end }}", "expected end; found {{else}}"),
        ] {
            let err = Template::parse(t).unwrap_err();
            assert!(err.contains(want), "{t}: {err}");
        }
        // Every construct together parses.
        Template::parse(
            "{{/* c */}}{{ $n := len $labels }}{{ range $k, $v := $labels }}{{ if and (ne $k \"job\") (gt $n 1) }}{{ $k }}{{ else if eq $k \"x\" }}{{ else }}{{ continue }}{{ end }}{{ end }}{{ with query \"up\" }}{{ . | first | value }}{{ end }}",
        )
        .unwrap();
        // Through `expand`, a parse error is Prometheus's text.
        assert_eq!(render("{{ if 1 }}", 0.0).unwrap_err(), "error parsing template __alert_Test: template: __alert_Test:1: unexpected EOF");
    }
}
