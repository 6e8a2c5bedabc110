//! For the commands that need a valid pipeline (`build`, `graph`): read
//! and check one file, print its diagnostics, and hand back its YAML tree
//! only when it has no error.

use std::path::Path;
use std::process::ExitCode;

use crate::diagnostic::Diagnostics;
use crate::source::{FileId, Sources};
use crate::syntax::Node;

/// A checked pipeline file: its source and tree.
#[derive(Debug)]
pub struct Checked {
    pub sources: Sources,
    pub id: FileId,
    pub root: Node,
}

/// Reads and checks `file`. Diagnostics (warnings too) go to stderr; an
/// unreadable file is exit status 2, a pipeline with errors 1.
pub fn load(file: &str) -> Result<Checked, ExitCode> {
    let source = crate::load::read(Path::new(file)).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    let mut sources = Sources::default();
    let id = sources.add(source);
    let mut diags = Diagnostics::default();
    crate::check::check_file(id, sources.get(id), &mut diags);
    let failed = diags.has_errors();
    let diags = diags.into_sorted();
    for d in &diags {
        eprintln!("{}\n", crate::render::human(d, &sources, false));
    }
    if failed {
        eprintln!(
            "{}",
            crate::render::human_summary(crate::render::Summary::of(&diags, 1))
        );
        return Err(ExitCode::from(1));
    }
    let mut scratch = Diagnostics::default();
    // The file checked without errors, so it parses.
    let root = crate::syntax::yaml::parse(id, &sources.get(id).text, &mut scratch)
        .root
        .ok_or(ExitCode::from(1))?;
    Ok(Checked { sources, id, root })
}
