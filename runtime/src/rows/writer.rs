//! The output side: a [`Writer`] picks the codec for an [`Destination`] and
//! makes its rows visible at once, or not at all.

use super::csv::{CsvError, CsvWriter};
use super::model::{
    BadColumn, Cell, Destination, Mode, check_column, is_table_name, quote_ident, quote_table,
};
use super::postgres::PgError;
use super::sqlite::SqliteError;
use crate::conn::{Conn, ConnError, Lease, Pool};

/// Why rows could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("`{0}` is not a table name (letters, digits and _, optionally schema.table)")]
    NotATable(String),
    #[error(transparent)]
    Column(#[from] BadColumn),
    #[error(transparent)]
    Connection(#[from] ConnError),
    #[error("cannot create {}: {source}", .dir.display())]
    CreateDir {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", .path.display())]
    File {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Csv(#[from] CsvError),
    #[cfg(feature = "s3")]
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[cfg(not(feature = "s3"))]
    #[error(transparent)]
    NoStorage(#[from] super::model::NoStorage),
    #[cfg(not(feature = "parquet"))]
    #[error(transparent)]
    NoParquet(#[from] super::model::NoParquet),
    #[cfg(feature = "parquet")]
    #[error(transparent)]
    Parquet(#[from] super::parquet::ParquetError),
    /// A batch the Parquet file at `path` refused.
    #[cfg(feature = "parquet")]
    #[error("{path}: {source}")]
    ParquetBatch {
        path: String,
        source: super::parquet::ParquetError,
    },
    #[error(transparent)]
    Sqlite(#[from] SqliteError),
    #[error(transparent)]
    Postgres(#[from] PgError),
}

impl WriteError {
    fn file(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> WriteError {
        WriteError::File {
            path: path.into(),
            source,
        }
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
    target: Staged<'p>,
}

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("columns", &self.columns)
            .field("rows", &self.rows)
            .finish()
    }
}

enum Staged<'p> {
    /// `tmp`: the local file being written, `None` for an object.
    Csv {
        path: String,
        tmp: Option<std::path::PathBuf>,
        w: Option<Box<CsvWriter>>,
    },
    #[cfg(feature = "parquet")]
    Parquet {
        path: String,
        tmp: Option<std::path::PathBuf>,
        w: Box<super::parquet::ParquetWriter>,
    },
    Table {
        conn: Lease<'p>,
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
        output: &Destination,
        pool: &'p Pool,
        columns: Vec<String>,
        ds: &str,
    ) -> Result<Writer<'p>, WriteError> {
        let target = match output {
            #[cfg(not(feature = "parquet"))]
            Destination::Parquet(path) => return Err(super::model::NoParquet(path.clone()).into()),
            #[cfg(feature = "parquet")]
            Destination::Parquet(path) => {
                let (tmp, file) = staged_file(path, pool)?;
                Staged::Parquet {
                    path: path.clone(),
                    tmp,
                    w: Box::new(super::parquet::ParquetWriter::new(file, columns.clone())),
                }
            }
            Destination::Csv(path) => {
                let (tmp, file) = staged_file(path, pool)?;
                Staged::Csv {
                    path: path.clone(),
                    tmp,
                    w: Some(Box::new(CsvWriter::new(file, &columns)?)),
                }
            }
            Destination::Table {
                connection,
                table,
                mode,
            } => {
                if !is_table_name(table) {
                    return Err(WriteError::NotATable(table.clone()));
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
                Staged::Table {
                    conn,
                    table: table.clone(),
                    mode: *mode,
                    ready: false,
                    buf: String::new(),
                    done: false,
                }
            }
        };
        let add_ds = matches!(target, Staged::Table { .. }) && !columns.iter().any(|c| c == "ds");
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
    pub fn write(&mut self, rows: &[Vec<Cell>]) -> Result<(), WriteError> {
        if rows.is_empty() {
            return Ok(());
        }
        // The `ds` the writer adds in front of each row, if it adds one.
        let ds = self.add_ds.then_some(self.ds.as_str());
        match &mut self.target {
            #[cfg(feature = "parquet")]
            Staged::Parquet { w, path, .. } => {
                w.write(rows).map_err(|source| WriteError::ParquetBatch {
                    path: path.clone(),
                    source,
                })?
            }
            Staged::Csv { w: Some(w), .. } => w.write(rows)?,
            Staged::Csv { w: None, .. } => {}
            Staged::Table {
                conn,
                table,
                mode,
                ready,
                buf,
                ..
            } => {
                if !*ready {
                    let first: Vec<Cell> = ds
                        .map(|d| Cell::Text(d.to_string()))
                        .into_iter()
                        .chain(rows[0].iter().cloned())
                        .collect();
                    prepare_table(conn, table, *mode, &self.columns, &first, &self.ds)?;
                    *ready = true;
                }
                let cols = self
                    .columns
                    .iter()
                    .map(|c| quote_ident(c))
                    .collect::<Vec<_>>()
                    .join(", ");
                let into = format!("{} ({cols})", quote_table(table));
                match &mut **conn {
                    Conn::Sqlite(c) => {
                        super::sqlite::insert(c, &into, self.columns.len(), ds, rows)?
                    }
                    Conn::Postgres(c) => super::postgres::copy_in(c, &into, ds, rows, buf)?,
                }
            }
        }
        self.rows += rows.len() as u64;
        Ok(())
    }

    /// Makes the rows visible (commits, or moves the file into place) and
    /// returns how many were written.
    pub fn finish(mut self) -> Result<u64, WriteError> {
        match &mut self.target {
            #[cfg(feature = "parquet")]
            Staged::Parquet { path, tmp, w } => {
                let out = w.finish()?;
                put_in_place(out, path, tmp.take())?;
            }
            Staged::Csv { path, tmp, w } => {
                if let Some(w) = w.take() {
                    put_in_place(w.finish()?, path, tmp.take())?;
                }
            }
            Staged::Table {
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
            // An object's upload is aborted by its writer's own drop.
            Staged::Csv { tmp, .. } => {
                if let Some(tmp) = tmp {
                    let _ = std::fs::remove_file(&*tmp);
                }
            }
            #[cfg(feature = "parquet")]
            Staged::Parquet { tmp, .. } => {
                if let Some(tmp) = tmp {
                    let _ = std::fs::remove_file(&*tmp);
                }
            }
            Staged::Table {
                conn, done: false, ..
            } => {
                let _ = exec_one(conn, "ROLLBACK");
            }
            Staged::Table { .. } => {}
        }
    }
}

/// Where a file output's bytes go until it is complete: `PATH.partial`
/// for a local path, a pending upload for an object.
fn staged_file(
    path: &str,
    pool: &Pool,
) -> Result<(Option<std::path::PathBuf>, super::model::Out), WriteError> {
    match crate::object_url::parse_object(path) {
        None => {
            let (tmp, file) = partial_file(path)?;
            Ok((Some(tmp), super::model::Out::File(file)))
        }
        #[cfg(feature = "s3")]
        Some(url) => {
            let url = url.map_err(crate::storage::StorageError::from)?;
            Ok((
                None,
                super::model::Out::Object(Box::new(pool.storage().create(&url)?)),
            ))
        }
        #[cfg(not(feature = "s3"))]
        Some(_) => {
            let _ = pool;
            Err(super::model::NoStorage(path.to_string()).into())
        }
    }
}

/// Makes a complete file output visible: the local file renamed from
/// `tmp` to `path`, or the upload completed.
fn put_in_place(
    out: super::model::Out,
    path: &str,
    tmp: Option<std::path::PathBuf>,
) -> Result<(), WriteError> {
    match out {
        super::model::Out::File(f) => {
            drop(f);
            if let Some(tmp) = tmp {
                std::fs::rename(&tmp, path).map_err(|e| WriteError::file(path, e))?;
            }
        }
        #[cfg(feature = "s3")]
        super::model::Out::Object(o) => (*o).commit()?,
    }
    Ok(())
}

/// `PATH.partial` beside `path` (its folder created), opened for writing:
/// renamed to `path` when complete, so a reader never sees half a file.
fn partial_file(path: &str) -> Result<(std::path::PathBuf, std::fs::File), WriteError> {
    let p = std::path::Path::new(path);
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| WriteError::CreateDir {
            dir: dir.to_path_buf(),
            source,
        })?;
    }
    let mut tmp = p.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = std::path::PathBuf::from(tmp);
    let file = std::fs::File::create(&tmp).map_err(|e| WriteError::file(&tmp, e))?;
    Ok((tmp, file))
}

/// Runs one statement of SQL chime generated, never a batch: whatever a
/// name in it held, at most this one statement runs.
fn exec_one(conn: &mut Conn, sql: &str) -> Result<(), WriteError> {
    match conn {
        Conn::Sqlite(c) => super::sqlite::exec_one(c, sql)?,
        Conn::Postgres(c) => super::postgres::exec_one(c, sql)?,
    }
    Ok(())
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
) -> Result<(), WriteError> {
    let defs = columns
        .iter()
        .zip(first)
        .map(|(c, v)| {
            let ty = match conn {
                Conn::Sqlite(_) => super::sqlite::sql_type(v),
                Conn::Postgres(_) => super::postgres::sql_type(v),
            };
            format!("{} {ty}", quote_ident(c))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let create = format!("CREATE TABLE IF NOT EXISTS {} ({defs})", quote_table(table));
    exec_one(conn, &create)?;
    empty_table(conn, table, mode, ds)
}

/// Deletes the rows `mode` replaces (none for `append`); a table that does
/// not exist yet has none.
fn empty_table(conn: &mut Conn, table: &str, mode: Mode, ds: &str) -> Result<(), WriteError> {
    let q = quote_table(table);
    match conn {
        Conn::Sqlite(c) => super::sqlite::empty(c, &q, mode, ds)?,
        Conn::Postgres(c) => super::postgres::empty(c, &q, mode, ds)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "a\" INTEGER); DROP TABLE victim; COMMIT; --";

    fn sqlite_pool(dir: &std::path::Path) -> (Pool, std::path::PathBuf) {
        let db = dir.join("x.db");
        let url = format!("sqlite://{}", db.display());
        let pool = Pool::new([("db".to_string(), url)].into(), Default::default());
        (pool, db)
    }

    fn table(mode: Mode) -> Destination {
        Destination::Table {
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
        assert_eq!(w.finish().unwrap(), 1);
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
            let err = check_column(name, pg).unwrap_err().to_string();
            assert!(err.contains(why), "{name:?}: {err}");
        }
        assert_eq!(check_column(&"x".repeat(64), false), Ok(()));
        assert_eq!(check_column(HOSTILE, true), Ok(()));

        let dir = tempfile::tempdir().unwrap();
        let (pool, db) = sqlite_pool(dir.path());
        let mut w = Writer::open(&table(Mode::Append), &pool, vec!["x".into()], "d").unwrap();
        w.write(&[vec![Cell::Int(1)]]).unwrap();
        w.finish().unwrap();
        let err = Writer::open(&table(Mode::Replace), &pool, vec!["a\0b".into()], "d")
            .unwrap_err()
            .to_string();
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
        let out2 = Destination::Table {
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
}
