//! The input side: picks the codec that reads an [`Input`].

use super::model::{Input, RowSink};
use crate::conn::{Conn, Pool};

/// Reads every row of `input` into `sink`, in order, without holding more
/// than one row.
pub fn read(input: &Input, pool: &Pool, sink: &mut dyn RowSink) -> Result<(), String> {
    match input {
        Input::Csv(path) => super::csv::read(path, sink),
        #[cfg(feature = "parquet")]
        Input::Parquet(path) => super::parquet::read(path, sink),
        #[cfg(not(feature = "parquet"))]
        Input::Parquet(path) => Err(super::model::no_parquet(path)),
        Input::Sql {
            connection,
            query,
            args,
        } => {
            let mut conn = pool.get(connection)?;
            match &mut *conn {
                Conn::Sqlite(c) => super::sqlite::read(c, query, args, sink),
                Conn::Postgres(c) => super::postgres::read(c, query, args, sink),
            }
            .map_err(|e| format!("connection `{connection}`: {e}"))
        }
    }
}
