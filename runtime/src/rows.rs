//! Rows in and out of the `sql` and `predict` operators: CSV files and
//! query results are read row by row (never whole), and rows are written
//! to CSV files or to tables in one transaction, so a task that fails
//! leaves its target as it was.

use std::io::Write;

use crate::conn::{Conn, Pool, pg_error};

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

    fn write_text(&self, out: &mut String) {
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

/// Receives the rows of a [`read`].
pub trait RowSink {
    /// The source's column names, before any row: what to make of each.
    fn columns(&mut self, names: &[String]) -> Result<Vec<Want>, String>;
    /// One row: a cell per column (`Cell::Null` where `Want::Skip`).
    /// `at` names the row for messages.
    fn row(&mut self, cells: &[Cell], at: &dyn Fn() -> String) -> Result<(), String>;
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

/// Reads every row of `input` into `sink`, in order, without holding more
/// than one row.
pub fn read(input: &Input, pool: &Pool, sink: &mut dyn RowSink) -> Result<(), String> {
    match input {
        Input::Csv(path) => read_csv(path, sink),
        #[cfg(feature = "parquet")]
        Input::Parquet(path) => crate::parquet_io::read(path, sink),
        #[cfg(not(feature = "parquet"))]
        Input::Parquet(path) => Err(no_parquet(path)),
        Input::Sql {
            connection,
            query,
            args,
        } => {
            let mut conn = pool.get(connection)?;
            match &mut *conn {
                Conn::Sqlite(c) => read_sqlite(c, query, args, sink),
                Conn::Postgres(c) => read_postgres(c, query, args, sink),
            }
            .map_err(|e| format!("connection `{connection}`: {e}"))
        }
    }
}

/// Why a Parquet path cannot be used by this binary.
pub fn no_parquet(path: &str) -> String {
    format!(
        "{path}: this binary was built without Parquet support (`chime build` adds it when the \
         pipeline's YAML names a Parquet file: a `parquet:` key or a path ending in .parquet; \
         a path made by a template that only renders to .parquet is not seen)"
    )
}

fn read_csv(path: &str, sink: &mut dyn RowSink) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let headers = reader
        .headers()
        .map_err(|e| format!("{path}: cannot read the header line: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect::<Vec<_>>();
    let wants = sink.columns(&headers)?;
    let mut record = csv::ByteRecord::new();
    let mut cells = vec![Cell::Null; headers.len()];
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(format!("{path} line {line}: {}", csv_error(&e)));
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != headers.len() {
            return Err(format!(
                "{path} line {line}: {} fields, but the header has {}",
                record.len(),
                headers.len()
            ));
        }
        for (i, want) in wants.iter().enumerate() {
            let raw = &record[i];
            cells[i] = match want {
                Want::Skip => Cell::Null,
                // An empty field is a missing value (the reader decides).
                Want::Number if raw.trim_ascii().is_empty() => Cell::Null,
                Want::Number => {
                    // Straight from the bytes: no UTF-8 pass, no copy.
                    match fast_float2::parse::<f64, _>(raw.trim_ascii()) {
                        Ok(f) => Cell::Float(f),
                        Err(_) => {
                            return Err(format!(
                                "{path} line {line}, column `{}`: `{}` is not a number",
                                headers[i],
                                String::from_utf8_lossy(raw)
                            ));
                        }
                    }
                }
                // Text exactly as written: inferring a number would turn
                // `007` into 7 and cut a 23-digit id to a float's 17.
                Want::Any => match std::str::from_utf8(raw) {
                    Ok("") => Cell::Null,
                    Ok(t) => Cell::Text(t.to_string()),
                    Err(_) => {
                        return Err(format!(
                            "{path} line {line}, column `{}`: not UTF-8 text",
                            headers[i]
                        ));
                    }
                },
            };
        }
        sink.row(&cells, &|| format!("{path} line {line}"))?;
    }
}

fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields, but the header has {expected_len}"),
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => e.to_string(),
    }
}

