//! E002 unknown-key: every mapping's keys are closed; a typo is reported
//! with the nearest valid key. Under `with:` the same check is E022.

use runtime::vocabulary::Object;

use super::walk::Walk;
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::syntax::Entry;

pub fn report(entry: &Entry, obj: &Object, walk: Walk<'_>, diags: &mut Diagnostics) {
    let key = entry.key_text();
    let names = obj.fields.iter().map(|f| f.name);
    let help = did_you_mean(&key, names.clone())
        .or_else(|| elsewhere(&key, obj))
        .or_else(|| {
            let all: Vec<_> = names.map(|n| format!("`{n}`")).collect();
            (!all.is_empty() && all.len() <= 12)
                .then(|| format!("valid keys here: {}", all.join(", ")))
        });
    let param = walk.codes.unknown == crate::diagnostic::Code::E022;
    let (what, label) = if param {
        ("parameter", "no such parameter".to_string())
    } else {
        ("key", format!("not a key of {}", obj.what))
    };
    diags.push(
        Diagnostic::new(
            walk.codes.unknown,
            entry.key.span,
            format!("unknown {what} `{key}` in {}", walk.context),
        )
        .label(label)
        .help_opt(help)
        .note_if(
            obj.fields.is_empty(),
            format!("{} take no parameters", obj.what),
        ),
    );
}

/// Keys users put at the wrong level: a task key at the top, a pipeline key
/// in a task.
fn elsewhere(key: &str, obj: &Object) -> Option<String> {
    use crate::language::{DEFAULTS, PIPELINE, TASK};
    // The tables are `const`s, so they are told apart by name, not address.
    let is = |other: &Object| obj.what == other.what;
    if is(&PIPELINE) && DEFAULTS.field(key).is_some() {
        return Some(format!(
            "`{key}` is a task setting: put it under `defaults:` to apply it to every task"
        ));
    }
    if is(&PIPELINE) && TASK.field(key).is_some() {
        return Some(format!(
            "`{key}` is a task key: put it under a task in `tasks:`"
        ));
    }
    if is(&TASK) && PIPELINE.field(key).is_some() {
        return Some(format!(
            "`{key}` is a pipeline key: put it at the top level of the file"
        ));
    }
    None
}
