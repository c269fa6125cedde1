//! The log query language: parsing with positioned errors, and compiling to tantivy queries.
//!
//! ```text
//! query   = or
//! or      = and { "OR" and }
//! and     = unary { ["AND"] unary }              adjacent clauses mean AND
//! unary   = ("NOT" | "-") unary | primary
//! primary = "(" or ")" | NAME ":" value | PHRASE | WORD
//! value   = PHRASE | WORD | range | (">"|">="|"<"|"<=") WORD | "(" or-of-values ")"
//! range   = ("[" | "{") bound "TO" bound ("]" | "}")      bound = WORD | "*"
//! ```
//!
//! Names are top-level members (`level`, `service`, `host`, `source`, `message`) or paths into
//! the event's JSON fields (`http.status`, `user.id`). Bare words and phrases search the message
//! and every string field. A parse error carries the character offset where it was found, so the
//! API can answer 400 with the position and the UI can point at it.

use std::fmt;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    /// Matches everything (empty query or `*`).
    All,
    /// Word or phrase in the default fields (message and string fields).
    Text(String),
    /// `name:value`, value as written (a phrase's quotes removed).
    Field(String, String),
    /// `name:*`: the field exists.
    Exists(String),
    /// `name:[lo TO hi]` or a comparison; `None` is unbounded.
    Range {
        /// The field.
        field: String,
        /// Lower bound and whether it is inclusive.
        lower: Option<(String, bool)>,
        /// Upper bound and whether it is inclusive.
        upper: Option<(String, bool)>,
    },
    /// All must match.
    And(Vec<Ast>),
    /// Any may match.
    Or(Vec<Ast>),
    /// Must not match.
    Not(Box<Ast>),
}

/// A malformed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Character offset (0-based) where the problem is.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Phrase(String),
    LParen,
    RParen,
    LBracket(bool), // inclusive?
    RBracket(bool),
    Colon,
    Cmp(&'static str),
    Minus,
}

struct Lexer {
    toks: Vec<(Tok, usize)>,
}

fn is_special(c: char) -> bool {
    matches!(c, '(' | ')' | '[' | ']' | '{' | '}' | ':' | '"') || c.is_whitespace()
}

fn lex(input: &str) -> Result<Lexer, ParseError> {
    let chars: Vec<char> = input.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            c if c.is_whitespace() => {
                i += 1;
            }
            '(' => {
                toks.push((Tok::LParen, start));
                i += 1;
            }
            ')' => {
                toks.push((Tok::RParen, start));
                i += 1;
            }
            '[' | '{' => {
                toks.push((Tok::LBracket(c == '['), start));
                i += 1;
            }
            ']' | '}' => {
                toks.push((Tok::RBracket(c == ']'), start));
                i += 1;
            }
            ':' => {
                toks.push((Tok::Colon, start));
                i += 1;
                // comparison directly after a colon
                if i < chars.len() && (chars[i] == '>' || chars[i] == '<') {
                    let op = if chars.get(i + 1) == Some(&'=') {
                        if chars[i] == '>' { ">=" } else { "<=" }
                    } else if chars[i] == '>' {
                        ">"
                    } else {
                        "<"
                    };
                    toks.push((Tok::Cmp(op), i));
                    i += op.len();
                }
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(ParseError { position: start, message: "unterminated phrase: missing closing quote".into() }),
                        Some('\\') if i + 1 < chars.len() => {
                            s.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                toks.push((Tok::Phrase(s), start));
            }
            '-' if toks.last().is_none_or(|(t, _)| !matches!(t, Tok::Colon | Tok::Cmp(_)))
                && chars.get(i + 1).is_some_and(|n| !n.is_whitespace() && *n != '-' && !n.is_ascii_digit()) =>
            {
                toks.push((Tok::Minus, start));
                i += 1;
            }
            _ => {
                let mut s = String::new();
                while i < chars.len() && !is_special(chars[i]) {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        s.push(chars[i + 1]);
                        i += 2;
                    } else {
                        s.push(chars[i]);
                        i += 1;
                    }
                }
                toks.push((Tok::Word(s), start));
            }
        }
    }
    Ok(Lexer { toks })
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
}

