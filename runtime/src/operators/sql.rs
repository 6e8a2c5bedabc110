//! `sql`: runs SQL on a connection.
//!
//! - Without `output`: the statements run in one transaction (all or
//!   nothing). With `args`, `query` is one statement and the args are bound
//!   to its parameters (`?`/`?1` on SQLite, `$1` on PostgreSQL), never
//!   spliced into the text. The output is `{"rows_affected": N}`, plus, for
//!   a query that returns rows, the first 100 as `rows` and their count.
//! - With `output`: `query` is one query whose rows are streamed to a CSV
//!   file (a path) or a table (`{table, connection, mode}`), written in one
//!   transaction; the output is `{"rows": N, "output": ...}`.

use std::sync::Arc;

use crate::conn::{Conn, ConnError, Pool};
use crate::context::{TaskContext, TaskError, TaskResult};
use crate::rows::postgres::PgError;
use crate::rows::reader::ReadError;
use crate::rows::writer::WriteError;
use crate::rows::{
    self, Cell, Destination, Input, Mode, RowSink, SinkError, UnknownMode, Want, Writer,
};

/// Why a `sql` task failed (and why an `output:` could not be read).
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// A parameter missing or of the wrong form (the message says which).
    #[error("{0}")]
    Param(&'static str),
    #[error("cannot read the SQL file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Mode(#[from] UnknownMode),
    #[error(transparent)]
    Connection(#[from] ConnError),
    /// The statements on the connection `connection` failed.
    #[error("connection `{connection}`: {source}")]
    Execute {
        connection: String,
        source: Box<SqlError>,
    },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Postgres(#[from] PgError),
    #[error("with `args`, `query` must be one statement")]
    OneStatement,
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("the query returned no columns")]
    NoColumns,
    /// The task was cancelled while its rows were being written.
    #[error("stopped")]
    Stopped,
    #[error("no writer")]
    NoWriter,
}

impl From<postgres::Error> for SqlError {
    fn from(e: postgres::Error) -> SqlError {
        SqlError::Postgres(e.into())
    }
}

/// Rows of a query without `output` kept in the task's output.
const SHOWN_ROWS: usize = 100;

pub async fn run(ctx: Arc<TaskContext>, params: serde_json::Value) -> TaskResult {
    let job = SqlTask::from_params(&params).map_err(|e| TaskError::failed(e.to_string()))?;
    crate::operator::blocking_json(move || job.run(&ctx)).await
}

#[derive(Debug)]
struct SqlTask {
    connection: String,
    sql: String,
    /// `file:` in object storage: read into `sql` when the task runs.
    query_object: Option<String>,
    args: Vec<serde_json::Value>,
    output: Option<Destination>,
}

/// Reads an `output:` of `sql` or `predict`: a file path, or a mapping.
pub fn output_of(
    v: &serde_json::Value,
    default_connection: Option<&str>,
) -> Result<Destination, SqlError> {
    if let Some(path) = v.as_str() {
        return Ok(file_output(path));
    }
    let s = |k: &str| v.get(k).and_then(|x| x.as_str());
    if let Some(path) = s("csv") {
        return Ok(Destination::Csv(path.to_string()));
    }
    if let Some(path) = s("parquet") {
        return Ok(Destination::Parquet(path.to_string()));
    }
    let table = s("table").ok_or(SqlError::Param(
        "`output` needs `table`, `csv` or `parquet`",
    ))?;
    let connection = s("connection")
        .or(default_connection)
        .ok_or(SqlError::Param(
            "`output` needs `connection` (the connection `table` is on)",
        ))?;
    Ok(Destination::Table {
        connection: connection.to_string(),
        table: table.to_string(),
        mode: Mode::parse(s("mode"))?,
    })
}

fn file_output(path: &str) -> Destination {
    if crate::vocabulary::is_parquet(path) {
        return Destination::Parquet(path.to_string());
    }
    Destination::Csv(path.to_string())
}

impl SqlTask {
    fn from_params(p: &serde_json::Value) -> Result<SqlTask, SqlError> {
        let connection = p
            .get("connection")
            .and_then(|v| v.as_str())
            .ok_or(SqlError::Param("`sql` needs `connection`"))?
            .to_string();
        let sql = match (
            p.get("query").and_then(|v| v.as_str()),
            p.get("file").and_then(|v| v.as_str()),
        ) {
            (Some(q), _) => q.to_string(),
            // An object is read when the task runs, on its own thread.
            (None, Some(f)) if crate::object_url::looks_like_url(f) => String::new(),
            (None, Some(f)) => std::fs::read_to_string(f).map_err(|source| SqlError::File {
                path: f.to_string(),
                source,
            })?,
            (None, None) => return Err(SqlError::Param("`sql` needs `query` or `file`")),
        };
        let args = match p.get("args") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(a)) => a.clone(),
            Some(other) => vec![other.clone()],
        };
        let output = match p.get("output") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(output_of(v, Some(&connection))?),
        };
        Ok(SqlTask {
            connection,
            sql,
            query_object: p
                .get("file")
                .and_then(|v| v.as_str())
                .filter(|f| p.get("query").is_none() && crate::object_url::looks_like_url(f))
                .map(str::to_string),
            args,
            output,
        })
    }

    fn run(mut self, ctx: &TaskContext) -> Result<serde_json::Value, SqlError> {
        if let Some(url) = self.query_object.take() {
            let url = url.as_str();
            let bytes = ctx.storage().get(url).map_err(|e| SqlError::File {
                path: url.to_string(),
                source: std::io::Error::other(e.to_string()),
            })?;
            self.sql = String::from_utf8(bytes).map_err(|_| SqlError::File {
                path: url.to_string(),
                source: std::io::Error::other("not UTF-8 text"),
            })?;
        }
        let pool = &ctx.pool;
        match &self.output {
            Some(output) => self.export(ctx, pool, output),
            None => {
                let mut conn = pool.get(&self.connection)?;
                execute(&mut conn, &self.sql, &self.args).map_err(|e| SqlError::Execute {
                    connection: self.connection.clone(),
                    source: Box::new(e),
                })
            }
        }
    }

    fn export(
        &self,
        ctx: &TaskContext,
        pool: &Pool,
        output: &Destination,
    ) -> Result<serde_json::Value, SqlError> {
        struct Export<'p> {
            pool: &'p Pool,
            output: &'p Destination,
            ds: String,
            writer: Option<Writer<'p>>,
            batch: Vec<Vec<Cell>>,
            ctx: &'p TaskContext,
        }
        impl RowSink for Export<'_> {
            fn columns(&mut self, names: &[String]) -> Result<Vec<Want>, SinkError> {
                self.writer = Some(Writer::open(
                    self.output,
                    self.pool,
                    names.to_vec(),
                    &self.ds,
                )?);
                Ok(vec![Want::Any; names.len()])
            }
            fn row(&mut self, cells: &[Cell], _at: &dyn Fn() -> String) -> Result<(), SinkError> {
                self.batch.push(cells.to_vec());
                if self.batch.len() >= 10_000 {
                    if self.ctx.is_cancelled() {
                        return Err(SqlError::Stopped.into());
                    }
                    let w = self.writer.as_mut().ok_or(SqlError::NoWriter)?;
                    w.write(&self.batch)?;
                    self.batch.clear();
                }
                Ok(())
            }
        }
        let mut sink = Export {
            pool,
            output,
            ds: ds_of(ctx),
            writer: None,
            batch: Vec::new(),
            ctx,
        };
        let input = Input::Sql {
            connection: self.connection.clone(),
            query: self.sql.clone(),
            args: self.args.clone(),
        };
        rows::read(&input, pool, &mut sink)?;
        let mut writer = sink.writer.take().ok_or(SqlError::NoColumns)?;
        writer.write(&sink.batch)?;
        let n = writer.finish()?;
        ctx.log(format!("{n} rows written to {}", describe(output)));
        Ok(serde_json::json!({ "rows": n, "output": describe(output) }))
    }
}