/// A JSON argument as an SQLite value.
fn sqlite_arg(v: &serde_json::Value) -> rusqlite::types::Value {
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

pub fn sqlite_args(args: &[serde_json::Value]) -> Vec<rusqlite::types::Value> {
    args.iter().map(sqlite_arg).collect()
}

fn read_sqlite(
    c: &mut rusqlite::Connection,
    query: &str,
    args: &[serde_json::Value],
    sink: &mut dyn RowSink,
) -> Result<(), String> {
    let mut stmt = c.prepare(query).map_err(|e| e.to_string())?;
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let wants = sink.columns(&names)?;
    let params = sqlite_args(args);
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .map_err(|e| e.to_string())?;
    let mut cells = vec![Cell::Null; names.len()];
    let mut n = 0u64;
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        n += 1;
        for (i, want) in wants.iter().enumerate() {
            use rusqlite::types::ValueRef;
            let v = row.get_ref(i).map_err(|e| e.to_string())?;
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
                            return Err(format!(
                                "row {n}, column `{}`: `{}` is not a number",
                                names[i],
                                String::from_utf8_lossy(t)
                            ));
                        }
                    }
                }
                (_, ValueRef::Text(t)) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                (_, ValueRef::Blob(_)) => {
                    return Err(format!(
                        "row {n}, column `{}`: a BLOB, which chime cannot use",
                        names[i]
                    ));
                }
            };
        }
        sink.row(&cells, &|| format!("query row {n}"))?;
    }
    Ok(())
}

/// JSON arguments as values of the statement's parameter types.
pub fn pg_args(
    types: &[postgres::types::Type],
    args: &[serde_json::Value],
) -> Result<Vec<Box<dyn postgres::types::ToSql + Sync>>, String> {
    use postgres::types::Type;
    if types.len() != args.len() {
        return Err(format!(
            "the statement has {} parameters ($1 ...), `args` has {}",
            types.len(),
            args.len()
        ));
    }
    let mut out: Vec<Box<dyn postgres::types::ToSql + Sync>> = Vec::new();
    for (i, (ty, v)) in types.iter().zip(args).enumerate() {
        let bad = || format!("argument ${}: {v} does not fit the type {ty}", i + 1);
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if v.is_null() {
            out.push(Box::new(None::<String>));
            continue;
        }
        let boxed: Box<dyn postgres::types::ToSql + Sync> = match *ty {
            Type::INT2 => Box::new(text.parse::<i16>().map_err(|_| bad())?),
            Type::INT4 => Box::new(text.parse::<i32>().map_err(|_| bad())?),
            Type::INT8 => Box::new(text.parse::<i64>().map_err(|_| bad())?),
            Type::FLOAT4 => Box::new(text.parse::<f32>().map_err(|_| bad())?),
            Type::FLOAT8 => Box::new(text.parse::<f64>().map_err(|_| bad())?),
            Type::BOOL => Box::new(match text.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(bad()),
            }),
            Type::DATE => {
                Box::new(chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| bad())?)
            }
            Type::TIMESTAMPTZ => Box::new(
                chrono::DateTime::parse_from_rfc3339(&text)
                    .map_err(|_| bad())?
                    .with_timezone(&chrono::Utc),
            ),
            Type::TIMESTAMP => Box::new(
                chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S")
                    .or_else(|_| chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S"))
                    .map_err(|_| bad())?,
            ),
            _ => Box::new(text),
        };
        out.push(boxed);
    }
    Ok(out)
}

