//! The generated crate: `Cargo.toml`, `Cargo.lock` and `src/main.rs`.
//!
//! Deterministic by construction: tasks in the IR's stable order, JSON
//! objects with sorted keys, no timestamps or absolute paths but the
//! runtime's. The same YAML (and runtime path) gives the same bytes.

mod cargo_toml;
mod main_rs;

use std::path::{Path, PathBuf};

use crate::ir::Ir;

/// One file of the generated crate, relative to its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    pub path: PathBuf,
    pub contents: String,
}

/// Generates the crate for `ir`, linking the runtime at `runtime_dir`.
pub fn generate(ir: &Ir, runtime_dir: &Path, source_name: &str) -> Vec<GeneratedFile> {
    let mut files = vec![
        GeneratedFile {
            path: "Cargo.toml".into(),
            contents: cargo_toml::render(ir, runtime_dir),
        },
        GeneratedFile {
            path: "src/main.rs".into(),
            contents: main_rs::render(ir, source_name),
        },
    ];
    // The runtime's own lock file pins the same dependency versions, so
    // every generated crate shares the compiled dependencies in the
    // common target directory (and builds without a registry lookup).
    if let Ok(lock) = std::fs::read_to_string(runtime_dir.join("../Cargo.lock")) {
        files.push(GeneratedFile {
            path: "Cargo.lock".into(),
            contents: lock,
        });
    }
    files
}

/// Writes the files under `dir`, leaving unchanged files untouched so that
/// cargo's freshness checks skip them.
pub fn write(dir: &Path, files: &[GeneratedFile]) -> std::io::Result<()> {
    for f in files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if std::fs::read_to_string(&path).ok().as_deref() != Some(f.contents.as_str()) {
            std::fs::write(&path, &f.contents)?;
        }
    }
    Ok(())
}
