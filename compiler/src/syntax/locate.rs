//! Positions inside a string scalar.
//!
//! A scalar's value is not its source text: quotes, escapes, block
//! indentation and folding sit between them. To point a caret at a cron
//! field or a template variable, the piece of the value is found again in
//! the scalar's source text, line by line; when it cannot be found (an
//! escape in the way), the whole scalar is pointed at.

use std::ops::Range;

use crate::source::Span;
use crate::syntax::Node;

/// The span, in the file, of `range` of the string value of `node`.
pub fn locate(source: &str, node: &Node, range: Range<usize>) -> Span {
    let Some(value) = node.as_str() else {
        return node.span;
    };
    let fallback = node.span;
    let Some(piece) = value.get(range.clone()) else {
        return fallback;
    };
    let raw_range = node.span.range();
    let Some(raw) = source.get(raw_range.clone()) else {
        return fallback;
    };
    // Which line of the value the piece is on, and where on that line.
    let line_no = value[..range.start].matches('\n').count();
    let line_start = value[..range.start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = value[line_start..]
        .find('\n')
        .map_or(value.len(), |i| line_start + i);
    let line = &value[line_start..line_end];
    let in_line = range.start - line_start;
    // Find the value's lines, in order, in the raw text.
    let mut search_from = 0;
    for (i, l) in value.split('\n').enumerate() {
        let l = l.trim();
        if l.is_empty() {
            continue;
        }
        let Some(found) = raw.get(search_from..).and_then(|r| r.find(l)) else {
            break;
        };
        let at = search_from + found;
        if i == line_no {
            // `found` locates the trimmed line; step back over its leading blanks.
            let lead = line.len() - line.trim_start().len();
            let start = (at + in_line).saturating_sub(lead);
            let start = raw_range.start + start.min(raw.len());
            let end = (start + piece.len()).min(raw_range.end);
            if source.get(start..end) == Some(piece) {
                return Span {
                    file: node.span.file,
                    start: start as u32,
                    end: end as u32,
                };
            }
            break;
        }
        search_from = at + l.len();
    }
    // Last resort: the first occurrence of the piece in the raw text.
    match raw.find(piece).filter(|_| !piece.is_empty()) {
        Some(at) => Span::new(
            node.span.file,
            raw_range.start + at..raw_range.start + at + piece.len(),
        ),
        None => fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Diagnostics;

    fn value_node(text: &str) -> Node {
        let mut d = Diagnostics::default();
        let root = crate::syntax::yaml::parse(0, text, &mut d).root.unwrap();
        root.get("k").unwrap().value.clone()
    }

    #[test]
    fn inside_quoted_and_block_scalars() {
        let text = "k: \"0 61 * * *\"\n";
        let n = value_node(text);
        let s = locate(text, &n, 2..4);
        assert_eq!(&text[s.range()], "61");

        let text = "k: |\n  echo a\n  echo {{ bad }}\n";
        let n = value_node(text);
        let v = n.as_str().unwrap();
        let at = v.find("bad").unwrap();
        let s = locate(text, &n, at..at + 3);
        assert_eq!(&text[s.range()], "bad");
        assert_eq!(text[..s.start as usize].matches('\n').count(), 2);
    }
}
