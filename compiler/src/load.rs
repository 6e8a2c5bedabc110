//! Which files `chime check` reads: files, directories (every `*.yaml` and
//! `*.yml` under them, hidden directories and `target/` skipped) and globs.

use std::path::{Path, PathBuf};

use crate::source::SourceFile;

/// Largest pipeline file read. A 100,000-task pipeline is about 12 MiB.
pub const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// A problem with the input itself, not its content (exit status 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Expands the command line's paths into files, sorted within each argument.
pub fn expand(args: &[String]) -> (Vec<PathBuf>, Vec<InputError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for arg in args {
        let path = Path::new(arg);
        if path.is_dir() {
            let before = files.len();
            walk(path, &mut files, &mut errors);
            if files.len() == before {
                errors.push(InputError(format!(
                    "{arg}: no *.yaml or *.yml file in this directory"
                )));
            }
        } else if path.exists() {
            files.push(path.to_path_buf());
        } else if arg.contains(['*', '?', '[']) {
            match glob::glob(arg) {
                Ok(paths) => {
                    let mut matched: Vec<PathBuf> = paths
                        .filter_map(Result::ok)
                        .filter(|p| p.is_file())
                        .collect();
                    matched.sort();
                    if matched.is_empty() {
                        errors.push(InputError(format!("{arg}: the pattern matches no file")));
                    }
                    files.extend(matched);
                }
                Err(e) => errors.push(InputError(format!("{arg}: bad pattern: {e}"))),
            }
        } else {
            errors.push(InputError(format!("{arg}: no such file or directory")));
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
    (files, errors)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<InputError>) {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => {
            errors.push(InputError(format!("{}: {e}", dir.display())));
            return;
        }
    };
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                walk(&path, files, errors);
            }
        } else if (name.ends_with(".yaml") || name.ends_with(".yml")) && !name.starts_with('.') {
            files.push(path);
        }
    }
}

/// Reads at most `limit` bytes of `path`; `Ok(None)` when it holds more.
/// The size the file system reports is not trusted: `/dev/zero`, a pipe or
/// a file still growing report 0, so the read itself stops at `limit + 1`.
pub fn read_limited(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() > limit {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// Reads one file, refusing what is too large or not UTF-8.
pub fn read(path: &Path) -> Result<SourceFile, InputError> {
    let shown = path.display().to_string();
    let bytes = read_limited(path, MAX_FILE_SIZE)
        .map_err(|e| InputError(format!("{shown}: {e}")))?
        .ok_or_else(|| {
            InputError(format!(
                "{shown}: more than {} MiB; pipeline files are limited to {} MiB (is it a pipeline file?)",
                MAX_FILE_SIZE / (1024 * 1024),
                MAX_FILE_SIZE / (1024 * 1024)
            ))
        })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        InputError(format!(
            "{shown}:{line}: the file is not UTF-8 text (bad byte at offset {at}); save it as UTF-8"
        ))
    })?;
    Ok(SourceFile::new(shown, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/dev/zero` reports a size of 0 and never ends: the read stops at
    /// the limit and the error names the file.
    #[test]
    fn an_endless_file_is_refused_at_the_size_limit() {
        let started = std::time::Instant::now();
        let err = read(Path::new("/dev/zero")).unwrap_err();
        assert!(err.0.starts_with("/dev/zero: more than 64 MiB"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        assert_eq!(read_limited(Path::new("/dev/zero"), 10).unwrap(), None);
    }

    #[test]
    fn a_file_at_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.yaml");
        std::fs::write(&path, "0123456789").unwrap();
        assert_eq!(read_limited(&path, 10).unwrap().unwrap(), b"0123456789");
        assert_eq!(read_limited(&path, 9).unwrap(), None);
    }
}
