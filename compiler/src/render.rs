//! Diagnostics as text: rustc-style (`human`), JSON (docs/ci.md) and GitHub
//! workflow annotations. The only place that formats a diagnostic.

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
use serde::Serialize;

use crate::diagnostic::{Diagnostic, Severity};
use crate::source::{SourceFile, Sources, Span};

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
}

/// Counts for the closing line and the JSON object.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub files: usize,
}

impl Summary {
    pub fn of(diags: &[Diagnostic], files: usize) -> Summary {
        let errors = diags
            .iter()
            .filter(|d| d.severity() == Severity::Error)
            .count();
        Summary {
            errors,
            warnings: diags.len() - errors,
            files,
        }
    }
}

/// One diagnostic, rustc style, with the source lines and carets.
pub fn human(d: &Diagnostic, sources: &Sources, color: bool) -> String {
    let src = sources.get(d.span.file);
    let level = match d.severity() {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    // Only the lines the annotations are on are handed to the renderer,
    // so a diagnostic in a 10 MB file costs what its lines cost.
    let spans: Vec<Span> = std::iter::once(d.span)
        .chain(d.secondary.iter().map(|(s, _)| *s))
        .collect();
    let first = spans.iter().map(|s| s.start).min().unwrap_or(0) as usize;
    let last = spans.iter().map(|s| s.end).max().unwrap_or(0) as usize;
    let (first_line, _) = src.line_col(first);
    let start = line_start(src, first);
    let end = src.text[last.min(src.text.len())..]
        .find('\n')
        .map_or(src.text.len(), |i| last + i);
    let excerpt = &src.text[start..end];
    let local = |s: &Span| widen(excerpt, s.start as usize - start, s.end as usize - start);
    let mut snippet = Snippet::source(excerpt)
        .path(src.path.as_str())
        .line_start(first_line)
        .fold(true);
    snippet = snippet.annotation(
        AnnotationKind::Primary
            .span(local(&d.span))
            .label(d.label.as_deref()),
    );
    for (span, label) in &d.secondary {
        snippet = snippet.annotation(
            AnnotationKind::Context
                .span(local(span))
                .label(label.as_str()),
        );
    }
    let mut group = level
        .primary_title(d.message.as_str())
        .id(d.code.as_str())
        .element(snippet);
    for note in &d.notes {
        group = group.element(Level::NOTE.message(note.as_str()));
    }
    if let Some(help) = &d.help {
        group = group.element(Level::HELP.message(help.as_str()));
    }
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    renderer.render(&[group])
}

fn line_start(src: &SourceFile, offset: usize) -> usize {
    src.text[..offset.min(src.text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1)
}

/// An empty span is widened to the character under it, so a caret shows.
fn widen(text: &str, start: usize, end: usize) -> std::ops::Range<usize> {
    let start = start.min(text.len());
    let end = end.clamp(start, text.len());
    if start < end {
        return start..end;
    }
    match text[start..].chars().next() {
        Some(c) if c != '\n' => start..start + c.len_utf8(),
        _ => start..start,
    }
}

/// The closing line of a human-format run.
pub fn human_summary(s: Summary) -> String {
    let files = plural(s.files, "file");
    match (s.errors, s.warnings) {
        (0, 0) => format!("checked {files}: no problems"),
        (0, w) => format!("checked {files}: {}", plural(w, "warning")),
        (e, 0) => format!("checked {files}: {}", plural(e, "error")),
        (e, w) => format!(
            "checked {files}: {}, {}",
            plural(e, "error"),
            plural(w, "warning")
        ),
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'a str,
    severity: &'a str,
    message: &'a str,
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    help: Option<&'a str>,
    notes: &'a [String],
}

#[derive(Serialize)]
struct JsonReport<'a> {
    diagnostics: Vec<JsonDiagnostic<'a>>,
    errors: usize,
    warnings: usize,
    files: usize,
}

/// The whole run as one JSON object (docs/ci.md), plus end positions and notes.
pub fn json(diags: &[Diagnostic], sources: &Sources, summary: Summary) -> String {
    let diagnostics = diags
        .iter()
        .map(|d| {
            let src = sources.get(d.span.file);
            let (line, column) = src.line_col(d.span.start as usize);
            let (end_line, end_column) = src.line_col(d.span.end as usize);
            JsonDiagnostic {
                code: d.code.as_str(),
                severity: d.severity().as_str(),
                message: &d.message,
                file: &src.path,
                line,
                column,
                end_line,
                end_column,
                help: d.help.as_deref(),
                notes: &d.notes,
            }
        })
        .collect();
    let report = JsonReport {
        diagnostics,
        errors: summary.errors,
        warnings: summary.warnings,
        files: summary.files,
    };
    // Serialising plain structs of strings and numbers cannot fail.
    serde_json::to_string(&report).unwrap_or_default()
}

/// One GitHub Actions workflow command per diagnostic.
pub fn github(d: &Diagnostic, sources: &Sources) -> String {
    let src = sources.get(d.span.file);
    let (line, col) = src.line_col(d.span.start as usize);
    let (end_line, end_col) = src.line_col(d.span.end as usize);
    let kind = match d.severity() {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message += &format!("\nhelp: {help}");
    }
    format!(
        "::{kind} file={},line={line},col={col},endLine={end_line},endColumn={end_col},title={}::{}",
        escape_property(&src.path),
        d.code.as_str(),
        escape_data(&message)
    )
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
