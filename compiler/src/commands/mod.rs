//! The `chime` commands, one file each. A command owns its arguments (a
//! clap `Args` struct), writes its own output, and returns a typed
//! [`Error`]; `cli.rs` alone prints errors and maps them to exit statuses.

use std::path::{Path, PathBuf};

use crate::analysis::Analysis;
use crate::diagnostic::Diagnostics;
use crate::discover::Crates;
use crate::load::InputError;
use crate::render::{self, Summary};
use crate::source::Sources;

pub mod build;
pub mod check;
pub mod explain;
pub mod export;
pub mod graph;
pub mod init;
pub mod next;
pub mod schema;

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Error {
    /// The pipeline has errors; its diagnostics are printed already.
    Invalid,
    /// Some inputs could not be read; each is reported already.
    Unreadable,
    /// A file chime was asked to read could not be read.
    Input(InputError),
    /// An argument chime cannot use (the message says which and why).
    Usage(String),
    /// A file or directory chime writes could not be written.
    Write { path: PathBuf, err: std::io::Error },
    /// The generated crate could not be written to its directory.
    WriteCrate { dir: PathBuf, err: std::io::Error },
    /// `--runtime` (or the default) has no runtime crate.
    NoRuntime(PathBuf),
    /// cargo could not compile the generated crate.
    Cargo(crate::cargo_build::BuildError),
    /// The `--deploy` files could not be written.
    Deploy(std::io::Error),
    /// Copying the built binary into place failed.
    Copy {
        from: PathBuf,
        to: PathBuf,
        err: std::io::Error,
    },
}

impl Error {
    /// The exit status (docs/checks.md): 1 for a pipeline with errors, 2 for
    /// bad usage, unreadable input or a failed build environment.
    pub fn exit_status(&self) -> u8 {
        match self {
            Error::Invalid => 1,
            _ => 2,
        }
    }

    /// Whether the problem was reported with the command's output already.
    pub fn reported(&self) -> bool {
        matches!(self, Error::Invalid | Error::Unreadable)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Invalid => f.write_str("the pipeline has errors"),
            Error::Unreadable => f.write_str("some inputs could not be read"),
            Error::Input(e) => write!(f, "{e}"),
            Error::Usage(m) => f.write_str(m),
            Error::Write { path, err } => write!(f, "{}: {err}", path.display()),
            Error::WriteCrate { dir, err } => {
                write!(f, "writing the crate to {}: {err}", dir.display())
            }
            Error::NoRuntime(dir) => write!(
                f,
                "no chime runtime at {} (set --runtime or CHIME_RUNTIME to the runtime/ directory of chime's sources)",
                dir.display()
            ),
            Error::Cargo(e) => write!(f, "{e}"),
            Error::Deploy(e) => write!(f, "writing deployment files: {e}"),
            Error::Copy { from, to, err } => {
                write!(f, "copying {} to {}: {err}", from.display(), to.display())
            }
        }
    }
}

impl std::error::Error for Error {}

/// For the commands that need a valid pipeline (`build`, `graph`): reads
/// and checks `file` once and hands its [`Analysis`] to `then`. Diagnostics
/// (warnings too) go to stderr; a pipeline with errors is [`Error::Invalid`].
pub fn checked<T>(
    file: &Path,
    then: impl FnOnce(&Analysis<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut sources = Sources::default();
    let id = sources.add(crate::load::read(file).map_err(Error::Input)?);
    let source = sources.get(id);
    let mut diags = Diagnostics::default();
    let doc = crate::syntax::yaml::parse(id, &source.text, &mut diags);
    let analysis = crate::check::analyse(id, source, &doc, &mut Crates::default(), &mut diags);
    let failed = diags.has_errors();
    let diags = diags.into_sorted();
    for d in &diags {
        eprintln!("{}\n", render::human(d, &sources, false));
    }
    match analysis {
        Some(analysis) if !failed => then(&analysis),
        _ => {
            eprintln!("{}", render::human_summary(Summary::of(&diags, 1)));
            Err(Error::Invalid)
        }
    }
}
