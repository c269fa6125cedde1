//! Templates in rule labels and annotations: the part of Go's `text/template` that Prometheus
//! rule files use, with Prometheus's data and functions.
//!
//! No maintained Rust crate parses Go templates with Prometheus's function set (`gtmpl` is
//! unmaintained and lacks `humanize*`), so this is a small interpreter of the common subset:
//! text, `{{ pipeline }}` actions with `{{-`/`-}}` trimming and comments, operands `$labels.x`,
//! `$externalLabels.x`, `$value`, `$externalURL`, `.Labels.x`, `.Value`, string and number
//! literals, parenthesised pipelines, `|` pipes, and the functions `humanize`, `humanize1024`,
//! `humanizePercentage`, `humanizeDuration`, `humanizeTimestamp`, `printf`, `print`, `toUpper`,
//! `toLower`, `title`, `reReplaceAll`, `match`, `stripPort`. Control structures (`if`, `range`,
//! `with`, variables) and the query functions are refused at load time with a clear error,
//! never silently printed. Numbers print as Go prints a `float64` (`%v`), so output matches
//! Prometheus byte for byte for these functions.

use std::collections::BTreeMap;

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
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
}

type Pipeline = Vec<Command>;

#[derive(Debug, Clone)]
struct Command {
    /// Function name, when the command calls one.
    func: Option<String>,
    args: Vec<Operand>,
}

#[derive(Debug, Clone)]
enum Operand {
    /// `$labels.x`/`.Labels.x`-style access: root name and field path.
    Var(Root, Vec<String>),
    Str(String),
    Num(f64),
    Int(i64),
    Bool(bool),
    Sub(Pipeline),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Root {
    Labels,
    Value,
    ExternalLabels,
    ExternalUrl,
    Dot,
}

#[derive(Debug, Clone)]
enum V {
    Str(String),
    Num(f64),
    Int(i64),
    Bool(bool),
    Map(BTreeMap<String, String>),
    Data,
}

const FUNCS: &[&str] = &[
    "humanize",
    "humanize1024",
    "humanizePercentage",
    "humanizeDuration",
    "humanizeTimestamp",
    "printf",
    "print",
    "toUpper",
    "toLower",
    "title",
    "reReplaceAll",
    "match",
    "stripPort",
];
const PROMETHEUS_ONLY: &[&str] = &[
    "query",
    "first",
    "label",
    "value",
    "sortByLabel",
    "strvalue",
    "args",
    "tmpl",
    "safeHtml",
    "graphLink",
    "tableLink",
    "pathPrefix",
    "parseDuration",
    "toTime",
    "urlquery",
    "len",
    "index",
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "call",
    "slice",
    "println",
    "stripDomain",
    "toDuration",
    "now",
];
const KEYWORDS: &[&str] = &["if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"];

impl Template {
    /// Parses `text`; the error says what is unsupported or malformed.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut nodes = Vec::new();
        let mut rest = text;
        let mut trim_next = false;
        while !rest.is_empty() {
            let Some(open) = rest.find("{{") else {
                push_text(&mut nodes, rest, trim_next, false);
                break;
            };
            let after = &rest[open + 2..];
            let trim_left = after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
            push_text(&mut nodes, &rest[..open], trim_next, trim_left);
            let body_start = if trim_left { &after[1..] } else { after };
            let close = find_close(body_start).ok_or_else(|| "unclosed action: missing }}".to_string())?;
            let mut body = &body_start[..close];
            trim_next = false;
            if body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-") {
                body = &body[..body.len() - 1];
                trim_next = true;
            }
            rest = &body_start[close + 2..];
            let b = body.trim();
            if b.starts_with("/*") {
                if !b.ends_with("*/") {
                    return Err("unclosed comment".into());
                }
                continue;
            }
            let toks = lex(b)?;
            if toks.is_empty() {
                return Err("missing value for command".into());
            }
            if let Tok::Ident(k) = &toks[0]
                && KEYWORDS.contains(&k.as_str())
            {
                return Err(format!("{{{{{k}}}}} is not supported in Lookout templates (only pipelines without control structures)"));
            }
            if toks.iter().any(|t| matches!(t, Tok::Declare)) {
                return Err("variable declarations (:=) are not supported in Lookout templates".into());
            }
            let mut p = Parser { toks, pos: 0 };
            let pipe = p.pipeline()?;
            if p.pos != p.toks.len() {
                return Err(format!("unexpected {:?} in action", p.toks[p.pos]));
            }
            nodes.push(Node::Action(pipe));
        }
        Ok(Template { nodes })
    }

    /// Renders with `data`. Errors come from functions (e.g. a bad regular expression).
    pub fn render(&self, data: &Data<'_>) -> Result<String, String> {
        let mut out = String::new();
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => out.push_str(&print_value(&eval_pipeline(p, data)?)),
            }
        }
        Ok(out)
    }
}

