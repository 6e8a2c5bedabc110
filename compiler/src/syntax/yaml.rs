//! A YAML loader that keeps the span of every key and value.
//!
//! Built on `saphyr-parser`'s event stream (the parser under serde-saphyr):
//! serde deserialisation stops at the first error and loses positions inside
//! flattened maps, while a spanned tree lets every later check report every
//! problem on its line. Values follow the YAML 1.2 core schema, so `NO` and
//! `on` stay strings.
//!
//! Limits, so hostile input costs bounded time and memory: nesting depth
//! ([`MAX_DEPTH`]), the number of nodes after aliases are expanded
//! ([`MAX_NODES`], which stops "billion laughs") and the bytes of scalar
//! text after aliases are expanded ([`MAX_TEXT_BYTES`]: a few aliases of a
//! long string are few nodes but gigabytes). The file size limit is the
//! caller's (`load.rs`).

use rustc_hash::FxHashMap as HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::source::{FileId, Span};

/// Deepest nesting of lists and mappings accepted.
pub const MAX_DEPTH: usize = 64;
/// Mappings with more keys than this index them for the duplicate check.
const SMALL_MAP: usize = 8;
/// Most nodes a document may hold once aliases are expanded.
pub const MAX_NODES: usize = 5_000_000;
/// Most bytes of scalar text a document may hold once aliases are
/// expanded: the size of the largest file read, so only aliases can pass it.
pub const MAX_TEXT_BYTES: usize = 64 * 1024 * 1024;

/// A YAML node and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string; `block` is true for `|` and `>` scalars.
    Str {
        text: String,
        quoted: bool,
        block: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: Node,
    pub value: Node,
}