/// Parses a query string. An empty (or all-blank) query is [`Ast::All`].
pub fn parse(input: &str) -> Result<Ast, ParseError> {
    let Lexer { toks } = lex(input)?;
    if toks.is_empty() {
        return Ok(Ast::All);
    }
    let mut p = Parser { toks, pos: 0, end: input.chars().count() };
    let ast = p.or()?;
    if let Some((t, at)) = p.toks.get(p.pos) {
        let message = match t {
            Tok::RParen => "unbalanced ')'".to_string(),
            other => format!("unexpected {}", describe(other)),
        };
        return Err(ParseError { position: *at, message });
    }
    Ok(ast)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("{w:?}"),
        Tok::Phrase(_) => "phrase".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBracket(_) => "'['".into(),
        Tok::RBracket(_) => "']'".into(),
        Tok::Colon => "':'".into(),
        Tok::Cmp(op) => format!("'{op}'"),
        Tok::Minus => "'-'".into(),
    }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map(|(_, p)| *p).unwrap_or(self.end)
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn or(&mut self) -> Result<Ast, ParseError> {
        let mut items = vec![self.and()?];
        while self.is_word("OR") {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.pop().expect("one item") } else { Ast::Or(items) })
    }

    fn and(&mut self) -> Result<Ast, ParseError> {
        let mut items = vec![self.unary()?];
        loop {
            if self.is_word("AND") {
                self.pos += 1;
                items.push(self.unary()?);
            } else if matches!(self.peek(), None | Some(Tok::RParen)) || self.is_word("OR") {
                break;
            } else {
                items.push(self.unary()?);
            }
        }
        Ok(if items.len() == 1 { items.pop().expect("one item") } else { Ast::And(items) })
    }

    fn unary(&mut self) -> Result<Ast, ParseError> {
        if self.is_word("NOT") || matches!(self.peek(), Some(Tok::Minus)) {
            self.pos += 1;
            return Ok(Ast::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Ast, ParseError> {
        let at = self.at();
        match self.toks.get(self.pos).cloned() {
            None => Err(ParseError { position: at, message: "expected a term, phrase or '(' but the query ended".into() }),
            Some((Tok::LParen, _)) => {
                self.pos += 1;
                let inner = self.or()?;
                match self.peek() {
                    Some(Tok::RParen) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(ParseError { position: self.at(), message: format!("missing ')' for the '(' opened at character {at}") }),
                }
            }
            Some((Tok::Phrase(p), _)) => {
                self.pos += 1;
                Ok(Ast::Text(p))
            }
            Some((Tok::Word(w), _)) => {
                self.pos += 1;
                if matches!(self.peek(), Some(Tok::Colon)) {
                    self.pos += 1;
                    if w.is_empty() {
                        return Err(ParseError { position: at, message: "missing field name before ':'".into() });
                    }
                    return self.value(&w, at);
                }
                if matches!(w.as_str(), "AND" | "OR") {
                    return Err(ParseError { position: at, message: format!("{w} needs a clause on both sides") });
                }
                if w == "*" {
                    return Ok(Ast::All);
                }
                Ok(Ast::Text(w))
            }
            Some((t, _)) => Err(ParseError { position: at, message: format!("unexpected {}", describe(&t)) }),
        }
    }

    fn value(&mut self, field: &str, field_at: usize) -> Result<Ast, ParseError> {
        let at = self.at();
        match self.toks.get(self.pos).cloned() {
            None => Err(ParseError { position: at, message: format!("missing value after '{field}:'") }),
            Some((Tok::Phrase(p), _)) => {
                self.pos += 1;
                Ok(Ast::Field(field.into(), p))
            }
            Some((Tok::Word(w), _)) if w == "*" => {
                self.pos += 1;
                Ok(Ast::Exists(field.into()))
            }
            Some((Tok::Word(w), _)) => {
                self.pos += 1;
                Ok(Ast::Field(field.into(), w))
            }
            Some((Tok::Cmp(op), _)) => {
                self.pos += 1;
                let v = match self.toks.get(self.pos).cloned() {
                    Some((Tok::Word(v), _)) | Some((Tok::Phrase(v), _)) => v,
                    _ => return Err(ParseError { position: self.at(), message: format!("missing value after '{field}:{op}'") }),
                };
                self.pos += 1;
                let (lower, upper) = match op {
                    ">" => (Some((v, false)), None),
                    ">=" => (Some((v, true)), None),
                    "<" => (None, Some((v, false))),
                    _ => (None, Some((v, true))),
                };
                Ok(Ast::Range { field: field.into(), lower, upper })
            }
            Some((Tok::LBracket(lo_incl), _)) => {
                self.pos += 1;
                let lo = self.bound("lower bound")?;
                if !self.is_word("TO") {
                    return Err(ParseError { position: self.at(), message: "expected TO in range".into() });
                }
                self.pos += 1;
                let hi = self.bound("upper bound")?;
                let hi_incl = match self.peek() {
                    Some(Tok::RBracket(incl)) => *incl,
                    _ => return Err(ParseError { position: self.at(), message: "range is missing its closing ']' or '}'".into() }),
                };
                self.pos += 1;
                Ok(Ast::Range { field: field.into(), lower: lo.map(|v| (v, lo_incl)), upper: hi.map(|v| (v, hi_incl)) })
            }
            Some((Tok::LParen, _)) => {
                // name:(a OR b c) applies the field to every value inside.
                self.pos += 1;
                let inner = self.or()?;
                if !matches!(self.peek(), Some(Tok::RParen)) {
                    return Err(ParseError { position: self.at(), message: format!("missing ')' for the '(' opened at character {at}") });
                }
                self.pos += 1;
                apply_field(inner, field).map_err(|m| ParseError { position: field_at, message: m })
            }
            Some((t, _)) => Err(ParseError { position: at, message: format!("unexpected {} after '{field}:'", describe(&t)) }),
        }
    }

    fn bound(&mut self, what: &str) -> Result<Option<String>, ParseError> {
        match self.toks.get(self.pos).cloned() {
            Some((Tok::Word(w), _)) if w == "*" => {
                self.pos += 1;
                Ok(None)
            }
            Some((Tok::Word(w), _)) if w != "TO" => {
                self.pos += 1;
                Ok(Some(w))
            }
            Some((Tok::Phrase(w), _)) => {
                self.pos += 1;
                Ok(Some(w))
            }
            _ => Err(ParseError { position: self.at(), message: format!("missing {what} in range") }),
        }
    }
}

fn apply_field(ast: Ast, field: &str) -> Result<Ast, String> {
    Ok(match ast {
        Ast::Text(t) => Ast::Field(field.into(), t),
        Ast::And(v) => Ast::And(v.into_iter().map(|a| apply_field(a, field)).collect::<Result<_, _>>()?),
        Ast::Or(v) => Ast::Or(v.into_iter().map(|a| apply_field(a, field)).collect::<Result<_, _>>()?),
        Ast::Not(a) => Ast::Not(Box::new(apply_field(*a, field)?)),
        Ast::All => Ast::Exists(field.into()),
        other => return Err(format!("nested field expressions are not allowed inside '{field}:(...)': {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(n: &str, v: &str) -> Ast {
        Ast::Field(n.into(), v.into())
    }
    fn t(v: &str) -> Ast {
        Ast::Text(v.into())
    }

    fn check(input: &str, expected: Ast) {
        assert_eq!(parse(input).unwrap(), expected, "{input}");
    }

    fn check_err(input: &str, position: usize, needle: &str) {
        let e = parse(input).unwrap_err();
        assert_eq!(e.position, position, "{input}: {e}");
        assert!(e.message.contains(needle), "{input}: {e}");
    }

    #[test]
    fn parses_every_form() {
        check("", Ast::All);
        check("  ", Ast::All);
        check("*", Ast::All);
        check("timeout", t("timeout"));
        check("\"connection reset\"", t("connection reset"));
        check("level:error", f("level", "error"));
        check("http.status:503", f("http.status", "503"));
        check("service:\"checkout api\"", f("service", "checkout api"));
        check("error timeout", Ast::And(vec![t("error"), t("timeout")]));
        check("a AND b OR c", Ast::Or(vec![Ast::And(vec![t("a"), t("b")]), t("c")]));
        check("a AND (b OR c)", Ast::And(vec![t("a"), Ast::Or(vec![t("b"), t("c")])]));
        check("NOT level:debug", Ast::Not(Box::new(f("level", "debug"))));
        check("-level:debug", Ast::Not(Box::new(f("level", "debug"))));
        check("latency_ms:>500", Ast::Range { field: "latency_ms".into(), lower: Some(("500".into(), false)), upper: None });
        check("latency_ms:<=10", Ast::Range { field: "latency_ms".into(), lower: None, upper: Some(("10".into(), true)) });
        check(
            "status:[500 TO 599]",
            Ast::Range { field: "status".into(), lower: Some(("500".into(), true)), upper: Some(("599".into(), true)) },
        );
        check("status:{500 TO *]", Ast::Range { field: "status".into(), lower: Some(("500".into(), false)), upper: None });
        check("user_id:*", Ast::Exists("user_id".into()));
        check("service:(checkout OR auth)", Ast::Or(vec![f("service", "checkout"), f("service", "auth")]));
        check("order_id:A-17", f("order_id", "A-17"));
        check("temp:-5", f("temp", "-5"));
    }

    #[test]
    fn errors_say_where() {
        check_err("status:[500 TO", 14, "missing upper bound");
        check_err("status:[500 TO 599", 18, "closing");
        check_err("(a OR b", 7, "missing ')'");
        check_err("a OR b)", 6, "unbalanced ')'");
        check_err("\"open phrase", 0, "unterminated phrase");
        check_err("level:", 6, "missing value");
        check_err("a AND", 5, "query ended");
        check_err("OR a", 0, "both sides");
        check_err("latency_ms:>", 12, "missing value");
    }
}