/// The run's logical date, `YYYY-MM-DD` (the partition of `replace_partition`).
pub fn ds_of(ctx: &TaskContext) -> String {
    chrono::DateTime::parse_from_rfc3339(&ctx.logical_date)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| ctx.logical_date.chars().take(10).collect())
}

pub fn describe(output: &Destination) -> String {
    match output {
        Destination::Csv(p) | Destination::Parquet(p) => p.clone(),
        Destination::Table {
            connection, table, ..
        } => format!("{connection}.{table}"),
    }
}

/// Whether the SQL manages its own transaction.
fn has_transaction(sql: &str) -> bool {
    sql.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .any(|w| w.eq_ignore_ascii_case("BEGIN") || w.eq_ignore_ascii_case("COMMIT"))
}

/// Runs statements (no `output`), in one transaction.
fn execute(
    conn: &mut Conn,
    sql: &str,
    args: &[serde_json::Value],
) -> Result<serde_json::Value, SqlError> {
    match conn {
        Conn::Sqlite(c) => {
            let own = !has_transaction(sql);
            if own {
                c.execute_batch("BEGIN")?;
            }
            let result = sqlite_execute(c, sql, args);
            if own {
                let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
                let done = c.execute_batch(end);
                if result.is_ok() {
                    done?;
                }
            }
            result
        }
        Conn::Postgres(c) => {
            if args.is_empty() {
                // One simple query: PostgreSQL runs its statements as one
                // transaction unless the SQL has its own.
                let messages = c.simple_query(sql)?;
                let mut affected = 0u64;
                let mut rows = Vec::new();
                let mut count = 0u64;
                for m in messages {
                    match m {
                        postgres::SimpleQueryMessage::CommandComplete(n) => affected += n,
                        postgres::SimpleQueryMessage::Row(r) => {
                            count += 1;
                            if rows.len() < SHOWN_ROWS {
                                let names = r.columns().iter().map(|c| c.name());
                                rows.push(row_json(names, |i| {
                                    r.get(i).map_or(Cell::Null, Cell::infer)
                                }));
                            }
                        }
                        _ => {}
                    }
                }
                Ok(result_json(affected, rows, count))
            } else {
                let stmt = c.prepare(sql)?;
                let params = rows::postgres::args(stmt.params(), args)?;
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    params.iter().map(|p| p.as_ref()).collect();
                if stmt.columns().is_empty() {
                    let n = c.execute(&stmt, &refs)?;
                    Ok(result_json(n, Vec::new(), 0))
                } else {
                    // Streamed: every row counted, the first SHOWN_ROWS kept.
                    use postgres::fallible_iterator::FallibleIterator;
                    let mut result = c.query_raw(
                        &stmt,
                        refs.iter().map(|p| *p as &dyn postgres::types::ToSql),
                    )?;
                    let mut rows = Vec::new();
                    let mut count = 0u64;
                    while let Some(r) = result.next()? {
                        count += 1;
                        if rows.len() < SHOWN_ROWS {
                            let names = r.columns().iter().map(|c| c.name());
                            // A type chime does not read shows as its text
                            // if it has one, else as null.
                            rows.push(row_json(names, |i| {
                                rows::postgres::cell(&r, i)
                                    .ok()
                                    .or_else(|| {
                                        r.try_get::<_, Option<String>>(i)
                                            .ok()
                                            .map(|t| t.map_or(Cell::Null, Cell::Text))
                                    })
                                    .unwrap_or(Cell::Null)
                            }));
                        }
                    }
                    Ok(result_json(0, rows, count))
                }
            }
        }
    }
}

