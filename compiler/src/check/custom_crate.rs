//! E050 custom-operator-crate: a crate named under `operators:` is missing
//! or has no `src/lib.rs`.

use super::Ctx;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};

pub fn run(ctx: &Ctx<'_>, diags: &mut Diagnostics) {
    for path_node in &ctx.pipeline.operator_crates {
        let Some(path) = path_node.as_str() else {
            continue;
        };
        let dir = ctx.dir.join(path);
        let problem = if !dir.is_dir() {
            Some((
                format!("operator crate `{path}` not found"),
                format!("no directory at {}", dir.display()),
            ))
        } else if !dir.join("Cargo.toml").is_file() {
            Some((
                format!("`{path}` is not a crate"),
                format!("{} has no Cargo.toml", dir.display()),
            ))
        } else if !dir.join("src/lib.rs").is_file() {
            Some((
                format!("operator crate `{path}` has no src/lib.rs"),
                "operators live in a library crate".to_string(),
            ))
        } else {
            None
        };
        if let Some((message, note)) = problem {
            diags.push(
                Diagnostic::new(Code::E050, path_node.span, message)
                    .label("paths are relative to the pipeline file")
                    .note(note)
                    .help("fix the path, or create the crate: a library whose src/lib.rs holds the #[chime::operator] functions"),
            );
        }
    }
}