/// Value `i` of a PostgreSQL row as a cell.
pub(crate) fn pg_cell(row: &postgres::Row, i: usize) -> Result<Cell, String> {
    use postgres::types::Type;
    let col = &row.columns()[i];
    let err = |e: postgres::Error| format!("column `{}`: {e}", col.name());
    let ty = col.type_().clone();
    Ok(match ty {
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)
            .map_err(err)?
            .map_or(Cell::Null, |v| Cell::Int(v.into())),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)
            .map_err(err)?
            .map_or(Cell::Null, |v| Cell::Int(v.into())),
        Type::INT8 => row
            .try_get::<_, Option<i64>>(i)
            .map_err(err)?
            .map_or(Cell::Null, Cell::Int),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)
            .map_err(err)?
            .map_or(Cell::Null, |v| Cell::Float(v.into())),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(i)
            .map_err(err)?
            .map_or(Cell::Null, Cell::Float),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)
            .map_err(err)?
            .map_or(Cell::Null, |v| Cell::Int(v.into())),
        Type::DATE => row
            .try_get::<_, Option<chrono::NaiveDate>>(i)
            .map_err(err)?
            .map_or(Cell::Null, |d| Cell::Text(d.to_string())),
        Type::TIMESTAMP => row
            .try_get::<_, Option<chrono::NaiveDateTime>>(i)
            .map_err(err)?
            .map_or(Cell::Null, |d| {
                Cell::Text(d.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
            }),
        Type::TIMESTAMPTZ => row
            .try_get::<_, Option<chrono::DateTime<chrono::Utc>>>(i)
            .map_err(err)?
            .map_or(Cell::Null, |d| Cell::Text(d.to_rfc3339())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
            .try_get::<_, Option<String>>(i)
            .map_err(err)?
            .map_or(Cell::Null, Cell::Text),
        // sum(), avg() and round() give numeric: an integer when it has no
        // decimals and fits, else a float (text when neither).
        Type::NUMERIC => row
            .try_get::<_, Option<Numeric>>(i)
            .map_err(err)?
            .map_or(Cell::Null, |n| n.cell()),
        other => {
            return Err(format!(
                "column `{}` has the type {other}, which chime does not read: cast it in the query (`{}::float8` or `{}::text`)",
                col.name(),
                col.name(),
                col.name()
            ));
        }
    })
}

/// A PostgreSQL `numeric`, decoded from its binary form (base-10000
/// digits) to decimal text, exactly.
struct Numeric {
    text: String,
    scale: u16,
}

impl Numeric {
    fn cell(self) -> Cell {
        if self.scale == 0
            && let Ok(i) = self.text.parse::<i64>()
        {
            return Cell::Int(i);
        }
        match self.text.parse::<f64>() {
            Ok(f) => Cell::Float(f),
            Err(_) => Cell::Text(self.text),
        }
    }
}

impl<'a> postgres::types::FromSql<'a> for Numeric {
    fn from_sql(
        _: &postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        use std::fmt::Write as _;
        let word = |k: usize| -> Result<u16, String> {
            raw.get(k * 2..k * 2 + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| "a numeric value cut short".to_string())
        };
        let (ndigits, weight, sign, scale) = (word(0)?, word(1)? as i16, word(2)?, word(3)?);
        let special = match sign {
            0xC000 => Some("NaN"),
            0xD000 => Some("inf"),
            0xF000 => Some("-inf"),
            _ => None,
        };
        if let Some(text) = special {
            return Ok(Numeric {
                text: text.into(),
                scale,
            });
        }
        let digits = (0..usize::from(ndigits))
            .map(|k| word(4 + k))
            .collect::<Result<Vec<u16>, String>>()?;
        // Digit group `g` counts 10000^(weight - g).
        let group = |g: i32| usize::try_from(g).ok().and_then(|g| digits.get(g)).copied();
        let mut text = String::new();
        if sign == 0x4000 {
            text.push('-');
        }
        if weight < 0 {
            text.push('0');
        }
        for g in 0..=i32::from(weight) {
            let d = group(g).unwrap_or(0);
            let _ = if g == 0 {
                write!(text, "{d}")
            } else {
                write!(text, "{d:04}")
            };
        }
        if scale > 0 {
            let mut frac = String::new();
            let mut g = i32::from(weight) + 1;
            while frac.len() < usize::from(scale) {
                let _ = write!(frac, "{:04}", group(g).unwrap_or(0));
                g += 1;
            }
            frac.truncate(usize::from(scale));
            text.push('.');
            text.push_str(&frac);
        }
        Ok(Numeric { text, scale })
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        *ty == postgres::types::Type::NUMERIC
    }
}

