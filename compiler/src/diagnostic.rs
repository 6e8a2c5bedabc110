//! A diagnostic is data: code, severity, message, where, and what to do.
//! Turning it into text is `render.rs`'s job, in one place.

use crate::source::Span;

/// The stable code of every problem `chime check` reports (docs/checks.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    E001,
    E002,
    E003,
    E004,
    E010,
    E011,
    E012,
    E020,
    E021,
    E022,
    E023,
    E030,
    E031,
    E032,
    E040,
    E041,
    E042,
    E043,
    E050,
    E060,
    E061,
    E062,
    W001,
    W002,
}

impl Code {
    pub const ALL: &'static [Code] = &[
        Code::E001,
        Code::E002,
        Code::E003,
        Code::E004,
        Code::E010,
        Code::E011,
        Code::E012,
        Code::E020,
        Code::E021,
        Code::E022,
        Code::E023,
        Code::E030,
        Code::E031,
        Code::E032,
        Code::E040,
        Code::E041,
        Code::E042,
        Code::E043,
        Code::E050,
        Code::E060,
        Code::E061,
        Code::E062,
        Code::W001,
        Code::W002,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::E001 => "E001",
            Code::E002 => "E002",
            Code::E003 => "E003",
            Code::E004 => "E004",
            Code::E010 => "E010",
            Code::E011 => "E011",
            Code::E012 => "E012",
            Code::E020 => "E020",
            Code::E021 => "E021",
            Code::E022 => "E022",
            Code::E023 => "E023",
            Code::E030 => "E030",
            Code::E031 => "E031",
            Code::E032 => "E032",
            Code::E040 => "E040",
            Code::E041 => "E041",
            Code::E042 => "E042",
            Code::E043 => "E043",
            Code::E050 => "E050",
            Code::E060 => "E060",
            Code::E061 => "E061",
            Code::E062 => "E062",
            Code::W001 => "W001",
            Code::W002 => "W002",
        }
    }

    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str().eq_ignore_ascii_case(text.trim()))
    }

    pub fn severity(self) -> Severity {
        if matches!(self, Code::W001 | Code::W002) {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem in the user's pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    /// The node at fault.
    pub span: Span,
    /// A short label under the caret.
    pub label: Option<String>,
    /// Other places that explain the problem (the first definition of a
    /// duplicate, the other edges of a cycle).
    pub secondary: Vec<(Span, String)>,
    pub notes: Vec<String>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            span,
            label: None,
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn secondary(mut self, span: Span, label: impl Into<String>) -> Self {
        self.secondary.push((span, label.into()));
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn note_if(self, cond: bool, note: impl Into<String>) -> Self {
        if cond { self.note(note) } else { self }
    }

    pub fn help_opt(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
}

/// Where checks put what they find.
#[derive(Debug, Default)]
pub struct Diagnostics {
    list: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|d| d.severity() == Severity::Error)
    }

    pub fn has_errors_in(&self, file: crate::source::FileId) -> bool {
        self.list
            .iter()
            .any(|d| d.span.file == file && d.severity() == Severity::Error)
    }

    pub fn has(&self, code: Code) -> bool {
        self.list.iter().any(|d| d.code == code)
    }

    /// All diagnostics, sorted by file and position so output is stable.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.list.sort_by(|a, b| {
            (a.span.file, a.span.start, a.code, &a.message).cmp(&(
                b.span.file,
                b.span.start,
                b.code,
                &b.message,
            ))
        });
        self.list.dedup();
        self.list
    }
}

/// "did you mean `x`?" for the candidate closest to `word`, if any is close.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    nearest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The candidate closest to `word` by edit distance, when close enough that
/// suggesting it helps (at most a third of the word's length, at least 1).
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1) + usize::from(word.len() > 5);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = strsim::damerau_levenshtein(word, c);
        let prefix = c.starts_with(word) || word.starts_with(c);
        let d = if prefix && d > limit { limit } else { d };
        if d <= limit && best.is_none_or(|(bd, bc)| (d, c) < (bd, bc)) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let keys = ["retries", "retry_delay", "timeout", "depends_on"];
        assert_eq!(nearest("retires", keys), Some("retries"));
        assert_eq!(nearest("depend_on", keys), Some("depends_on"));
        assert_eq!(nearest("colour", keys), None);
    }

    #[test]
    fn codes_round_trip() {
        for c in Code::ALL {
            assert_eq!(Code::parse(c.as_str()), Some(*c));
        }
        assert_eq!(Code::parse("e012"), Some(Code::E012));
    }
}