/// A result row shown in the task's output: an object of each column's
/// name and value (`value(i)` for column `i`).
fn row_json<'a>(
    names: impl IntoIterator<Item = &'a str>,
    mut value: impl FnMut(usize) -> Cell,
) -> serde_json::Value {
    serde_json::Value::Object(
        names
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), value(i).to_json()))
            .collect(),
    )
}

fn result_json(affected: u64, rows: Vec<serde_json::Value>, count: u64) -> serde_json::Value {
    if count == 0 && rows.is_empty() {
        serde_json::json!({ "rows_affected": affected })
    } else {
        serde_json::json!({ "rows_affected": affected, "row_count": count, "rows": rows })
    }
}

fn sqlite_execute(
    c: &mut rusqlite::Connection,
    sql: &str,
    args: &[serde_json::Value],
) -> Result<serde_json::Value, SqlError> {
    let before = c.total_changes();
    if args.is_empty() {
        // Statement by statement, so the last one's rows can be shown.
        let mut rest = sql.trim();
        let mut rows = Vec::new();
        let mut count = 0u64;
        while !rest.is_empty() {
            let (stmt_rows, stmt_count, tail) = sqlite_one(c, rest, &[])?;
            if stmt_count > 0 || !stmt_rows.is_empty() {
                rows = stmt_rows;
                count = stmt_count;
            }
            rest = tail.trim();
        }
        Ok(result_json(c.total_changes() - before, rows, count))
    } else {
        let (rows, count, tail) = sqlite_one(c, sql.trim(), args)?;
        if !tail.trim().is_empty() {
            return Err(SqlError::OneStatement);
        }
        Ok(result_json(c.total_changes() - before, rows, count))
    }
}

