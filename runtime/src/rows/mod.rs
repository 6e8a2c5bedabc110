//! Rows in and out of the `sql` and `predict` operators: CSV files and
//! query results are read row by row (never whole), and rows are written
//! to CSV files or to tables in one transaction, so a task that fails
//! leaves its target as it was.
//!
//! `model` is what every codec shares: a [`Cell`], what a reader makes of
//! a column ([`Want`]), where rows come from ([`Input`]) and go
//! ([`Destination`]), and how a name becomes SQL. One file per codec (`csv`,
//! `sqlite`, `postgres`, `parquet`) reads (and writes) its format with the
//! model only; [`read`] and [`Writer`] pick the codec for an input or an
//! output. Dependencies point one way: codecs to the model, `reader` and
//! `writer` to the codecs; this file only re-exports.

pub mod csv;
pub mod model;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod postgres;
pub mod reader;
pub mod sqlite;
pub mod writer;

pub use model::*;
pub use reader::read;
pub use writer::Writer;
