//! SQLite: a query's rows read as they come, rows written by multi-row
//! INSERTs in the writer's transaction.

use super::model::{Cell, Mode, RowSink, SinkError, Want};

/// Why a query on SQLite, or a write to it, failed.
#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("row {row}, column `{column}`: `{text}` is not a number")]
    NotANumber {
        row: u64,
        column: String,
        text: String,
    },
    #[error("row {row}, column `{column}`: a BLOB, which chime cannot use")]
    Blob { row: u64, column: String },
    #[error("{0}")]
    Sink(SinkError),
}

/// Parameters one SQLite statement may bind (SQLITE_MAX_VARIABLE_NUMBER
/// of the bundled SQLite).
const SQLITE_MAX_PARAMS: usize = 32766;

/// A JSON argument as an SQLite value.
fn arg(v: &serde_json::Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        serde_json::Value::Null => V::Null,
        serde_json::Value::Bool(b) => V::Integer(i64::from(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => V::Integer(i),
            None => V::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => V::Text(s.clone()),
        other => V::Text(other.to_string()),
    }
}

/// The JSON arguments of a statement as SQLite values.
pub fn args(args: &[serde_json::Value]) -> Vec<rusqlite::types::Value> {
    args.iter().map(arg).collect()
}

/// Reads every row of `query` on `c` into `sink`.
pub fn read(
    c: &mut rusqlite::Connection,
    query: &str,
    args: &[serde_json::Value],
    sink: &mut dyn RowSink,
) -> Result<(), SqliteError> {
    let mut stmt = c.prepare(query)?;
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let wants = sink.columns(&names).map_err(SqliteError::Sink)?;
    let params = self::args(args);
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut cells = vec![Cell::Null; names.len()];
    let mut n = 0u64;
    while let Some(row) = rows.next()? {
        n += 1;
        for (i, want) in wants.iter().enumerate() {
            use rusqlite::types::ValueRef;
            let v = row.get_ref(i)?;
            cells[i] = match (want, v) {
                (Want::Skip, _) => Cell::Null,
                (_, ValueRef::Null) => Cell::Null,
                (_, ValueRef::Integer(i)) => Cell::Int(i),
                (_, ValueRef::Real(f)) => Cell::Float(f),
                (Want::Number, ValueRef::Text(t)) => {
                    match std::str::from_utf8(t)
                        .ok()
                        .and_then(|t| t.trim().parse().ok())
                    {
                        Some(f) => Cell::Float(f),
                        None => {
                            return Err(SqliteError::NotANumber {
                                row: n,
                                column: names[i].clone(),
                                text: String::from_utf8_lossy(t).into_owned(),
                            });
                        }
                    }
                }
                (_, ValueRef::Text(t)) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                (_, ValueRef::Blob(_)) => {
                    return Err(SqliteError::Blob {
                        row: n,
                        column: names[i].clone(),
                    });
                }
            };
        }
        sink.row(&cells, &|| format!("query row {n}"))
            .map_err(SqliteError::Sink)?;
    }
    Ok(())
}

/// Inserts `rows` into `into` (`table (columns)`, quoted), `width` values a
/// row: `ds` first when the writer adds it, then the row's cells.
pub(super) fn insert(
    c: &mut rusqlite::Connection,
    into: &str,
    width: usize,
    ds: Option<&str>,
    rows: &[Vec<Cell>],
) -> Result<(), SqliteError> {
    // Many rows per INSERT (fewer statements to step), values bound in
    // place (no copy of a row).
    let per_insert = (SQLITE_MAX_PARAMS / width).clamp(1, 256);
    let offset = usize::from(ds.is_some());
    for chunk in rows.chunks(per_insert) {
        let one = format!("({})", vec!["?"; width].join(", "));
        let sql = format!(
            "INSERT INTO {into} VALUES {}",
            vec![one; chunk.len()].join(", ")
        );
        let mut stmt = c.prepare_cached(&sql)?;
        for (n, r) in chunk.iter().enumerate() {
            let base = n * width;
            if let Some(ds) = ds {
                stmt.raw_bind_parameter(base + 1, ds)?;
            }
            for (i, v) in r.iter().enumerate() {
                let at = base + i + 1 + offset;
                match v {
                    Cell::Null => stmt.raw_bind_parameter(at, rusqlite::types::Null),
                    Cell::Int(x) => stmt.raw_bind_parameter(at, x),
                    Cell::Float(x) => stmt.raw_bind_parameter(at, x),
                    Cell::Text(x) => stmt.raw_bind_parameter(at, x.as_str()),
                }?;
            }
        }
        stmt.raw_execute()?;
    }
    Ok(())
}

/// Runs one statement (never a batch).
pub(super) fn exec_one(c: &mut rusqlite::Connection, sql: &str) -> Result<(), SqliteError> {
    c.execute(sql, [])?;
    Ok(())
}

/// The column type for a first value.
pub(super) fn sql_type(c: &Cell) -> &'static str {
    match c {
        Cell::Int(_) => "INTEGER",
        Cell::Float(_) => "REAL",
        _ => "TEXT",
    }
}

/// Deletes the rows `mode` replaces from the table `q` (quoted); a table
/// that does not exist has none.
pub(super) fn empty(
    c: &mut rusqlite::Connection,
    q: &str,
    mode: Mode,
    ds: &str,
) -> Result<(), SqliteError> {
    match mode {
        Mode::Append => Ok(()),
        Mode::Replace => c
            .execute(&format!("DELETE FROM {q}"), [])
            .map(|_| ())
            .or_else(missing_ok),
        Mode::ReplacePartition => c
            .execute(&format!("DELETE FROM {q} WHERE ds = ?1"), [ds])
            .map(|_| ())
            .or_else(missing_ok),
    }
}

fn missing_ok(e: rusqlite::Error) -> Result<(), SqliteError> {
    if e.to_string().contains("no such table") {
        Ok(())
    } else {
        Err(e.into())
    }
}