fn read_postgres(
    c: &mut postgres::Client,
    query: &str,
    args: &[serde_json::Value],
    sink: &mut dyn RowSink,
) -> Result<(), String> {
    use postgres::fallible_iterator::FallibleIterator;
    let stmt = c.prepare(query).map_err(|e| pg_error(&e))?;
    let names: Vec<String> = stmt
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let wants = sink.columns(&names)?;
    let params = pg_args(stmt.params(), args)?;
    let mut rows = c
        .query_raw(
            &stmt,
            params
                .iter()
                .map(|p| p.as_ref() as &dyn postgres::types::ToSql),
        )
        .map_err(|e| pg_error(&e))?;
    let mut cells = vec![Cell::Null; names.len()];
    let mut n = 0u64;
    while let Some(row) = rows.next().map_err(|e| pg_error(&e))? {
        n += 1;
        for (i, want) in wants.iter().enumerate() {
            cells[i] = match want {
                Want::Skip => Cell::Null,
                Want::Number => match pg_cell(&row, i)? {
                    Cell::Text(t) => match t.trim().parse::<f64>() {
                        Ok(f) => Cell::Float(f),
                        Err(_) => {
                            return Err(format!(
                                "row {n}, column `{}`: `{t}` is not a number",
                                names[i]
                            ));
                        }
                    },
                    other => other,
                },
                Want::Any => pg_cell(&row, i)?,
            };
        }
        sink.row(&cells, &|| format!("query row {n}"))?;
    }
    Ok(())
}

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
    pub fn parse(s: Option<&str>) -> Result<Mode, String> {
        match s.unwrap_or("append") {
            "append" => Ok(Mode::Append),
            "replace" => Ok(Mode::Replace),
            "replace_partition" => Ok(Mode::ReplacePartition),
            other => Err(format!(
                "`mode: {other}`: use append, replace or replace_partition"
            )),
        }
    }
}

/// Where rows go.
#[derive(Debug, Clone)]
pub enum Output {
    Csv(String),
    /// A Parquet file (feature `parquet`).
    Parquet(String),
    Table {
        connection: String,
        table: String,
        mode: Mode,
    },
}

pub use crate::spec::is_table_name;

/// Parameters one SQLite statement may bind (SQLITE_MAX_VARIABLE_NUMBER
/// of the bundled SQLite).
const SQLITE_MAX_PARAMS: usize = 32766;

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
pub fn check_column(name: &str, pg: bool) -> Result<(), String> {
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
    Err(format!(
        "the column {} cannot be written to a table: {why}; name it with `AS` in the query \
         (or rename the model's output or the source's column)",
        shown()
    ))
}

fn quote_table(name: &str) -> String {
    name.split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

/// Runs one statement of SQL chime generated, never a batch: whatever a
/// name in it held, at most this one statement runs.
fn exec_one(conn: &mut Conn, sql: &str) -> Result<(), String> {
    match conn {
        Conn::Sqlite(c) => c.execute(sql, []).map(|_| ()).map_err(|e| e.to_string()),
        Conn::Postgres(c) => c.execute(sql, &[]).map(|_| ()).map_err(|e| pg_error(&e)),
    }
}

/// Writes rows; nothing is visible until [`Writer::finish`], and a writer
/// dropped before it leaves the target as it was.
pub struct Writer<'p> {
    columns: Vec<String>,
    /// Index of the `ds` column the writer adds, when the rows lack one.
    add_ds: bool,
    ds: String,
    rows: u64,
    target: Target<'p>,
}

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("columns", &self.columns)
            .field("rows", &self.rows)
            .finish()
    }
}

enum Target<'p> {
    Csv {
        path: String,
        tmp: std::path::PathBuf,
        w: Box<csv::Writer<std::io::BufWriter<std::fs::File>>>,
    },
    #[cfg(feature = "parquet")]
    Parquet {
        path: String,
        tmp: std::path::PathBuf,
        w: Box<crate::parquet_io::ParquetWriter>,
    },
    Table {
        conn: crate::conn::Lease<'p>,
        table: String,
        mode: Mode,
        /// Created (and emptied per mode) on the first batch.
        ready: bool,
        /// Text of a COPY batch (PostgreSQL).
        buf: String,
        done: bool,
    },
}

