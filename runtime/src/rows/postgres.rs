//! PostgreSQL: arguments bound as the statement's parameter types, a
//! query's rows read as they come (binary values, `numeric` exactly),
//! rows written by COPY in the writer's transaction.

use std::io::Write;

use super::model::{Cell, Mode, RowSink, SinkError, Want};
use crate::conn::pg_error;

/// Why a query on PostgreSQL, or a write to it, failed.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The server's message and detail (see [`pg_error`]).
    #[error("{}", pg_error(.0))]
    Postgres(#[from] postgres::Error),
    #[error("the statement has {params} parameters ($1 ...), `args` has {args}")]
    ArgCount { params: usize, args: usize },
    /// Argument `n` (1-based).
    #[error("argument ${n}: {value} does not fit the type {ty}")]
    Arg {
        n: usize,
        value: serde_json::Value,
        ty: postgres::types::Type,
    },
    #[error("column `{column}`: {source}")]
    Value {
        column: String,
        source: postgres::Error,
    },
    #[error(
        "column `{column}` has the type {ty}, which chime does not read: cast it in the query (`{column}::float8` or `{column}::text`)"
    )]
    Type {
        column: String,
        ty: postgres::types::Type,
    },
    #[error("row {row}, column `{column}`: `{text}` is not a number")]
    NotANumber {
        row: u64,
        column: String,
        text: String,
    },
    #[error(transparent)]
    Copy(#[from] std::io::Error),
    #[error("{0}")]
    Sink(SinkError),
}

/// JSON arguments as values of the statement's parameter types.
pub fn args(
    types: &[postgres::types::Type],
    args: &[serde_json::Value],
) -> Result<Vec<Box<dyn postgres::types::ToSql + Sync>>, PgError> {
    use postgres::types::Type;
    if types.len() != args.len() {
        return Err(PgError::ArgCount {
            params: types.len(),
            args: args.len(),
        });
    }
    let mut out: Vec<Box<dyn postgres::types::ToSql + Sync>> = Vec::new();
    for (i, (ty, v)) in types.iter().zip(args).enumerate() {
        let bad = || PgError::Arg {
            n: i + 1,
            value: v.clone(),
            ty: ty.clone(),
        };
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
pub fn cell(row: &postgres::Row, i: usize) -> Result<Cell, PgError> {
    use postgres::types::Type;
    let col = &row.columns()[i];
    let err = |source| PgError::Value {
        column: col.name().to_string(),
        source,
    };
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
        ty => {
            return Err(PgError::Type {
                column: col.name().to_string(),
                ty,
            });
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

/// A `numeric` value shorter than its header says.
#[derive(Debug, thiserror::Error)]
#[error("a numeric value cut short")]
struct CutShort;

impl<'a> postgres::types::FromSql<'a> for Numeric {
    fn from_sql(
        _: &postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        use std::fmt::Write as _;
        let word = |k: usize| -> Result<u16, CutShort> {
            raw.get(k * 2..k * 2 + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or(CutShort)
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
            .collect::<Result<Vec<u16>, CutShort>>()?;
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

/// Reads every row of `query` on `c` into `sink`.
pub fn read(
    c: &mut postgres::Client,
    query: &str,
    args: &[serde_json::Value],
    sink: &mut dyn RowSink,
) -> Result<(), PgError> {
    use postgres::fallible_iterator::FallibleIterator;
    let stmt = c.prepare(query)?;
    let names: Vec<String> = stmt
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let wants = sink.columns(&names).map_err(PgError::Sink)?;
    let params = self::args(stmt.params(), args)?;
    let mut rows = c.query_raw(
        &stmt,
        params
            .iter()
            .map(|p| p.as_ref() as &dyn postgres::types::ToSql),
    )?;
    let mut cells = vec![Cell::Null; names.len()];
    let mut n = 0u64;
    while let Some(row) = rows.next()? {
        n += 1;
        for (i, want) in wants.iter().enumerate() {
            cells[i] = match want {
                Want::Skip => Cell::Null,
                Want::Number => match cell(&row, i)? {
                    Cell::Text(t) => match t.trim().parse::<f64>() {
                        Ok(f) => Cell::Float(f),
                        Err(_) => {
                            return Err(PgError::NotANumber {
                                row: n,
                                column: names[i].clone(),
                                text: t,
                            });
                        }
                    },
                    other => other,
                },
                Want::Any => cell(&row, i)?,
            };
        }
        sink.row(&cells, &|| format!("query row {n}"))
            .map_err(PgError::Sink)?;
    }
    Ok(())
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

/// Copies `rows` into `into` (`table (columns)`, quoted) in COPY's text
/// format, built in `buf`: `ds` first when the writer adds it.
pub(super) fn copy_in(
    c: &mut postgres::Client,
    into: &str,
    ds: Option<&str>,
    rows: &[Vec<Cell>],
    buf: &mut String,
) -> Result<(), PgError> {
    buf.clear();
    let ds = ds.map(|d| Cell::Text(d.to_string()));
    for r in rows {
        for (i, v) in ds.iter().chain(r).enumerate() {
            if i > 0 {
                buf.push('\t');
            }
            copy_text(v, buf);
        }
        buf.push('\n');
    }
    let mut w = c.copy_in(&format!("COPY {into} FROM STDIN"))?;
    w.write_all(buf.as_bytes())?;
    w.finish()?;
    Ok(())
}

/// Runs one statement (never a batch).
pub(super) fn exec_one(c: &mut postgres::Client, sql: &str) -> Result<(), PgError> {
    c.execute(sql, &[])?;
    Ok(())
}

/// The column type for a first value.
pub(super) fn sql_type(c: &Cell) -> &'static str {
    match c {
        Cell::Int(_) => "BIGINT",
        Cell::Float(_) => "DOUBLE PRECISION",
        _ => "TEXT",
    }
}

/// Deletes the rows `mode` replaces from the table `q` (quoted); a table
/// that does not exist has none.
pub(super) fn empty(
    c: &mut postgres::Client,
    q: &str,
    mode: Mode,
    ds: &str,
) -> Result<(), PgError> {
    let sql = match mode {
        Mode::Append => return Ok(()),
        Mode::Replace => format!("DELETE FROM {q} WHERE $1::text IS NOT NULL"),
        Mode::ReplacePartition => format!("DELETE FROM {q} WHERE ds = $1"),
    };
    // A missing table has nothing to replace; SAVEPOINT keeps the
    // transaction usable after that error.
    c.execute("SAVEPOINT chime_empty", &[])?;
    let end = match c.execute(&sql, &[&ds]) {
        Ok(_) => "RELEASE SAVEPOINT chime_empty",
        Err(e) if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) => {
            "ROLLBACK TO SAVEPOINT chime_empty"
        }
        Err(e) => return Err(e.into()),
    };
    exec_one(c, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres::types::{FromSql, Type};

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
