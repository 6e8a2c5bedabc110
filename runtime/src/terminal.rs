//! Text from tasks, made safe to print on a terminal.
//!
//! A task's output, errors and outputs are the task's own bytes: printed
//! raw, an escape sequence could retitle the window, clear the screen,
//! rewrite earlier lines or (OSC 52) write the clipboard, and a bidi
//! override could make a line read differently from what it holds. What
//! chime prints on the console (task output lines, progress), in `show`,
//! and in `logs` on a terminal shows such characters escaped instead.
//! Log files keep the text as the task printed it.

use std::borrow::Cow;

/// Whether `c` is shown escaped: C0 controls but tab and newline, DEL, C1
/// controls, and the bidi embeddings, overrides and isolates (U+202A to
/// U+202E, U+2066 to U+2069).
fn is_unsafe(c: char) -> bool {
    match c {
        '\t' | '\n' => false,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

/// `text` with every unsafe character written as an escape: `\x1b` below
/// U+0080, `\u{202e}` above. A backslash is left as it is, so an escape
/// shown may also be text the task printed: the log file tells them apart.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !is_unsafe(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_bidi_overrides_are_shown_escaped() {
        assert_eq!(
            escape_controls("\u{1b}]0;pwned\u{7}\u{1b}[2J ok"),
            "\\x1b]0;pwned\\x07\\x1b[2J ok"
        );
        assert_eq!(
            escape_controls("a\u{202e}b\u{2066}c\u{9b}d\u{7f}\r"),
            "a\\u{202e}b\\u{2066}c\\u{9b}d\\x7f\\x0d"
        );
        // Tabs, newlines and ordinary text (any script) are kept.
        let plain = "id\tvalue\n東京 café \\x1b";
        assert!(matches!(escape_controls(plain), Cow::Borrowed(t) if t == plain));
    }
}