impl<'p> Writer<'p> {
    /// Opens `output` for rows with `columns`. Tables get a `ds` column
    /// (the run's logical date) unless the rows have one.
    pub fn open(
        output: &Output,
        pool: &'p Pool,
        columns: Vec<String>,
        ds: &str,
    ) -> Result<Writer<'p>, String> {
        let target = match output {
            #[cfg(not(feature = "parquet"))]
            Output::Parquet(path) => return Err(no_parquet(path)),
            #[cfg(feature = "parquet")]
            Output::Parquet(path) => {
                let (tmp, file) = partial_file(path)?;
                Target::Parquet {
                    path: path.clone(),
                    tmp,
                    w: Box::new(crate::parquet_io::ParquetWriter::new(file, columns.clone())),
                }
            }
            Output::Csv(path) => {
                let (tmp, file) = partial_file(path)?;
                let mut w =
                    csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
                w.write_record(&columns).map_err(|e| e.to_string())?;
                Target::Csv {
                    path: path.clone(),
                    tmp,
                    w: Box::new(w),
                }
            }
            Output::Table {
                connection,
                table,
                mode,
            } => {
                if !is_table_name(table) {
                    return Err(format!(
                        "`{table}` is not a table name (letters, digits and _, optionally schema.table)"
                    ));
                }
                let pg = matches!(pool.target(connection)?, crate::conn::Target::Postgres(_));
                for c in &columns {
                    check_column(c, pg)?;
                }
                let mut conn = pool.get(connection)?;
                let begin = match &*conn {
                    Conn::Sqlite(_) => "BEGIN IMMEDIATE",
                    Conn::Postgres(_) => "BEGIN",
                };
                exec_one(&mut conn, begin)?;
                Target::Table {
                    conn,
                    table: table.clone(),
                    mode: *mode,
                    ready: false,
                    buf: String::new(),
                    done: false,
                }
            }
        };
        let add_ds = matches!(target, Target::Table { .. }) && !columns.iter().any(|c| c == "ds");
        let mut columns = columns;
        if add_ds {
            columns.insert(0, "ds".into());
        }
        Ok(Writer {
            columns,
            add_ds,
            ds: ds.to_string(),
            rows: 0,
            target,
        })
    }

    /// Writes a batch of rows (each with the columns given to `open`, in
    /// order, without the added `ds`).
    pub fn write(&mut self, rows: &[Vec<Cell>]) -> Result<(), String> {
        if rows.is_empty() {
            return Ok(());
        }
        let ds_cell = Cell::Text(self.ds.clone());
        let columns = &self.columns;
        let add_ds = self.add_ds;
        let full = |r: &Vec<Cell>| -> Vec<Cell> {
            if add_ds {
                std::iter::once(ds_cell.clone())
                    .chain(r.iter().cloned())
                    .collect()
            } else {
                r.clone()
            }
        };
        match &mut self.target {
            #[cfg(feature = "parquet")]
            Target::Parquet { w, path, .. } => w.write(rows).map_err(|e| format!("{path}: {e}"))?,
            Target::Csv { w, .. } => {
                let mut field = String::new();
                for r in rows {
                    for c in r {
                        field.clear();
                        c.write_text(&mut field);
                        w.write_field(&field).map_err(|e| e.to_string())?;
                    }
                    w.write_record(None::<&[u8]>).map_err(|e| e.to_string())?;
                }
            }
            Target::Table {
                conn,
                table,
                mode,
                ready,
                buf,
                ..
            } => {
                if !*ready {
                    let first = full(&rows[0]);
                    prepare_table(conn, table, *mode, columns, &first, &self.ds)?;
                    *ready = true;
                }
                let cols = columns
                    .iter()
                    .map(|c| quote_ident(c))
                    .collect::<Vec<_>>()
                    .join(", ");
                match &mut **conn {
                    Conn::Sqlite(c) => {
                        // Many rows per INSERT (fewer statements to step),
                        // values bound in place (no copy of a row).
                        let width = columns.len();
                        let per_insert = (SQLITE_MAX_PARAMS / width).clamp(1, 256);
                        let err = |e: rusqlite::Error| e.to_string();
                        let offset = usize::from(add_ds);
                        for chunk in rows.chunks(per_insert) {
                            let one = format!("({})", vec!["?"; width].join(", "));
                            let sql = format!(
                                "INSERT INTO {} ({cols}) VALUES {}",
                                quote_table(table),
                                vec![one; chunk.len()].join(", ")
                            );
                            let mut stmt = c.prepare_cached(&sql).map_err(err)?;
                            for (n, r) in chunk.iter().enumerate() {
                                let base = n * width;
                                if add_ds {
                                    stmt.raw_bind_parameter(base + 1, self.ds.as_str())
                                        .map_err(err)?;
                                }
                                for (i, v) in r.iter().enumerate() {
                                    let at = base + i + 1 + offset;
                                    match v {
                                        Cell::Null => {
                                            stmt.raw_bind_parameter(at, rusqlite::types::Null)
                                        }
                                        Cell::Int(x) => stmt.raw_bind_parameter(at, x),
                                        Cell::Float(x) => stmt.raw_bind_parameter(at, x),
                                        Cell::Text(x) => stmt.raw_bind_parameter(at, x.as_str()),
                                    }
                                    .map_err(err)?;
                                }
                            }
                            stmt.raw_execute().map_err(err)?;
                        }
                    }
                    Conn::Postgres(c) => {
                        buf.clear();
                        for r in rows {
                            for (i, v) in full(r).iter().enumerate() {
                                if i > 0 {
                                    buf.push('\t');
                                }
                                copy_text(v, buf);
                            }
                            buf.push('\n');
                        }
                        let mut w = c
                            .copy_in(&format!("COPY {} ({cols}) FROM STDIN", quote_table(table)))
                            .map_err(|e| pg_error(&e))?;
                        w.write_all(buf.as_bytes()).map_err(|e| e.to_string())?;
                        w.finish().map_err(|e| pg_error(&e))?;
                    }
                }
            }
        }
        self.rows += rows.len() as u64;
        Ok(())
    }

    /// Makes the rows visible (commits, or moves the file into place) and
    /// returns how many were written.
    pub fn finish(mut self) -> Result<u64, String> {
        match &mut self.target {
            #[cfg(feature = "parquet")]
            Target::Parquet { path, tmp, w } => {
                w.finish()?;
                std::fs::rename(&*tmp, &*path).map_err(|e| format!("cannot write {path}: {e}"))?;
            }
            Target::Csv { path, tmp, w } => {
                w.flush().map_err(|e| e.to_string())?;
                std::fs::rename(&*tmp, &*path).map_err(|e| format!("cannot write {path}: {e}"))?;
            }
            Target::Table {
                conn,
                table,
                mode,
                ready,
                done,
                ..
            } => {
                if !*ready {
                    // No rows: the table's rows (of the day) are still replaced.
                    empty_table(conn, table, *mode, &self.ds)?;
                }
                exec_one(conn, "COMMIT")?;
                *done = true;
            }
        }
        Ok(self.rows)
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        match &mut self.target {
            Target::Csv { tmp, .. } => {
                let _ = std::fs::remove_file(&*tmp);
            }
            #[cfg(feature = "parquet")]
            Target::Parquet { tmp, .. } => {
                let _ = std::fs::remove_file(&*tmp);
            }
            Target::Table {
                conn, done: false, ..
            } => {
                let _ = exec_one(conn, "ROLLBACK");
            }
            Target::Table { .. } => {}
        }
    }
}