/// Runs the first statement of `sql`; returns its rows (the first 100),
/// their count, and the SQL after it.
fn sqlite_one<'s>(
    c: &mut rusqlite::Connection,
    sql: &'s str,
    args: &[serde_json::Value],
) -> Result<(Vec<serde_json::Value>, u64, &'s str), SqlError> {
    if let Some(end) = first_statement_end(sql).filter(|e| !sql[*e..].trim().is_empty()) {
        // Several statements: the first, then the rest.
        let (head, tail) = sql.split_at(end);
        let (rows, count, _) = sqlite_one(c, head, args)?;
        return Ok((rows, count, tail));
    }
    let mut stmt = c.prepare(sql)?;
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let params = rows::sqlite::args(args);
    let mut result = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    let mut count = 0u64;
    while let Some(row) = result.next()? {
        count += 1;
        if out.len() < SHOWN_ROWS {
            out.push(row_json(names.iter().map(String::as_str), |i| {
                use rusqlite::types::ValueRef;
                match row.get_ref(i) {
                    Ok(ValueRef::Integer(x)) => Cell::Int(x),
                    Ok(ValueRef::Real(x)) => Cell::Float(x),
                    Ok(ValueRef::Text(t)) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                    _ => Cell::Null,
                }
            }));
        }
    }
    Ok((out, count, ""))
}

/// The byte offset just after the first complete statement of `sql`.
fn first_statement_end(sql: &str) -> Option<usize> {
    for (i, ch) in sql.char_indices() {
        if ch == ';' {
            let end = i + 1;
            if complete(&sql[..end]) {
                return Some(end);
            }
        }
    }
    None
}

/// Whether `sql` ends with a complete statement: a `;` outside quotes and
/// comments.
fn complete(sql: &str) -> bool {
    // Quotes and comments: a `;` inside them does not end a statement.
    let mut in_single = false;
    let mut in_double = false;
    let mut chars = sql.chars().peekable();
    let mut in_line_comment = false;
    let mut in_block_comment = false;
    let mut last = ' ';
    while let Some(c) = chars.next() {
        if in_line_comment {
            in_line_comment = c != '\n';
        } else if in_block_comment {
            if last == '*' && c == '/' {
                in_block_comment = false;
            }
        } else if in_single {
            in_single = c != '\'';
        } else if in_double {
            in_double = c != '"';
        } else {
            match c {
                '\'' => in_single = true,
                '"' => in_double = true,
                '-' if chars.peek() == Some(&'-') => in_line_comment = true,
                '*' if last == '/' => in_block_comment = true,
                _ => {}
            }
        }
        last = c;
    }
    !in_single && !in_double && !in_block_comment && sql.trim_end().ends_with(';')
}
