//! How an event reaches tantivy without being copied, and how a bare word finds it in any JSON
//! field without a second copy of every string in the index.
//!
//! - [`EventDoc`] is a tantivy [`Document`] that borrows the event from its WAL record (shared
//!   with the WAL writer through an `Arc`): the JSON fields are handed to tantivy as they are,
//!   with no `OwnedValue` tree and no copy of the strings.
//! - [`AnyPathText`] matches a term or phrase in any string value under the JSON field. It
//!   expands, per segment, into one clause per JSON path with string values that segment has,
//!   found by skipping through the term dictionary from path to path (one seek per path, not a
//!   scan of its terms) and remembered per segment.
//!   Earlier schemas kept a `text` field with every string value again, which cost about a third
//!   of the indexing time and of the index size.

use std::sync::Arc;

use serde_json::{Map, Value};
use tantivy::query::{BooleanQuery, EnableScoring, Explanation, Occur, PhraseQuery, Query, Scorer, TermQuery, Weight};
use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf};
use tantivy::schema::{Document, Field, IndexRecordOption};
use tantivy::{DocId, Score, SegmentReader, TantivyError, Term};

use crate::wal::WalRecord;

/// The byte ending a JSON path in a term (tantivy's `JSON_END_OF_PATH`).
const JSON_END_OF_PATH: u8 = 0;

/// A value of an [`EventDoc`] field.
#[derive(Clone, Debug)]
pub enum DocValue<'a> {
    /// An unsigned integer field.
    U64(u64),
    /// A signed integer field.
    I64(i64),
    /// A text field.
    Str(&'a str),
    /// The JSON object of the event's other fields.
    Object(&'a Map<String, Value>),
    /// A value inside it.
    Json(&'a Value),
}

type ArrayIter<'a> = std::iter::Map<std::slice::Iter<'a, Value>, fn(&'a Value) -> DocValue<'a>>;
type ObjectIter<'a> = std::iter::Map<serde_json::map::Iter<'a>, fn((&'a String, &'a Value)) -> (&'a str, DocValue<'a>)>;

fn json(v: &Value) -> DocValue<'_> {
    DocValue::Json(v)
}

fn member<'a>((k, v): (&'a String, &'a Value)) -> (&'a str, DocValue<'a>) {
    (k.as_str(), DocValue::Json(v))
}

fn object(m: &Map<String, Value>) -> ReferenceValue<'_, DocValue<'_>> {
    ReferenceValue::Object(m.iter().map(member as fn(_) -> _))
}

impl<'a> tantivy::schema::Value<'a> for DocValue<'a> {
    type ArrayIter = ArrayIter<'a>;
    type ObjectIter = ObjectIter<'a>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        match *self {
            DocValue::U64(v) => ReferenceValue::Leaf(ReferenceValueLeaf::U64(v)),
            DocValue::I64(v) => ReferenceValue::Leaf(ReferenceValueLeaf::I64(v)),
            DocValue::Str(s) => ReferenceValue::Leaf(ReferenceValueLeaf::Str(s)),
            DocValue::Object(m) => object(m),
            DocValue::Json(v) => match v {
                Value::Array(a) => ReferenceValue::Array(a.iter().map(json as fn(_) -> _)),
                Value::Object(m) => object(m),
                // Leaves exactly as tantivy converts a serde_json value (numbers, and strings
                // that parse as RFC 3339 become dates), so the terms equal `OwnedValue`'s.
                leaf => match tantivy::schema::Value::as_value(&leaf) {
                    ReferenceValue::Leaf(l) => ReferenceValue::Leaf(l),
                    _ => ReferenceValue::Leaf(ReferenceValueLeaf::Null),
                },
            },
        }
    }
}

/// Field handles an [`EventDoc`] fills.
#[derive(Clone, Copy, Debug)]
pub struct DocFields {
    /// `id`: line id (u64, fast).
    pub id: Field,
    /// `timestamp`: event time, ns (i64, fast).
    pub timestamp: Field,
    /// `level`: keyword.
    pub level: Field,
    /// `service`: keyword.
    pub service: Field,
    /// `host`: keyword.
    pub host: Field,
    /// `source`: keyword.
    pub source: Field,
    /// `message`: full text.
    pub message: Field,
    /// `fields`: JSON object of the other fields.
    pub fields: Field,
    /// `_source`: the stored part (`_source`).
    pub source_doc: Field,
}

/// One event of a WAL record, as a tantivy document.
#[derive(Debug)]
pub struct EventDoc {
    /// The record holding the event.
    pub record: Arc<WalRecord>,
    /// Its position there.
    pub index: usize,
    /// The permanent line id.
    pub id: u64,
    /// What the document store keeps, when the record does not hold it already
    /// ([`WalRecord::stored`]).
    pub stored: Option<String>,
    /// Field handles.
    pub f: DocFields,
}

type FieldsIter<'a> = std::iter::Flatten<std::array::IntoIter<Option<(Field, DocValue<'a>)>, 9>>;

impl Document for EventDoc {
    type Value<'a> = DocValue<'a>;
    type FieldsValuesIter<'a> = FieldsIter<'a>;