/// `PATH.partial` beside `path` (its folder created), opened for writing:
/// renamed to `path` when complete, so a reader never sees half a file.
fn partial_file(path: &str) -> Result<(std::path::PathBuf, std::fs::File), String> {
    let p = std::path::Path::new(path);
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut tmp = p.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = std::path::PathBuf::from(tmp);
    let file =
        std::fs::File::create(&tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    Ok((tmp, file))
}

/// A value in COPY's text format.
fn copy_text(v: &Cell, out: &mut String) {
    match v {
        Cell::Null => out.push_str("\\N"),
        Cell::Text(t) => {
            for ch in t.chars() {
                match ch {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
        other => other.write_text(out),
    }
}

fn sql_type(c: &Cell, pg: bool) -> &'static str {
    match (c, pg) {
        (Cell::Int(_), false) => "INTEGER",
        (Cell::Int(_), true) => "BIGINT",
        (Cell::Float(_), false) => "REAL",
        (Cell::Float(_), true) => "DOUBLE PRECISION",
        _ => "TEXT",
    }
}

/// Creates the table if it does not exist (column types from the first
/// row) and empties it as `mode` says, inside the writer's transaction.
fn prepare_table(
    conn: &mut Conn,
    table: &str,
    mode: Mode,
    columns: &[String],
    first: &[Cell],
    ds: &str,
) -> Result<(), String> {
    let pg = matches!(conn, Conn::Postgres(_));
    let defs = columns
        .iter()
        .zip(first)
        .map(|(c, v)| format!("{} {}", quote_ident(c), sql_type(v, pg)))
        .collect::<Vec<_>>()
        .join(", ");
    let create = format!("CREATE TABLE IF NOT EXISTS {} ({defs})", quote_table(table));
    exec_one(conn, &create)?;
    empty_table(conn, table, mode, ds)
}

fn empty_table(conn: &mut Conn, table: &str, mode: Mode, ds: &str) -> Result<(), String> {
    let q = quote_table(table);
    match (conn, mode) {
        (_, Mode::Append) => Ok(()),
        (Conn::Sqlite(c), Mode::Replace) => c
            .execute(&format!("DELETE FROM {q}"), [])
            .map(|_| ())
            .or_else(missing_ok),
        (Conn::Sqlite(c), Mode::ReplacePartition) => c
            .execute(&format!("DELETE FROM {q} WHERE ds = ?1"), [ds])
            .map(|_| ())
            .or_else(missing_ok),
        (Conn::Postgres(c), m) => {
            let sql = if m == Mode::Replace {
                format!("DELETE FROM {q} WHERE $1::text IS NOT NULL")
            } else {
                format!("DELETE FROM {q} WHERE ds = $1")
            };
            // A missing table has nothing to replace; SAVEPOINT keeps the
            // transaction usable after that error.
            c.execute("SAVEPOINT chime_empty", &[])
                .map_err(|e| pg_error(&e))?;
            match c.execute(&sql, &[&ds]) {
                Ok(_) => c
                    .execute("RELEASE SAVEPOINT chime_empty", &[])
                    .map(|_| ())
                    .map_err(|e| pg_error(&e)),
                Err(e) if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) => c
                    .execute("ROLLBACK TO SAVEPOINT chime_empty", &[])
                    .map(|_| ())
                    .map_err(|e| pg_error(&e)),
                Err(e) => Err(pg_error(&e)),
            }
        }
    }
}

fn missing_ok(e: rusqlite::Error) -> Result<(), String> {
    if e.to_string().contains("no such table") {
        Ok(())
    } else {
        Err(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres::types::{FromSql, Type};

    const HOSTILE: &str = "a\" INTEGER); DROP TABLE victim; COMMIT; --";

    fn sqlite_pool(dir: &std::path::Path) -> (Pool, std::path::PathBuf) {
        let db = dir.join("x.db");
        let url = format!("sqlite://{}", db.display());
        let pool = Pool::new([("db".to_string(), url)].into(), Default::default());
        (pool, db)
    }

    fn table(mode: Mode) -> Output {
        Output::Table {
            connection: "db".into(),
            table: "out".into(),
            mode,
        }
    }

    fn names_and_rows(db: &std::path::Path, table: &str) -> (Vec<String>, Vec<Vec<String>>) {
        let c = rusqlite::Connection::open(db).unwrap();
        let mut s = c.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let names = s.column_names().map(|n| n.to_string()).collect();
        let width = s.column_count();
        let rows = s
            .query_map([], |r| {
                (0..width)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect()
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        (names, rows)
    }

    #[test]
    fn quote_ident_doubles_embedded_quotes() {
        assert_eq!(quote_ident("plain"), "\"plain\"");
        assert_eq!(
            quote_ident(HOSTILE),
            "\"a\"\" INTEGER); DROP TABLE victim; COMMIT; --\""
        );
        assert_eq!(quote_table("s.t"), "\"s\".\"t\"");
    }

    #[test]
    fn identifier_with_quote_cannot_inject_sql() {
        let dir = tempfile::tempdir().unwrap();
        let (pool, db) = sqlite_pool(dir.path());
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE victim (x INTEGER); INSERT INTO victim VALUES (1);")
            .unwrap();
        let mut w = Writer::open(
            &table(Mode::Append),
            &pool,
            vec![HOSTILE.into()],
            "2026-11-24",
        )
        .unwrap();
        w.write(&[vec![Cell::Int(5)]]).unwrap();
        assert_eq!(w.finish(), Ok(1));
        let (names, rows) = names_and_rows(&db, "out");
        assert_eq!(names, ["ds", HOSTILE], "the column has the name as it was");
        assert_eq!(rows, [["Text(\"2026-11-24\")", "Integer(5)"]]);
        assert_eq!(names_and_rows(&db, "victim").1, [["Integer(1)"]]);
    }

    #[test]
    fn names_a_table_cannot_take_are_refused_before_any_write() {
        for (name, pg, why) in [
            ("", false, "an empty name"),
            ("a\0b", false, "NUL"),
            (&*"x".repeat(256), false, "longer than 255 bytes"),
            (&*"x".repeat(64), true, "63 bytes"),
        ] {
            let err = check_column(name, pg).unwrap_err();
            assert!(err.contains(why), "{name:?}: {err}");
        }
        assert_eq!(check_column(&"x".repeat(64), false), Ok(()));
        assert_eq!(check_column(HOSTILE, true), Ok(()));

        let dir = tempfile::tempdir().unwrap();
        let (pool, db) = sqlite_pool(dir.path());
        let mut w = Writer::open(&table(Mode::Append), &pool, vec!["x".into()], "d").unwrap();
        w.write(&[vec![Cell::Int(1)]]).unwrap();
        w.finish().unwrap();
        let err = Writer::open(&table(Mode::Replace), &pool, vec!["a\0b".into()], "d").unwrap_err();
        assert!(err.contains("\"a\\0b\"") && err.contains("NUL"), "{err}");
        assert_eq!(
            names_and_rows(&db, "out").1,
            [["Text(\"d\")", "Integer(1)"]]
        );
    }

    #[test]
    fn a_write_not_finished_leaves_the_table_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let (pool, db) = sqlite_pool(dir.path());
        let mut w = Writer::open(&table(Mode::Append), &pool, vec!["x".into()], "d").unwrap();
        w.write(&[vec![Cell::Int(1)]]).unwrap();
        w.finish().unwrap();
        let before = names_and_rows(&db, "out");
        let mut w = Writer::open(&table(Mode::Replace), &pool, vec!["x".into()], "d").unwrap();
        w.write(&[vec![Cell::Int(2)], vec![Cell::Int(3)]]).unwrap();
        // A task that fails drops its writer unfinished: the rows and the
        // delete of `replace` are rolled back.
        drop(w);
        assert_eq!(names_and_rows(&db, "out"), before);
        // A new table that a failed task started is not left behind.
        let out2 = Output::Table {
            connection: "db".into(),
            table: "fresh".into(),
            mode: Mode::Append,
        };
        let mut w = Writer::open(&out2, &pool, vec!["x".into()], "d").unwrap();
        w.write(&[vec![Cell::Int(2)]]).unwrap();
        drop(w);
        let c = rusqlite::Connection::open(&db).unwrap();
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'fresh'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0);
    }

    /// PostgreSQL's binary `numeric`: digit count, weight, sign, scale,
    /// base-10000 digits.
    fn numeric(weight: i16, sign: u16, scale: u16, digits: &[u16]) -> Result<Cell, String> {
        let mut raw = Vec::new();
        for w in [digits.len() as u16, weight as u16, sign, scale]
            .into_iter()
            .chain(digits.iter().copied())
        {
            raw.extend_from_slice(&w.to_be_bytes());
        }
        Numeric::from_sql(&Type::NUMERIC, &raw)
            .map(Numeric::cell)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn numerics_read_as_integers_or_floats() {
        assert_eq!(numeric(0, 0, 2, &[123, 4500]), Ok(Cell::Float(123.45)));
        assert_eq!(
            numeric(-1, 0x4000, 7, &[1, 2340]),
            Ok(Cell::Float(-0.0001234))
        );
        assert_eq!(numeric(-2, 0, 8, &[1]), Ok(Cell::Float(1e-8)));
        assert_eq!(numeric(1, 0, 0, &[1]), Ok(Cell::Int(10000)));
        assert_eq!(
            numeric(1, 0x4000, 0, &[1234, 5678]),
            Ok(Cell::Int(-12345678))
        );
        assert_eq!(numeric(0, 0, 0, &[]), Ok(Cell::Int(0)));
        // Too big for an i64: a float.
        assert_eq!(numeric(5, 0, 0, &[1]), Ok(Cell::Float(1e20)));
        assert!(matches!(numeric(0, 0xC000, 0, &[]), Ok(Cell::Float(f)) if f.is_nan()));
        assert_eq!(numeric(0, 0xD000, 0, &[]), Ok(Cell::Float(f64::INFINITY)));
        // A value cut short is an error, not a panic.
        let err = Numeric::from_sql(&Type::NUMERIC, &[0, 2, 0, 0])
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("a numeric value cut short"));
    }
}