impl Entry {
    /// The key as text; non-string keys (`1: x`) are shown as YAML writes them.
    pub fn key_text(&self) -> String {
        self.key
            .scalar_text()
            .unwrap_or_else(|| "<non-scalar key>".into())
    }
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The entry with key `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|e| e.key.as_str() == Some(key))
    }

    /// A scalar's text as the user would read it back.
    pub fn scalar_text(&self) -> Option<String> {
        Some(match &self.value {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str { text, .. } => text.clone(),
            Value::Seq(_) | Value::Map(_) => return None,
        })
    }

    /// What kind of value this is, for messages ("found an integer").
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str { .. } => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Nodes in this subtree, itself included, and the bytes of its
    /// scalars' text.
    fn weight(&self) -> Weight {
        match &self.value {
            Value::Str { text, .. } => Weight {
                nodes: 1,
                bytes: text.len(),
            },
            Value::Seq(items) => items
                .iter()
                .map(Node::weight)
                .fold(Weight::ONE, Weight::add),
            Value::Map(entries) => entries
                .iter()
                .map(|e| e.key.weight().add(e.value.weight()))
                .fold(Weight::ONE, Weight::add),
            _ => Weight::ONE,
        }
    }
}

/// What a node costs once expanded.
#[derive(Debug, Clone, Copy)]
struct Weight {
    nodes: usize,
    bytes: usize,
}

impl Weight {
    const ONE: Weight = Weight { nodes: 1, bytes: 0 };

    fn add(self, other: Weight) -> Weight {
        Weight {
            nodes: self.nodes.saturating_add(other.nodes),
            bytes: self.bytes.saturating_add(other.bytes),
        }
    }
}

/// Converts the parser's character offsets to byte offsets.
struct Offsets {
    /// Byte offset of every character; empty when the text is ASCII.
    bytes: Vec<u32>,
    len: usize,
}

impl Offsets {
    fn new(text: &str) -> Offsets {
        let bytes = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices()
                .map(|(i, _)| i as u32)
                .chain([text.len() as u32])
                .collect()
        };
        Offsets {
            bytes,
            len: text.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.bytes.is_empty() {
            char_index.min(self.len)
        } else {
            self.bytes.get(char_index).map_or(self.len, |&b| b as usize)
        }
    }
}

enum Frame {
    Seq {
        start: usize,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<Node>,
        /// Key -> span, built once a mapping grows past [`SMALL_MAP`] keys;
        /// smaller ones are scanned (most mappings have a handful of keys).
        seen: Option<HashMap<String, Span>>,
    },
}

/// A key that appears twice in one mapping. The loader keeps the first; the
/// duplicate-key check (E010) reports it, knowing whether it was a task id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub name: String,
    pub first: Span,
    pub again: Span,
}

/// A parsed document: its tree (when the text parsed far enough to have
/// one) and the duplicate keys found on the way.
#[derive(Debug, Default)]
pub struct Document {
    pub root: Option<Node>,
    pub duplicates: Vec<Duplicate>,
}

/// Parses one YAML document. Syntax errors and exceeded limits go to `diags`.
pub fn parse(file: FileId, text: &str, diags: &mut Diagnostics) -> Document {
    if bidi_controls(file, text, diags) {
        return Document {
            root: None,
            duplicates: Vec::new(),
        };
    }
    let mut duplicates = Vec::new();
    let root = parse_tree(file, text, diags, &mut duplicates);
    Document { root, duplicates }
}

/// Unicode's bidirectional controls: invisible, they make text display in
/// another order than it is read ("Trojan Source", CVE-2021-42574), and
/// rustc refuses them in the code `chime build` generates.
const BIDI_CONTROLS: &[(char, &str)] = &[
    ('\u{200E}', "LEFT-TO-RIGHT MARK"),
    ('\u{200F}', "RIGHT-TO-LEFT MARK"),
    ('\u{202A}', "LEFT-TO-RIGHT EMBEDDING"),
    ('\u{202B}', "RIGHT-TO-LEFT EMBEDDING"),
    ('\u{202C}', "POP DIRECTIONAL FORMATTING"),
    ('\u{202D}', "LEFT-TO-RIGHT OVERRIDE"),
    ('\u{202E}', "RIGHT-TO-LEFT OVERRIDE"),
    ('\u{2066}', "LEFT-TO-RIGHT ISOLATE"),
    ('\u{2067}', "RIGHT-TO-LEFT ISOLATE"),
    ('\u{2068}', "FIRST STRONG ISOLATE"),
    ('\u{2069}', "POP DIRECTIONAL ISOLATE"),
];

/// Reports every bidirectional control in the file (comments included, as
/// rustc does); true when there is one. The first few are reported.
fn bidi_controls(file: FileId, text: &str, diags: &mut Diagnostics) -> bool {
    const SHOWN: usize = 10;
    let mut found = 0;
    for (at, c) in text.char_indices() {
        let Some((_, name)) = BIDI_CONTROLS.iter().find(|(b, _)| *b == c) else {
            continue;
        };
        found += 1;
        if found <= SHOWN {
            let span = Span::new(file, at..at + c.len_utf8());
            diags.push(
                Diagnostic::new(
                    Code::E001,
                    span,
                    format!(
                        "the file contains the invisible Unicode control U+{:04X} ({name})",
                        u32::from(c)
                    ),
                )
                .label("changes the order in which the text around it is displayed")
                .note("bidirectional controls can make text read differently than it runs (\"Trojan Source\"); rustc refuses them too")
                .help("delete it; right-to-left text itself (Arabic, Hebrew) needs no control characters"),
            );
        }
    }
    found > 0
}

fn parse_tree(
    file: FileId,
    text: &str,
    diags: &mut Diagnostics,
    duplicates: &mut Vec<Duplicate>,
) -> Option<Node> {
    let offsets = Offsets::new(text);
    let span = |s: saphyr_parser::Span| {
        Span::new(
            file,
            offsets.byte(s.start.index())
                ..offsets
                    .byte(s.end.index())
                    .max(offsets.byte(s.start.index())),
        )
    };
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    // Each anchor's node and its weight, computed once when it is defined.
    let mut anchors: HashMap<usize, (Node, Weight)> = HashMap::default();
    let mut nodes = 0usize;
    let mut bytes = 0usize;
    let mut root: Option<Node> = None;
    let mut documents = 0;

    while let Some(event) = parser.next_event() {
        let (event, ev_span) = match event {
            Ok(ok) => ok,
            Err(err) => {
                let at = offsets.byte(err.marker().index());
                let message = if err.info().contains("recursion limit") {
                    format!(
                        "nesting deeper than the YAML parser's limit ({})",
                        err.info()
                    )
                } else {
                    format!("invalid YAML: {}", err.info())
                };
                diags.push(
                    Diagnostic::new(Code::E001, Span::new(file, at..at), message)
                        .label("the YAML parser stopped here"),
                );
                return None;
            }
        };
        let here = span(ev_span);
        let finished: Node = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    diags.push(
                        Diagnostic::new(
                            Code::E001,
                            here,
                            "a pipeline file holds one YAML document",
                        )
                        .label("a second document starts here")
                        .help("put each pipeline in its own file"),
                    );
                    return root;
                }
                continue;
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    diags.push(
                        Diagnostic::new(
                            Code::E001,
                            here,
                            format!("nesting deeper than {MAX_DEPTH} levels"),
                        )
                        .help(
                            "a pipeline never needs this depth; is the file generated by mistake?",
                        ),
                    );
                    return None;
                }
                stack.push(match event {
                    Event::SequenceStart(..) => Frame::Seq {
                        start: here.start as usize,
                        anchor,
                        items: Vec::new(),
                    },
                    _ => Frame::Map {
                        start: here.start as usize,
                        anchor,
                        entries: Vec::new(),
                        key: None,
                        seen: None,
                    },
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                // The parser pairs every end with a start, so the stack is not empty.
                let Some(frame) = stack.pop() else { continue };
                let (start, anchor, value) = match frame {
                    Frame::Seq {
                        start,
                        anchor,
                        items,
                    } => (start, anchor, Value::Seq(items)),
                    Frame::Map {
                        start,
                        anchor,
                        entries,
                        ..
                    } => (start, anchor, Value::Map(entries)),
                };
                let end = (here.end as usize).max(start);
                let node = Node {
                    span: Span::new(file, start..end),
                    value,
                };
                if anchor != 0 {
                    let weight = node.weight();
                    anchors.insert(anchor, (node.clone(), weight));
                }
                node
            }
            Event::Scalar(text_value, style, anchor, tag) => {
                // Counted here; an alias's own bytes are counted below.
                bytes += text_value.len();
                let node = Node {
                    span: here,
                    value: scalar_value(text_value.into_owned(), style, tag.is_some()),
                };
                if anchor != 0 {
                    let weight = node.weight();
                    anchors.insert(anchor, (node.clone(), weight));
                }
                node
            }
            Event::Alias(id) => {
                let Some((target, weight)) = anchors.get(&id) else {
                    diags.push(Diagnostic::new(
                        Code::E001,
                        here,
                        "alias to an unknown anchor",
                    ));
                    return None;
                };
                nodes = nodes.saturating_add(weight.nodes);
                bytes = bytes.saturating_add(weight.bytes);
                let passed = if nodes > MAX_NODES {
                    Some(format!("{MAX_NODES} nodes"))
                } else if bytes > MAX_TEXT_BYTES {
                    Some(format!("{} MiB of text", MAX_TEXT_BYTES / (1024 * 1024)))
                } else {
                    None
                };
                if let Some(limit) = passed {
                    diags.push(
                        Diagnostic::new(
                            Code::E001,
                            here,
                            format!("the document expands to more than {limit} through aliases"),
                        )
                        .label("expanding this alias passes the limit")
                        .note("nested aliases can grow exponentially (\"billion laughs\")"),
                    );
                    return None;
                }
                Node {
                    span: here,
                    value: target.value.clone(),
                }
            }
        };
        nodes += 1;
        if nodes > MAX_NODES {
            diags.push(Diagnostic::new(
                Code::E001,
                here,
                format!("the document has more than {MAX_NODES} nodes"),
            ));
            return None;
        }
        match stack.last_mut() {
            None => root = Some(finished),
            Some(Frame::Seq { items, .. }) => items.push(finished),
            Some(Frame::Map {
                entries, key, seen, ..
            }) => match key.take() {
                None => *key = Some(finished),
                Some(k) => {
                    let name = k.scalar_text();
                    if seen.is_none() && entries.len() >= SMALL_MAP {
                        let index = entries
                            .iter()
                            .filter_map(|e| Some((e.key.scalar_text()?, e.key.span)));
                        *seen = Some(index.collect());
                    }
                    let duplicate = name.as_ref().and_then(|n| match seen {
                        Some(seen) => seen.get(n).copied(),
                        None => entries
                            .iter()
                            .find(|e| key_is(&e.key, n))
                            .map(|e| e.key.span),
                    });
                    if let (Some(first), Some(name)) = (duplicate, &name) {
                        duplicates.push(Duplicate {
                            name: name.clone(),
                            first,
                            again: k.span,
                        });
                    } else {
                        if let (Some(seen), Some(name)) = (seen.as_mut(), name) {
                            seen.insert(name, k.span);
                        }
                        entries.push(Entry {
                            key: k,
                            value: finished,
                        });
                    }
                }
            },
        }
    }
    root
}

fn key_is(key: &Node, name: &str) -> bool {
    match &key.value {
        Value::Str { text, .. } => text == name,
        _ => key.scalar_text().as_deref() == Some(name),
    }
}

/// Types a scalar by the YAML 1.2 core schema. Quoted, block and tagged
/// scalars are strings.
fn scalar_value(text: String, style: ScalarStyle, tagged: bool) -> Value {
    let quoted = matches!(style, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted);
    let block = matches!(style, ScalarStyle::Literal | ScalarStyle::Folded);
    if style != ScalarStyle::Plain || tagged {
        return Value::Str {
            text,
            quoted,
            block,
        };
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(i) = parse_int(&text) {
        return Value::Int(i);
    }
    if looks_like_float(&text)
        && let Ok(f) = text.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::Str {
        text,
        quoted: false,
        block: false,
    }
}

fn parse_int(text: &str) -> Option<i64> {
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn looks_like_float(text: &str) -> bool {
    matches!(text, ".inf" | "-.inf" | "+.inf" | ".nan")
        || (text.bytes().any(|b| b.is_ascii_digit())
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (Option<Node>, Vec<Diagnostic>) {
        let mut d = Diagnostics::default();
        let doc = parse(0, text, &mut d);
        (doc.root, d.into_sorted())
    }

    #[test]
    fn keeps_spans_of_keys_and_values() {
        let text = "a: 1\nb:\n  c: \"x\"\n";
        let (root, diags) = load(text);
        assert!(diags.is_empty());
        let root = root.unwrap();
        let b = root.get("b").unwrap();
        assert_eq!(&text[b.key.span.range()], "b");
        let c = b.value.get("c").unwrap();
        assert_eq!(&text[c.key.span.range()], "c");
        assert!(text[c.value.span.range()].contains('x'));
        assert_eq!(root.get("a").unwrap().value.value, Value::Int(1));
    }

    #[test]
    fn core_schema_types() {
        let (root, _) = load("a: NO\nb: on\nc: true\nd: ~\ne: 1.5\nf: '1'\ng: 2026-01-01\n");
        let root = root.unwrap();
        let v = |k: &str| root.get(k).unwrap().value.value.clone();
        assert!(matches!(v("a"), Value::Str { .. }));
        assert!(matches!(v("b"), Value::Str { .. }));
        assert_eq!(v("c"), Value::Bool(true));
        assert_eq!(v("d"), Value::Null);
        assert_eq!(v("e"), Value::Float(1.5));
        assert!(matches!(v("f"), Value::Str { quoted: true, .. }));
        assert!(matches!(v("g"), Value::Str { .. }));
    }

    #[test]
    fn duplicate_keys_are_reported_and_first_kept() {
        let mut d = Diagnostics::default();
        let doc = parse(0, "a: 1\na: 2\n", &mut d);
        assert_eq!(doc.duplicates.len(), 1);
        assert_eq!(doc.duplicates[0].again.start, 5);
        assert_eq!(
            doc.root.unwrap().get("a").unwrap().value.value,
            Value::Int(1)
        );
    }

    #[test]
    fn billion_laughs_is_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text += &format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            );
        }
        let (_, diags) = load(&text);
        assert_eq!(diags.len(), 1);
        assert!(diags[0].message.contains("aliases"), "{}", diags[0].message);
    }

    /// Few nodes, but each alias repeats 3 KB: 10^6 copies would be 3 GB.
    #[test]
    fn aliases_of_a_long_string_are_bounded_by_bytes() {
        let mut text = format!("a0: &a0 \"{}\"\n", "lol".repeat(1000));
        for i in 1..7 {
            let p = i - 1;
            text += &format!("a{i}: &a{i} [{}]\n", vec![format!("*a{p}"); 10].join(", "));
        }
        let (_, diags) = load(&text);
        assert_eq!(diags.len(), 1);
        assert!(
            diags[0].message.contains("64 MiB of text through aliases"),
            "{}",
            diags[0].message
        );
    }

    #[test]
    fn bidi_controls_are_refused_at_their_position() {
        let text = "pipeline: x # \u{202E} note\ndescription: \"a\u{2066}b\"\n";
        let (root, diags) = load(text);
        assert!(root.is_none());
        assert_eq!(diags.len(), 2);
        assert_eq!(diags[0].span.start as usize, text.find('\u{202E}').unwrap());
        assert!(diags[0].message.contains("U+202E"), "{}", diags[0].message);
        assert!(diags[1].message.contains("U+2066"), "{}", diags[1].message);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(10_000) + &"]".repeat(10_000);
        let (_, diags) = load(&text);
        assert!(diags[0].message.contains("nesting"), "{:?}", diags);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let (_, diags) = load("a: 1\nb: [1, 2\nc: 3\n");
        assert_eq!(diags[0].code, Code::E001);
    }
}
