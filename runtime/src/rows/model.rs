//! The rows model every codec shares: cells, what to read of a column,
//! inputs and outputs, and SQL names.

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
}

impl Cell {
    /// A value given as text (a PostgreSQL simple query's): an integer, a
    /// number, empty (NULL) or text.
    pub fn infer(field: &str) -> Cell {
        if field.is_empty() {
            Cell::Null
        } else if let Ok(i) = field.parse::<i64>() {
            Cell::Int(i)
        } else if let Ok(f) = field.parse::<f64>() {
            Cell::Float(f)
        } else {
            Cell::Text(field.to_string())
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(i) => Some(*i as f64),
            Cell::Float(f) => Some(*f),
            Cell::Text(t) => t.trim().parse().ok(),
            Cell::Null => None,
        }
    }

    /// The value as text (CSV, COPY): NULL is empty.
    pub(super) fn write_text(&self, out: &mut String) {
        use std::fmt::Write as _;
        match self {
            Cell::Null => {}
            Cell::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Cell::Float(f) => {
                let _ = write!(out, "{f}");
            }
            Cell::Text(t) => out.push_str(t),
        }
    }

    /// The value for an error message (text cut at 40 characters).
    pub fn describe(&self) -> String {
        match self {
            Cell::Null => "NULL".into(),
            Cell::Int(i) => format!("the integer {i}"),
            Cell::Float(f) => format!("the number {f}"),
            Cell::Text(t) if t.chars().count() > 40 => {
                format!("the text {:?}...", t.chars().take(40).collect::<String>())
            }
            Cell::Text(t) => format!("the text {t:?}"),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Cell::Null => serde_json::Value::Null,
            Cell::Int(i) => (*i).into(),
            Cell::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
            }
            Cell::Text(t) => t.clone().into(),
        }
    }
}

/// What a reader should make of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Not needed: left unread where the format allows.
    Skip,
    /// A number (a model feature): anything else is an error naming the row.
    Number,
    /// Whatever it holds.
    Any,
}

/// A [`RowSink`]'s own error, handed back by the read it stopped as it
/// is (the sink's type survives: downcast it).
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Receives the rows of a [`read`](super::reader::read).
pub trait RowSink {
    /// The source's column names, before any row: what to make of each.
    fn columns(&mut self, names: &[String]) -> Result<Vec<Want>, SinkError>;
    /// One row: a cell per column (`Cell::Null` where `Want::Skip`).
    /// `at` names the row for messages.
    fn row(&mut self, cells: &[Cell], at: &dyn Fn() -> String) -> Result<(), SinkError>;
}

/// Where rows come from.
#[derive(Debug, Clone)]
pub enum Input {
    Csv(String),
    /// A Parquet file (feature `parquet`).
    Parquet(String),
    Sql {
        connection: String,
        query: String,
        args: Vec<serde_json::Value>,
    },
}

/// Why a Parquet path (this one) cannot be used by this binary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0}: this binary was built without Parquet support (`chime build` adds it when the \
     pipeline's YAML names a Parquet file: a `parquet:` key or a path ending in .parquet; \
     a path made by a template that only renders to .parquet is not seen)"
)]
pub struct NoParquet(pub String);

/// Where a written file's bytes go: a local file (renamed into place when
/// complete) or an object being uploaded (shown when committed).
#[derive(Debug)]
pub enum Out {
    File(std::fs::File),
    #[cfg(feature = "s3")]
    Object(Box<crate::storage::ObjectWriter>),
}

impl std::io::Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::File(f) => f.write(buf),
            #[cfg(feature = "s3")]
            Out::Object(o) => o.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::File(f) => f.flush(),
            #[cfg(feature = "s3")]
            Out::Object(o) => o.flush(),
        }
    }
}

/// Why an object-store URL (this one) cannot be used by this binary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0}: this binary was built without object storage (chime build compiles it in when the \
     pipeline's YAML names an s3:// URL or has `storage:`; a path made by a template that only \
     renders to s3:// is not seen: add `storage: {{}}`)"
)]
pub struct NoStorage(pub String);

/// How rows are written to a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Append,
    /// Every row of the table is replaced.
    Replace,
    /// The rows of the run's logical date (`ds`) are replaced.
    ReplacePartition,
}

impl Mode {
    pub fn parse(s: Option<&str>) -> Result<Mode, UnknownMode> {
        match s.unwrap_or("append") {
            "append" => Ok(Mode::Append),
            "replace" => Ok(Mode::Replace),
            "replace_partition" => Ok(Mode::ReplacePartition),
            other => Err(UnknownMode(other.to_string())),
        }
    }
}

/// A `mode:` that is none of [`Mode`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`mode: {0}`: use append, replace or replace_partition")]
pub struct UnknownMode(pub String);

/// Where rows go.
#[derive(Debug, Clone)]
pub enum Destination {
    Csv(String),
    /// A Parquet file (feature `parquet`).
    Parquet(String),
    Table {
        connection: String,
        table: String,
        mode: Mode,
    },
}

pub use crate::vocabulary::is_table_name;

/// Longest column name chime writes to a table. PostgreSQL cuts names at
/// 63 bytes ([`PG_MAX_NAME`]), so there a longer one is refused rather than
/// silently shortened (two long names could become one).
const MAX_NAME: usize = 255;
const PG_MAX_NAME: usize = 63;

/// `name` as an SQL identifier: in double quotes, each `"` in it doubled,
/// so whatever a name holds (a query's result column, a source table's
/// column, a model's output) it stays one name and never becomes SQL. The
/// one way generated SQL names a column or table; [`check_column`] has
/// refused the names no quoting can carry.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for ch in name.chars() {
        if ch == '"' {
            out.push('"');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

/// Refuses a column name a table cannot take as it is: empty, holding a
/// NUL (SQLite reads a statement's text only up to it), or too long.
pub fn check_column(name: &str, pg: bool) -> Result<(), BadColumn> {
    let shown = || {
        let short: String = name.chars().take(80).collect();
        if short.len() < name.len() {
            format!("{short:?}...")
        } else {
            format!("{short:?}")
        }
    };
    let why = if name.is_empty() {
        "an empty name"
    } else if name.contains('\0') {
        "a name with a NUL character"
    } else if pg && name.len() > PG_MAX_NAME {
        "longer than PostgreSQL's 63 bytes (it would be cut short)"
    } else if name.len() > MAX_NAME {
        "longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(BadColumn {
        shown: shown(),
        why,
    })
}

/// A column name a table cannot take: `shown` is the name quoted (cut at
/// 80 characters), `why` the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the column {shown} cannot be written to a table: {why}; name it with `AS` in the query \
     (or rename the model's output or the source's column)"
)]
pub struct BadColumn {
    pub shown: String,
    pub why: &'static str,
}

/// A table name (`schema.table` or `table`) as SQL, each part quoted.
pub(super) fn quote_table(name: &str) -> String {
    name.split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_ident_doubles_embedded_quotes() {
        assert_eq!(quote_ident("plain"), "\"plain\"");
        assert_eq!(
            quote_ident("a\" INTEGER); DROP TABLE victim; COMMIT; --"),
            "\"a\"\" INTEGER); DROP TABLE victim; COMMIT; --\""
        );
        assert_eq!(quote_table("s.t"), "\"s\".\"t\"");
    }
}
