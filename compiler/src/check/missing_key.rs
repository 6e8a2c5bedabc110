//! E004 missing-key: a required key is absent. Under `with:` the same check
//! is E021 (missing operator parameter).

use runtime::vocabulary::Object;

use super::walk::Walk;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::source::Span;

pub fn report(name: &str, obj: &Object, owner: Span, walk: Walk<'_>, diags: &mut Diagnostics) {
    let what = if walk.codes.missing == Code::E021 {
        "parameter"
    } else {
        "key"
    };
    let doc = lower_first(
        obj.field(name)
            .map(|f| f.doc)
            .unwrap_or_default()
            .trim()
            .trim_end_matches('.'),
    );
    // A custom operator's field without a doc comment: no empty "()".
    let help = if doc.is_empty() {
        format!("add `{name}:`")
    } else {
        format!("add `{name}:` ({doc})")
    };
    diags.push(
        Diagnostic::new(
            walk.codes.missing,
            owner,
            format!("missing required {what} `{name}` in {}", walk.context),
        )
        .label(format!("`{name}` is required here"))
        .help(help),
    );
}

pub fn report_one_of(
    group: &[&str],
    obj: &Object,
    owner: Span,
    walk: Walk<'_>,
    diags: &mut Diagnostics,
) {
    let names: Vec<_> = group.iter().map(|n| format!("`{n}`")).collect();
    diags.push(
        Diagnostic::new(
            walk.codes.missing,
            owner,
            format!("{}: one of {} is required", obj.what, names.join(" or ")),
        )
        .label(format!("none of {} is set", names.join(", ")))
        .help(format!("set exactly one of {}", names.join(", "))),
    );
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        // An acronym ("CSV of ...") keeps its case.
        (Some(_), Some(second)) if second.is_uppercase() => s.to_string(),
        (Some(first), _) => first.to_lowercase().chain(s.chars().skip(1)).collect(),
        (None, _) => String::new(),
    }
}

/// E004 for a file with no YAML document at all.
pub fn report_empty_file(file: crate::source::FileId, diags: &mut Diagnostics) {
    let at = Span::new(file, 0..0);
    diags.push(
        Diagnostic::new(
            Code::E004,
            at,
            "the file is empty: missing `pipeline` and `tasks`",
        )
        .help("start with `pipeline: my_pipeline` and a `tasks:` mapping of at least one task"),
    );
}
