//! A diagnostic is data: code, severity, message, where, and what to do.
//! Turning it into text is `render.rs`'s job, in one place.

use crate::source::Span;

/// Declares [`Code`] from one table: each code with its name (as `chime
/// explain` and docs/checks.md show it) and its severity.
macro_rules! codes {
    ($($code:ident $name:literal $severity:ident,)*) => {
        /// The stable code of every problem `chime check` reports
        /// (docs/checks.md).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $($code,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$code,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$code => stringify!($code),)*
                }
            }

            /// The check's short name (`yaml-syntax`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Code::$code => $name,)*
                }
            }

            pub fn severity(self) -> Severity {
                match self {
                    $(Code::$code => Severity::$severity,)*
                }
            }
        }
    };
}

codes! {
    E001 "yaml-syntax" Error,
    E002 "unknown-key" Error,
    E003 "wrong-type" Error,
    E004 "missing-key" Error,
    E010 "duplicate-task" Error,
    E011 "unknown-dependency" Error,
    E012 "dependency-cycle" Error,
    E020 "unknown-operator" Error,
    E021 "missing-operator-param" Error,
    E022 "unknown-operator-param" Error,
    E023 "operator-param-type" Error,
    E030 "invalid-schedule" Error,
    E031 "unknown-timezone" Error,
    E032 "bad-dates" Error,
    E040 "template-syntax" Error,
    E041 "undefined-template-variable" Error,
    E042 "template-reads-non-upstream" Error,
    E043 "unknown-connection" Error,
    E044 "bad-url" Error,
    E045 "bad-notify" Error,
    E046 "bad-deadline" Error,
    E047 "bad-condition" Error,
    E048 "unknown-pool" Error,
    E049 "bad-for-each" Error,
    E050 "custom-operator-crate" Error,
    E060 "model-file" Error,
    E061 "model-operator" Error,
    E062 "model-inputs" Error,
    W001 "unreachable-task" Warning,
    W002 "template-injection" Warning,
}

impl Code {
    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str().eq_ignore_ascii_case(text.trim()))
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
