//! E050 custom-operator-crate: a crate named under `operators:` is
//! missing, is not a library crate, does not parse (the message names the
//! Rust file and line), or defines two operators with one name.

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    let paths = ctx
        .pipeline
        .operator_crates
        .iter()
        .filter(|n| n.as_str().is_some());
    for (path_node, result) in paths.zip(&ctx.custom) {
        let Err(problem) = result.as_ref() else {
            continue;
        };
        let path = path_node.as_str().unwrap_or_default();
        diags.push(
            Diagnostic::new(Code::E050, path_node.span, format!("cannot read the operators crate `{path}`"))
                .label("paths are relative to the pipeline file")
                .note(problem.to_string())
                .help("an operators crate is a library whose src/lib.rs holds `#[chime::operator]` functions; `chime init --ops` writes one"),
        );
    }
}
