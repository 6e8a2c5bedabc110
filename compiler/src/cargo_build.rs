//! Runs cargo on a generated crate (not `build.rs`: cargo would take that
//! name for a build script).
//!
//! Every pipeline is built in one shared target directory (the user's cache,
//! or `--target-dir`), so the runtime and its dependencies are compiled
//! once and each later build compiles only the small generated crate.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// A failure of the build environment (not of the user's pipeline).
#[derive(Debug)]
pub enum BuildError {
    Io(String),
    /// cargo ran and failed; `log` holds its full output.
    Cargo {
        summary: String,
        log: PathBuf,
    },
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Io(e) => f.write_str(e),
            BuildError::Cargo { summary, log } => {
                write!(
                    f,
                    "cargo could not compile the generated crate:\n{summary}\nfull output: {}",
                    log.display()
                )
            }
        }
    }
}

/// The shared target directory: `$CHIME_TARGET_DIR`, else
/// `$XDG_CACHE_HOME/chime/target`, else `~/.cache/chime/target`.
pub fn default_target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CHIME_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    cache_dir().join("target")
}

/// Where generated crates are written by default.
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("chime")
}

/// The runtime crate the generated code links: `$CHIME_RUNTIME`, else the
/// `runtime/` directory beside the compiler's sources.
pub fn default_runtime_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CHIME_RUNTIME") {
        return PathBuf::from(dir);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime");
    here.canonicalize().unwrap_or(here)
}

/// Compiles the crate at `crate_dir`; returns the path of the binary in
/// the target directory.
pub fn build(crate_dir: &Path, name: &str, target_dir: &Path) -> Result<PathBuf, BuildError> {
    let started = Instant::now();
    let fresh = !target_dir.join("release").exists();
    if fresh {
        eprintln!(
            "   Compiling `{name}`: the first build compiles the runtime's dependencies (a few minutes); later builds take seconds"
        );
    } else {
        eprintln!("   Compiling `{name}`");
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "--color",
            "never",
            "--manifest-path",
        ])
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .map_err(|e| {
            BuildError::Io(format!(
                "cannot run cargo: {e} (is Rust installed? https://rustup.rs)"
            ))
        })?;
    let log = crate_dir.join("build.log");
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    let _ = std::fs::write(&log, &text);
    if !output.status.success() {
        return Err(BuildError::Cargo {
            summary: summarise(&text),
            log,
        });
    }
    eprintln!(
        "    Finished `{name}` in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(target_dir.join("release").join(name))
}

/// The first errors of cargo's output, not the whole wall of text.
fn summarise(text: &str) -> String {
    let mut out = Vec::new();
    let mut in_error = false;
    for line in text.lines() {
        if line.starts_with("error") {
            in_error = true;
        } else if line.starts_with("warning") {
            in_error = false;
        }
        if in_error {
            out.push(line);
        }
        if out.len() >= 30 {
            out.push("...");
            break;
        }
    }
    if out.is_empty() {
        text.lines()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        out.join("\n")
    }
}