    fn iter_fields_and_values(&self) -> FieldsIter<'_> {
        let e = &self.record.events[self.index];
        let f = &self.f;
        [
            Some((f.id, DocValue::U64(self.id))),
            Some((f.timestamp, DocValue::I64(e.timestamp))),
            Some((f.level, DocValue::Str(&e.level))),
            Some((f.service, DocValue::Str(&e.service))),
            Some((f.host, DocValue::Str(&e.host))),
            Some((f.source, DocValue::Str(&e.source))),
            Some((f.message, DocValue::Str(&e.message))),
            (!e.fields.is_empty()).then_some((f.fields, DocValue::Object(&e.fields))),
            Some((f.source_doc, DocValue::Str(self.stored.as_deref().or_else(|| self.record.stored(self.index)).unwrap_or_default()))),
        ]
        .into_iter()
        .flatten()
    }
}

/// A term (one token) or phrase (several) in any string value under a JSON field.
#[derive(Clone, Debug)]
pub struct AnyPathText {
    /// The JSON field.
    pub field: Field,
    /// Tokens, already analysed like the field's values.
    pub tokens: Vec<String>,
}

impl Query for AnyPathText {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

/// Type code of a string value in a JSON term (after the end-of-path byte).
const JSON_TYPE_STR: u8 = b's';

/// Every JSON path (term prefix before the end-of-path byte) of `field` in this segment that
/// holds at least one string term: the only paths a word can match.
pub fn json_string_paths(reader: &SegmentReader, field: Field) -> tantivy::Result<Vec<Vec<u8>>> {
    let inverted = reader.inverted_index(field)?;
    let dict = inverted.terms();
    let mut paths = Vec::new();
    let mut from: Vec<u8> = Vec::new();
    loop {
        let mut stream = dict.range().ge(&from).into_stream()?;
        if !stream.advance() {
            break;
        }
        let key = stream.key();
        let Some(end) = key.iter().position(|b| *b == JSON_END_OF_PATH) else { break };
        let path = key[..end].to_vec();
        // Its terms are sorted by type code: a string term is there if the first key at or
        // after `path END 's'` still has that prefix.
        let typed = key.get(end + 1).copied();
        let has_str = match typed {
            Some(JSON_TYPE_STR) => true,
            Some(t) if t > JSON_TYPE_STR => false,
            _ => {
                let mut probe = path.clone();
                probe.extend_from_slice(&[JSON_END_OF_PATH, JSON_TYPE_STR]);
                let mut s = dict.range().ge(&probe).into_stream()?;
                s.advance() && s.key().starts_with(&probe)
            }
        };
        // The smallest key after every term of this path: its bytes followed by 0x01, which is
        // where its sub-paths start (the segment separator), all sorting before any longer name.
        from.clear();
        from.extend_from_slice(&path);
        from.push(1);
        if has_str {
            paths.push(path);
        }
    }
    Ok(paths)
}

/// [`json_string_paths`] remembered per segment: segments never change once written, and
/// finding the paths costs a term-dictionary block read per path, which would otherwise be paid
/// by every query with a bare word.
fn cached_string_paths(reader: &SegmentReader, field: Field) -> tantivy::Result<Arc<Vec<Vec<u8>>>> {
    type Cache = std::collections::HashMap<(tantivy::index::SegmentId, Field), Arc<Vec<Vec<u8>>>>;
    static CACHE: std::sync::Mutex<Option<Cache>> = std::sync::Mutex::new(None);
    let key = (reader.segment_id(), field);
    if let Some(p) = CACHE.lock().unwrap_or_else(|p| p.into_inner()).as_ref().and_then(|c| c.get(&key)) {
        return Ok(p.clone());
    }
    let paths = Arc::new(json_string_paths(reader, field)?);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let cache = cache.get_or_insert_with(Cache::new);
    // Merged-away segments are never asked for again: start over rather than grow forever.
    if cache.len() >= 8192 {
        cache.clear();
    }
    cache.insert(key, paths.clone());
    Ok(paths)
}

impl Weight for AnyPathText {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if !self.tokens.is_empty() {
            for path in cached_string_paths(reader, self.field)?.iter() {
                let term = |tok: &str| {
                    let mut t = Term::from_field_json_path(self.field, "", false);
                    t.truncate_value_bytes(0);
                    t.append_bytes(path);
                    t.append_bytes(&[JSON_END_OF_PATH]);
                    t.append_type_and_str(tok);
                    t
                };
                let q: Box<dyn Query> = if self.tokens.len() == 1 {
                    Box::new(TermQuery::new(term(&self.tokens[0]), IndexRecordOption::WithFreqs))
                } else {
                    Box::new(PhraseQuery::new(self.tokens.iter().map(|t| term(t)).collect()))
                };
                clauses.push((Occur::Should, q));
            }
        }
        BooleanQuery::new(clauses).weight(EnableScoring::disabled_from_schema(reader.schema()))?.scorer(reader, boost)
    }

    fn explain(&self, _reader: &SegmentReader, _doc: DocId) -> tantivy::Result<Explanation> {
        Err(TantivyError::InvalidArgument("AnyPathText does not score".into()))
    }
}
