//! Why an operators crate could not be read.

/// Why an operators crate could not be read (E050's note). Each names the
/// file, and the line where there is one, to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrateError {
    NoDirectory(String),
    NoManifest(String),
    NoPackageName(String),
    NoLib(String),
    /// A file that could not be read as bounded UTF-8 text.
    Unreadable {
        file: String,
        why: SourceError,
    },
    Syntax {
        at: String,
        what: String,
    },
    PrivateOperator {
        at: String,
        ident: String,
    },
    MissingModule {
        at: String,
        name: String,
        flat: String,
        nested: String,
    },
    PrivateModule {
        at: String,
        ident: String,
    },
    DuplicateName {
        name: String,
        first: String,
        again: String,
    },
    BuiltinName {
        at: String,
        name: String,
    },
}

impl std::fmt::Display for CrateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CrateError::NoDirectory(dir) => write!(f, "no directory at {dir}"),
            CrateError::NoManifest(dir) => write!(
                f,
                "{dir} has no Cargo.toml: an operators crate is a Rust library crate"
            ),
            CrateError::NoPackageName(manifest) => {
                write!(f, "{manifest}: no `name` under [package]")
            }
            CrateError::NoLib(dir) => write!(
                f,
                "{dir} has no src/lib.rs: operators live in a library crate"
            ),
            CrateError::Unreadable { file, why } => write!(f, "{file}: {why}"),
            CrateError::Syntax { at, what } => write!(f, "{at}: Rust syntax error: {what}"),
            CrateError::PrivateOperator { at, ident } => write!(
                f,
                "{at}: operator `{ident}` must be `pub` so the pipeline can register it"
            ),
            CrateError::MissingModule {
                at,
                name,
                flat,
                nested,
            } => write!(
                f,
                "{at}: `mod {name};` but neither {flat} nor {nested} exists"
            ),
            CrateError::PrivateModule { at, ident } => write!(
                f,
                "{at}: module `{ident}` holds operators but is private; declare it `pub mod {ident}`"
            ),
            CrateError::DuplicateName { name, first, again } => {
                write!(f, "two operators are named `{name}`: {first} and {again}")
            }
            CrateError::BuiltinName { at, name } => write!(
                f,
                "{at}: `{name}` is the name of a built-in operator; pick another with #[chime::operator(name = \"...\")]"
            ),
        }
    }
}

impl std::error::Error for CrateError {}

/// Why a file of the crate could not be read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceError {
    /// The system's error, as its text.
    Io(String),
    TooLarge {
        mib: u64,
    },
    NotUtf8,
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceError::Io(e) => f.write_str(e),
            SourceError::TooLarge { mib } => write!(f, "larger than {mib} MiB"),
            SourceError::NotUtf8 => f.write_str("not UTF-8 text"),
        }
    }
}

impl std::error::Error for SourceError {}