/// Parses and renders in one step (as Prometheus expands label and annotation templates).
pub fn expand(text: &str, data: &Data<'_>) -> Result<String, String> {
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    Template::parse(text)?.render(data)
}

fn push_text(nodes: &mut Vec<Node>, mut t: &str, trim_start: bool, trim_end: bool) {
    if trim_start {
        t = t.trim_start();
    }
    if trim_end {
        t = t.trim_end();
    }
    if !t.is_empty() {
        nodes.push(Node::Text(t.to_string()));
    }
}

/// Position of the closing `}}`, skipping string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `$name.f.g` or `.F.g` (root `""` for `.`)
    Var(String, Vec<String>),
    Str(String),
    Num(f64),
    Int(i64),
    Pipe,
    LParen,
    RParen,
    Declare,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '|' {
            out.push(Tok::Pipe);
            i += 1;
        } else if ch == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if ch == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if ch == ':' && c.get(i + 1) == Some(&'=') {
            out.push(Tok::Declare);
            i += 2;
        } else if ch == '=' {
            out.push(Tok::Declare);
            i += 1;
        } else if ch == '"' {
            let mut v = String::new();
            i += 1;
            loop {
                let Some(&x) = c.get(i) else { return Err("unterminated quoted string".into()) };
                i += 1;
                match x {
                    '"' => break,
                    '\\' => {
                        let e = *c.get(i).ok_or("unterminated quoted string")?;
                        i += 1;
                        v.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            '\\' => '\\',
                            '"' => '"',
                            '\'' => '\'',
                            other => return Err(format!("unsupported escape \\{other} in string")),
                        });
                    }
                    x => v.push(x),
                }
            }
            out.push(Tok::Str(v));
        } else if ch == '`' {
            let end = c[i + 1..].iter().position(|&x| x == '`').ok_or("unterminated raw string")?;
            out.push(Tok::Str(c[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if ch == '$' || ch == '.' {
            let mut root = String::new();
            if ch == '$' {
                root.push('$');
                i += 1;
                while i < c.len() && ident(c[i]) {
                    root.push(c[i]);
                    i += 1;
                }
            }
            let mut path = Vec::new();
            while i < c.len() && c[i] == '.' {
                i += 1;
                let mut f = String::new();
                while i < c.len() && ident(c[i]) {
                    f.push(c[i]);
                    i += 1;
                }
                if f.is_empty() && !(root.is_empty() && path.is_empty()) {
                    return Err("empty field name after '.'".into());
                }
                if !f.is_empty() {
                    path.push(f);
                }
            }
            out.push(Tok::Var(root, path));
        } else if ch.is_ascii_digit() || ((ch == '-' || ch == '+') && c.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let start = i;
            i += 1;
            while i < c.len()
                && (c[i].is_ascii_alphanumeric() || c[i] == '.' || ((c[i] == '-' || c[i] == '+') && matches!(c[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            let t: String = c[start..i].iter().collect();
            if let Ok(n) = t.parse::<i64>() {
                out.push(Tok::Int(n));
            } else if let Ok(f) = t.parse::<f64>() {
                out.push(Tok::Num(f));
            } else {
                return Err(format!("bad number syntax: {t:?}"));
            }
        } else if ident(ch) {
            let start = i;
            while i < c.len() && ident(c[i]) {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else {
            return Err(format!("unexpected {ch:?} in action"));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn pipeline(&mut self) -> Result<Pipeline, String> {
        let mut cmds = vec![self.command()?];
        while self.toks.get(self.pos) == Some(&Tok::Pipe) {
            self.pos += 1;
            let c = self.command()?;
            if c.func.is_none() {
                return Err("a pipe must feed a function".into());
            }
            cmds.push(c);
        }
        Ok(cmds)
    }

    fn command(&mut self) -> Result<Command, String> {
        let mut func = None;
        if let Some(Tok::Ident(name)) = self.toks.get(self.pos) {
            let name = name.clone();
            if name == "true" || name == "false" || name == "nil" {
                // an operand
            } else if FUNCS.contains(&name.as_str()) {
                func = Some(name);
                self.pos += 1;
            } else if PROMETHEUS_ONLY.contains(&name.as_str()) {
                return Err(format!("template function {name:?} is not supported by Lookout"));
            } else {
                return Err(format!("function {name:?} not defined"));
            }
        }
        let mut args = Vec::new();
        while let Some(t) = self.toks.get(self.pos) {
            if matches!(t, Tok::Pipe | Tok::RParen) {
                break;
            }
            args.push(self.operand()?);
        }
        if func.is_none() && args.len() != 1 {
            return Err(if args.is_empty() { "missing value for command".into() } else { "can't give argument to non-function".into() });
        }
        Ok(Command { func, args })
    }

    fn operand(&mut self) -> Result<Operand, String> {
        let t = self.toks[self.pos].clone();
        self.pos += 1;
        Ok(match t {
            Tok::Str(s) => Operand::Str(s),
            Tok::Num(n) => Operand::Num(n),
            Tok::Int(n) => Operand::Int(n),
            Tok::Ident(b) if b == "true" || b == "false" => Operand::Bool(b == "true"),
            Tok::Ident(f) => return Err(format!("function {f:?} can only be called first in a command")),
            Tok::LParen => {
                let p = self.pipeline()?;
                if self.toks.get(self.pos) != Some(&Tok::RParen) {
                    return Err("unclosed left paren".into());
                }
                self.pos += 1;
                Operand::Sub(p)
            }
            Tok::Var(root, mut path) => {
                let r = match root.as_str() {
                    "$labels" => Root::Labels,
                    "$value" => Root::Value,
                    "$externalLabels" => Root::ExternalLabels,
                    "$externalURL" => Root::ExternalUrl,
                    "$" | "" => {
                        if path.is_empty() {
                            Root::Dot
                        } else {
                            let first = path.remove(0);
                            match first.as_str() {
                                "Labels" => Root::Labels,
                                "Value" => Root::Value,
                                "ExternalLabels" => Root::ExternalLabels,
                                "ExternalURL" => Root::ExternalUrl,
                                other => return Err(format!("can't evaluate field {other}")),
                            }
                        }
                    }
                    other => return Err(format!("undefined variable {other:?}")),
                };
                if matches!(r, Root::Value | Root::ExternalUrl) && !path.is_empty() {
                    return Err(format!("can't evaluate field {} of a {}", path[0], if r == Root::Value { "number" } else { "string" }));
                }
                if path.len() > 1 {
                    return Err(format!("can't evaluate field {} of a string", path[1]));
                }
                Operand::Var(r, path)
            }
            other => return Err(format!("unexpected {other:?} in operand")),
        })
    }
}

fn eval_pipeline(p: &Pipeline, d: &Data<'_>) -> Result<V, String> {
    let mut piped: Option<V> = None;
    for c in p {
        let mut args = Vec::with_capacity(c.args.len() + 1);
        for a in &c.args {
            args.push(eval_operand(a, d)?);
        }
        if let Some(v) = piped.take() {
            args.push(v);
        }
        piped = Some(match &c.func {
            None => args.pop().unwrap_or(V::Str(String::new())),
            Some(f) => call(f, args)?,
        });
    }
    Ok(piped.unwrap_or(V::Str(String::new())))
}

fn eval_operand(o: &Operand, d: &Data<'_>) -> Result<V, String> {
    Ok(match o {
        Operand::Str(s) => V::Str(s.clone()),
        Operand::Num(n) => V::Num(*n),
        Operand::Int(n) => V::Int(*n),
        Operand::Bool(b) => V::Bool(*b),
        Operand::Sub(p) => eval_pipeline(p, d)?,
        Operand::Var(root, path) => {
            let map = |m: &BTreeMap<String, String>| match path.first() {
                // missingkey=zero: an absent label prints as an empty string.
                Some(k) => V::Str(m.get(k).cloned().unwrap_or_default()),
                None => V::Map(m.clone()),
            };
            match root {
                Root::Labels => map(d.labels),
                Root::ExternalLabels => map(d.external_labels),
                Root::Value => V::Num(d.value),
                Root::ExternalUrl => V::Str(d.external_url.to_string()),
                Root::Dot => V::Data,
            }
        }
    })
}

fn to_float(v: &V) -> Result<f64, String> {
    match v {
        V::Num(n) => Ok(*n),
        V::Int(n) => Ok(*n as f64),
        V::Str(s) => s.trim().parse::<f64>().map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        V::Bool(_) | V::Map(_) | V::Data => Err("can't convert value to a number".into()),
    }
}

fn to_str(v: &V) -> String {
    print_value(v)
}

fn arity(f: &str, args: &[V], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!("wrong number of args for {f}: want {n} got {}", args.len()));
    }
    Ok(())
}

fn call(f: &str, args: Vec<V>) -> Result<V, String> {
    Ok(V::Str(match f {
        "humanize" => {
            arity(f, &args, 1)?;
            humanize(to_float(&args[0])?)
        }
        "humanize1024" => {
            arity(f, &args, 1)?;
            humanize1024(to_float(&args[0])?)
        }
        "humanizePercentage" => {
            arity(f, &args, 1)?;
            format!("{}%", go_format(to_float(&args[0])? * 100.0, 'g', Some(4)))
        }
        "humanizeDuration" => {
            arity(f, &args, 1)?;
            humanize_duration(to_float(&args[0])?)
        }
        "humanizeTimestamp" => {
            arity(f, &args, 1)?;
            let v = to_float(&args[0])?;
            if !v.is_finite() {
                go_format(v, 'g', Some(4))
            } else {
                let ns = (v * 1e9) as i128;
                let t = time::OffsetDateTime::from_unix_timestamp_nanos(ns).map_err(|e| e.to_string())?;
                // Go's time.Time String(): "2006-01-02 15:04:05.999999999 -0700 MST"
                let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
                let mut s = t.format(&fmt).map_err(|e| e.to_string())?;
                let frac = t.nanosecond();
                if frac != 0 {
                    let f = format!("{frac:09}");
                    s.push('.');
                    s.push_str(f.trim_end_matches('0'));
                }
                s.push_str(" +0000 UTC");
                s
            }
        }
        "toUpper" => {
            arity(f, &args, 1)?;
            to_str(&args[0]).to_uppercase()
        }
        "toLower" => {
            arity(f, &args, 1)?;
            to_str(&args[0]).to_lowercase()
        }
        "title" => {
            arity(f, &args, 1)?;
            let s = to_str(&args[0]);
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
        "stripPort" => {
            arity(f, &args, 1)?;
            let s = to_str(&args[0]);
            if let Some(rest) = s.strip_prefix('[')
                && let Some(end) = rest.find(']')
            {
                rest[..end].to_string()
            } else if s.matches(':').count() == 1 {
                s.split(':').next().unwrap_or_default().to_string()
            } else {
                s
            }
        }
        "reReplaceAll" => {
            arity(f, &args, 3)?;
            let re = regex::Regex::new(&to_str(&args[0])).map_err(|e| format!("reReplaceAll: {e}"))?;
            let repl = go_expand_to_rust(&to_str(&args[1]));
            re.replace_all(&to_str(&args[2]), repl.as_str()).into_owned()
        }
        "match" => {
            arity(f, &args, 2)?;
            let re = regex::Regex::new(&to_str(&args[0])).map_err(|e| format!("match: {e}"))?;
            return Ok(V::Bool(re.is_match(&to_str(&args[1]))));
        }
        "print" => {
            // Go's fmt.Sprint: spaces between operands when neither is a string.
            let mut out = String::new();
            for (i, a) in args.iter().enumerate() {
                if i > 0 && !matches!(a, V::Str(_)) && !matches!(args[i - 1], V::Str(_)) {
                    out.push(' ');
                }
                out.push_str(&to_str(a));
            }
            out
        }
        "printf" => {
            let Some((fmt, rest)) = args.split_first() else {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            };
            sprintf(&to_str(fmt), rest)
        }
        other => return Err(format!("function {other:?} not defined")),
    }))
}

/// Go's `${1}`/`$1` replacement syntax is the regex crate's too; `$name` differs only in that Go
/// takes the longest name, which the crate also does.
fn go_expand_to_rust(s: &str) -> String {
    s.to_string()
}

fn print_value(v: &V) -> String {
    match v {
        V::Str(s) => s.clone(),
        V::Num(n) => go_format(*n, 'g', None),
        V::Int(n) => n.to_string(),
        V::Bool(b) => b.to_string(),
        V::Map(m) => {
            let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("map[{}]", inner.join(" "))
        }
        V::Data => "{...}".into(),
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %q %d %f %e %g %x %%`, with flags
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
                V::Num(n) => go_format(*n, 'g', prec),
                other => to_str(other),
            },
            ('s', V::Str(s)) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            ('q', V::Str(s)) => format!("{s:?}"),
            ('d', V::Int(n)) => n.to_string(),
            ('x', V::Int(n)) => format!("{n:x}"),
            ('x', V::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('f' | 'F' | 'e' | 'g', V::Num(_) | V::Int(_)) => {
                let n = to_float(arg).unwrap_or(f64::NAN);
                let p = match verb {
                    'g' => prec,
                    _ => Some(prec.unwrap_or(6)),
                };
                go_format(n, if verb == 'F' { 'f' } else { verb }, p)
            }
            (verb, a) => {
                let (ty, val) = match a {
                    V::Num(n) => ("float64", go_format(*n, 'g', None)),
                    V::Int(n) => ("int", n.to_string()),
                    V::Str(s) => ("string", s.clone()),
                    V::Bool(b) => ("bool", b.to_string()),
                    V::Map(_) => ("map[string]string", to_str(a)),
                    V::Data => ("*template.Data", to_str(a)),
                };
                format!("%!{verb}({ty}={val})")
            }
        };
        let numeric = matches!(arg, V::Num(_) | V::Int(_)) && "dfFegvx".contains(verb);
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
        let extra: Vec<String> = args[argi..].iter().map(to_str).collect();
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

    fn render(t: &str, value: f64) -> Result<String, String> {
        let labels: BTreeMap<String, String> =
            [("instance", "db-1:9100"), ("job", "node")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let ext: BTreeMap<String, String> = [("cluster".to_string(), "eu1".to_string())].into();
        expand(t, &Data { labels: &labels, value, external_labels: &ext, external_url: "http://lookout:9400" })
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
        assert_eq!(render("{{ $value | humanizePercentage }}", 0.1234).unwrap(), "12.34%");
    }

    #[test]
    fn variables_pipes_and_printf() {
        assert_eq!(render("{{ $labels.instance }} of {{ $labels.job }} is {{ $value }}", 42.0).unwrap(), "db-1:9100 of node is 42");
        assert_eq!(render("{{ .Labels.job }}={{ .Value }}", 0.5).unwrap(), "node=0.5");
        assert_eq!(render("{{$labels.missing}}|", 1.0).unwrap(), "|");
        assert_eq!(render("{{ $externalLabels.cluster }} {{ $externalURL }}", 1.0).unwrap(), "eu1 http://lookout:9400");
        assert_eq!(render(r#"{{ printf "%.2f" $value }}"#, 2.0 / 3.0).unwrap(), "0.67");
        assert_eq!(render(r#"{{ printf "%s has %d%%" $labels.job 5 }}"#, 0.0).unwrap(), "node has 5%");
        assert_eq!(render(r#"{{ printf "%5.1f|%-4s|" $value "ab" }}"#, 1.23456).unwrap(), "  1.2|ab  |");
        assert_eq!(render("{{ $labels.instance | stripPort | toUpper }}", 0.0).unwrap(), "DB-1");
        assert_eq!(render("{{ humanize (printf \"%f\" $value) }}", 2048.0).unwrap(), "2.048k");
        assert_eq!(render("a  {{- $labels.job -}}  b", 0.0).unwrap(), "anodeb");
        assert_eq!(render("{{/* note */}}x", 0.0).unwrap(), "x");
        assert_eq!(render(r#"{{ reReplaceAll "(.*):.*" "$1" $labels.instance }}"#, 0.0).unwrap(), "db-1");
        assert_eq!(render("{{ $value | humanize }}B/s", 1.5e9).unwrap(), "1.5GB/s");
        assert_eq!(render("{{ $value | humanizeTimestamp }}", 1_700_000_000.0).unwrap(), "2023-11-14 22:13:20 +0000 UTC");
    }

    #[test]
    fn unsupported_and_malformed_are_clear_errors() {
        for (t, want) in [
            ("{{ if $value }}x{{ end }}", "{{if}} is not supported"),
            ("{{ query \"up\" }}", "\"query\" is not supported by Lookout"),
            ("{{ $labels.job", "unclosed action"),
            ("{{ nosuch $value }}", "function \"nosuch\" not defined"),
            ("{{ $foo }}", "undefined variable \"$foo\""),
            ("{{ $x := 1 }}", "variable declarations"),
            ("{{ \"abc }}", "unclosed action"),
            ("{{ }}", "missing value"),
        ] {
            let err = Template::parse(t).unwrap_err();
            assert!(err.contains(want), "{t}: {err}");
        }
        assert!(render(r#"{{ reReplaceAll "(" "" "x" }}"#, 0.0).unwrap_err().contains("reReplaceAll"));
    }
}
