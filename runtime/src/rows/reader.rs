//! The input side: picks the codec that reads an [`Input`].

use super::csv::CsvError;
use super::model::{Input, RowSink, SinkError};
use super::postgres::PgError;
use super::sqlite::SqliteError;
use crate::conn::{Conn, ConnError, Pool};

/// Why the rows of an input could not all be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Csv(#[from] CsvError),
    #[cfg(feature = "parquet")]
    #[error(transparent)]
    Parquet(#[from] super::parquet::ParquetError),
    #[cfg(not(feature = "parquet"))]
    #[error(transparent)]
    NoParquet(#[from] super::model::NoParquet),
    #[error(transparent)]
    Connection(#[from] ConnError),
    #[cfg(feature = "s3")]
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[cfg(not(feature = "s3"))]
    #[error(transparent)]
    NoStorage(#[from] super::model::NoStorage),
    #[error("connection `{connection}`: {source}")]
    Sqlite {
        connection: String,
        source: SqliteError,
    },
    #[error("connection `{connection}`: {source}")]
    Postgres { connection: String, source: PgError },
}

impl ReadError {
    /// The sink's own error, where the read gives it as it is (a file's;
    /// a query's is named after its connection): else the error back.
    /// The sink's error that stopped the read, whatever the input.
    pub fn sink(&self) -> Option<&SinkError> {
        match self {
            ReadError::Csv(CsvError::Sink(e)) => Some(e),
            #[cfg(feature = "parquet")]
            ReadError::Parquet(super::parquet::ParquetError::Sink(e)) => Some(e),
            ReadError::Sqlite {
                source: SqliteError::Sink(e),
                ..
            } => Some(e),
            ReadError::Postgres {
                source: PgError::Sink(e),
                ..
            } => Some(e),
            _ => None,
        }
    }

    pub fn into_sink(self) -> Result<SinkError, ReadError> {
        match self {
            ReadError::Csv(CsvError::Sink(e)) => Ok(e),
            #[cfg(feature = "parquet")]
            ReadError::Parquet(super::parquet::ParquetError::Sink(e)) => Ok(e),
            other => Err(other),
        }
    }
}

/// Reads every row of `input` into `sink`, in order, without holding more
/// than one row.
pub fn read(input: &Input, pool: &Pool, sink: &mut dyn RowSink) -> Result<(), ReadError> {
    if let Input::Csv(path) | Input::Parquet(path) = input
        && let Some(url) = crate::object_url::parse_object(path)
    {
        #[cfg(not(feature = "s3"))]
        {
            let _ = url;
            return Err(super::model::NoStorage(path.clone()).into());
        }
        #[cfg(feature = "s3")]
        {
            let url = url.map_err(crate::storage::StorageError::from)?;
            let storage = pool.storage();
            return match input {
                #[cfg(feature = "parquet")]
                Input::Parquet(_) => Ok(super::parquet::read_from(
                    storage.chunks(&url)?,
                    path,
                    sink,
                )?),
                #[cfg(not(feature = "parquet"))]
                Input::Parquet(_) => Err(super::model::NoParquet(path.clone()).into()),
                _ => Ok(super::csv::read_from(storage.open(&url)?, path, sink)?),
            };
        }
    }
    match input {
        Input::Csv(path) => Ok(super::csv::read(path, sink)?),
        #[cfg(feature = "parquet")]
        Input::Parquet(path) => Ok(super::parquet::read(path, sink)?),
        #[cfg(not(feature = "parquet"))]
        Input::Parquet(path) => Err(super::model::NoParquet(path.clone()).into()),
        Input::Sql {
            connection,
            query,
            args,
        } => {
            let mut conn = pool.get(connection)?;
            let connection = connection.clone();
            match &mut *conn {
                Conn::Sqlite(c) => super::sqlite::read(c, query, args, sink)
                    .map_err(|source| ReadError::Sqlite { connection, source }),
                Conn::Postgres(c) => super::postgres::read(c, query, args, sink)
                    .map_err(|source| ReadError::Postgres { connection, source }),
            }
        }
    }
}
