//! Parquet files for `sql` and `predict` (feature `parquet`: arrow-rs's
//! reader and writer; the compiler enables it only for pipelines that use
//! Parquet, since arrow takes minutes to compile).
//!
//! Reading streams record batches (never the whole file); writing buffers
//! one batch of rows at a time into Arrow arrays. Column types: integers,
//! floats, booleans (read as 0/1), strings, dates and timestamps (read as
//! text); written files have Int64, Float64 or Utf8 columns, typed from the
//! first batch of rows, Snappy-compressed.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::model::{Cell, Out, RowSink, SinkError, Want};

/// Why a Parquet file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a Parquet file chime can read: {source}")]
    NotParquet {
        path: String,
        source: parquet::errors::ParquetError,
    },
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: parquet::errors::ParquetError,
    },
    #[error("{path}: {source}")]
    Batch {
        path: String,
        source: arrow_schema::ArrowError,
    },
    #[error("{path}: column `{column}` is missing from a row group")]
    MissingColumn { path: String, column: String },
    #[error("{path} row {row}, column `{column}`: {source}")]
    Value {
        path: String,
        row: usize,
        column: String,
        source: ValueError,
    },
    /// `value` described by [`Cell::describe`].
    #[error("{path} row {row}, column `{column}`: {value} is not a number")]
    NotANumber {
        path: String,
        row: usize,
        column: String,
        value: String,
    },
    #[error("{0}")]
    Sink(SinkError),
    /// Row `row` (1-based) of the file written has a value its column,
    /// typed `kind` ("integers", "numbers"), cannot hold.
    #[error(
        "row {row}, column `{column}`: {value} in a column of {kind} (its type comes from the \
         first rows): cast the column to one type"
    )]
    Mixed {
        row: usize,
        column: String,
        value: String,
        kind: &'static str,
    },
    #[error("the Parquet file is already open")]
    AlreadyOpen,
    #[error("the Parquet file is closed")]
    Closed,
    #[error("no schema")]
    NoSchema,
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// A value of an Arrow column chime does not read.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    #[error("dictionary keys of type {0} are not read")]
    DictionaryKeys(DataType),
    #[error("a dictionary key out of range")]
    KeyOutOfRange,
    #[error(
        "the type {0} is not one chime reads (integers, floats, booleans, strings, dates, \
         timestamps and dictionaries of them are)"
    )]
    Type(DataType),
}

/// Rows per record batch read.
const READ_BATCH: usize = 8192;

/// Reads every row of the Parquet file at `path` into `sink`.
pub fn read(path: &str, sink: &mut dyn RowSink) -> Result<(), ParquetError> {
    let at = || path.to_string();
    let file =
        std::fs::File::open(path).map_err(|source| ParquetError::Open { path: at(), source })?;
    read_from(file, path, sink)
}

/// Reads every row of the Parquet data `from` (named `path` in messages)
/// into `sink`.
pub fn read_from<R: parquet::file::reader::ChunkReader + 'static>(
    from: R,
    path: &str,
    sink: &mut dyn RowSink,
) -> Result<(), ParquetError> {
    let at = || path.to_string();
    let builder = ParquetRecordBatchReaderBuilder::try_new(from)
        .map_err(|source| ParquetError::NotParquet { path: at(), source })?;
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let wants = sink.columns(&names).map_err(ParquetError::Sink)?;
    // Only the columns the sink wants are decoded.
    let read: Vec<usize> = (0..names.len())
        .filter(|&i| wants.get(i).is_some_and(|w| *w != Want::Skip))
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), read.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(READ_BATCH)
        .build()
        .map_err(|source| ParquetError::Read { path: at(), source })?;
    let mut cells = vec![Cell::Null; names.len()];
    let mut row = 0usize;
    for batch in reader {
        let batch = batch.map_err(|source| ParquetError::Batch { path: at(), source })?;
        for r in 0..batch.num_rows() {
            row += 1;
            for (j, &i) in read.iter().enumerate() {
                let name = &names[i];
                let column = batch
                    .columns()
                    .get(j)
                    .ok_or_else(|| ParquetError::MissingColumn {
                        path: at(),
                        column: name.clone(),
                    })?;
                cells[i] = cell(column, r).map_err(|source| ParquetError::Value {
                    path: at(),
                    row,
                    column: name.clone(),
                    source,
                })?;
                if wants[i] == Want::Number && cells[i].as_f64().is_none() && cells[i] != Cell::Null
                {
                    return Err(ParquetError::NotANumber {
                        path: at(),
                        row,
                        column: name.clone(),
                        value: cells[i].describe(),
                    });
                }
            }
            sink.row(&cells, &|| format!("{path} row {row}"))
                .map_err(ParquetError::Sink)?;
        }
    }
    Ok(())
}

/// Value `r` of an Arrow column.
fn cell(a: &ArrayRef, r: usize) -> Result<Cell, ValueError> {
    if a.is_null(r) {
        return Ok(Cell::Null);
    }
    Ok(match a.data_type() {
        DataType::Int8 => Cell::Int(a.as_primitive::<Int8Type>().value(r).into()),
        DataType::Int16 => Cell::Int(a.as_primitive::<Int16Type>().value(r).into()),
        DataType::Int32 => Cell::Int(a.as_primitive::<Int32Type>().value(r).into()),
        DataType::Int64 => Cell::Int(a.as_primitive::<Int64Type>().value(r)),
        DataType::UInt8 => Cell::Int(a.as_primitive::<UInt8Type>().value(r).into()),
        DataType::UInt16 => Cell::Int(a.as_primitive::<UInt16Type>().value(r).into()),
        DataType::UInt32 => Cell::Int(a.as_primitive::<UInt32Type>().value(r).into()),
        DataType::UInt64 => {
            let v = a.as_primitive::<UInt64Type>().value(r);
            i64::try_from(v).map_or(Cell::Float(v as f64), Cell::Int)
        }
        DataType::Float32 => Cell::Float(a.as_primitive::<Float32Type>().value(r).into()),
        DataType::Float64 => Cell::Float(a.as_primitive::<Float64Type>().value(r)),
        DataType::Boolean => Cell::Int(a.as_boolean().value(r).into()),
        DataType::Utf8 => Cell::Text(a.as_string::<i32>().value(r).to_string()),
        DataType::LargeUtf8 => Cell::Text(a.as_string::<i64>().value(r).to_string()),
        DataType::Utf8View => Cell::Text(a.as_string_view().value(r).to_string()),
        DataType::Date32 => {
            let days = a.as_primitive::<Date32Type>().value(r);
            let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
                .and_then(|d| d.checked_add_signed(chrono::Duration::days(days.into())));
            date.map_or(Cell::Null, |d| Cell::Text(d.to_string()))
        }
        DataType::Timestamp(unit, _) => {
            use arrow_array::types::{
                TimestampMicrosecondType as Us, TimestampMillisecondType as Ms,
                TimestampNanosecondType as Ns, TimestampSecondType as S,
            };
            let micros = match unit {
                TimeUnit::Second => a.as_primitive::<S>().value(r).checked_mul(1_000_000),
                TimeUnit::Millisecond => a.as_primitive::<Ms>().value(r).checked_mul(1_000),
                TimeUnit::Microsecond => Some(a.as_primitive::<Us>().value(r)),
                TimeUnit::Nanosecond => Some(a.as_primitive::<Ns>().value(r) / 1_000),
            };
            let t = micros.and_then(chrono::DateTime::from_timestamp_micros);
            t.map_or(Cell::Null, |t| Cell::Text(t.to_rfc3339()))
        }
        // pandas' `category` columns: a key into a column of values.
        DataType::Dictionary(key, _) => {
            macro_rules! lookup {
                ($($k:ident => $t:ty),*) => {
                    match key.as_ref() {
                        $(DataType::$k => {
                            let d = a.as_dictionary::<$t>();
                            (d.values(), usize::try_from(d.keys().value(r)).ok())
                        })*
                        other => return Err(ValueError::DictionaryKeys(other.clone())),
                    }
                };
            }
            let (values, at) = lookup!(
                Int8 => Int8Type, Int16 => Int16Type, Int32 => Int32Type, Int64 => Int64Type,
                UInt8 => UInt8Type, UInt16 => UInt16Type, UInt32 => UInt32Type, UInt64 => UInt64Type
            );
            match at.filter(|&i| i < values.len()) {
                Some(i) => return cell(values, i),
                None => return Err(ValueError::KeyOutOfRange),
            }
        }
        other => return Err(ValueError::Type(other.clone())),
    })
}

/// A Parquet file being written: rows are buffered per batch, the schema
/// comes from the first batch.
pub struct ParquetWriter {
    columns: Vec<String>,
    file: Option<Out>,
    writer: Option<ArrowWriter<Out>>,
    schema: Option<SchemaRef>,
    /// Rows written so far (for error messages).
    written: usize,
}

impl std::fmt::Debug for ParquetWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetWriter")
            .field("columns", &self.columns)
            .finish()
    }
}

impl ParquetWriter {
    pub fn new(file: Out, columns: Vec<String>) -> ParquetWriter {
        ParquetWriter {
            columns,
            file: Some(file),
            writer: None,
            schema: None,
            written: 0,
        }
    }

    /// Opens the writer with column types read from the first batch: text
    /// if any value is text (or none is set), else floats if any is a
    /// float, else integers.
    fn start(&mut self, first: &[Vec<Cell>]) -> Result<(), ParquetError> {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let (mut text, mut float, mut int) = (false, false, false);
                for c in first.iter().filter_map(|r| r.get(i)) {
                    match c {
                        Cell::Text(_) => text = true,
                        Cell::Float(_) => float = true,
                        Cell::Int(_) => int = true,
                        Cell::Null => {}
                    }
                }
                let ty = match (text, float, int) {
                    (false, true, _) => DataType::Float64,
                    (false, false, true) => DataType::Int64,
                    _ => DataType::Utf8,
                };
                Field::new(name, ty, true)
            })
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let file = self.file.take().ok_or(ParquetError::AlreadyOpen)?;
        self.writer = Some(ArrowWriter::try_new(file, schema.clone(), Some(props))?);
        self.schema = Some(schema);
        Ok(())
    }

    /// Writes a batch of rows (each with a cell per column).
    pub fn write(&mut self, rows: &[Vec<Cell>]) -> Result<(), ParquetError> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.schema.is_none() {
            self.start(rows)?;
        }
        let schema = self.schema.clone().ok_or(ParquetError::NoSchema)?;
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for (i, field) in schema.fields().iter().enumerate() {
            let column = |r: &Vec<Cell>| r.get(i).cloned().unwrap_or(Cell::Null);
            let array: ArrayRef = match field.data_type() {
                DataType::Int64 => {
                    let mut values = Vec::with_capacity(rows.len());
                    for (n, r) in rows.iter().enumerate() {
                        values.push(match column(r) {
                            Cell::Int(x) => Some(x),
                            Cell::Null => None,
                            other => {
                                return Err(mixed(self.written + n + 1, field, &other));
                            }
                        });
                    }
                    Arc::new(Int64Array::from(values))
                }
                DataType::Float64 => {
                    let mut values = Vec::with_capacity(rows.len());
                    for (n, r) in rows.iter().enumerate() {
                        values.push(match column(r) {
                            Cell::Null => None,
                            other => Some(
                                other
                                    .as_f64()
                                    .ok_or_else(|| mixed(self.written + n + 1, field, &other))?,
                            ),
                        });
                    }
                    Arc::new(Float64Array::from(values))
                }
                _ => {
                    let values: Vec<Option<String>> = rows
                        .iter()
                        .map(|r| match column(r) {
                            Cell::Null => None,
                            Cell::Text(t) => Some(t),
                            Cell::Int(x) => Some(x.to_string()),
                            Cell::Float(x) => Some(x.to_string()),
                        })
                        .collect();
                    Arc::new(StringArray::from(values))
                }
            };
            arrays.push(array);
        }
        let batch = RecordBatch::try_new(schema, arrays)?;
        self.written += rows.len();
        Ok(self
            .writer
            .as_mut()
            .ok_or(ParquetError::Closed)?
            .write(&batch)?)
    }

    /// Writes the footer (an empty file still gets the columns, as text)
    /// and hands the destination back.
    pub fn finish(&mut self) -> Result<Out, ParquetError> {
        if self.schema.is_none() {
            self.start(&[])?;
        }
        Ok(self
            .writer
            .take()
            .ok_or(ParquetError::Closed)?
            .into_inner()?)
    }
}

/// A value the column `field` (typed by the first rows) cannot hold, in
/// row `row` (1-based) of the file.
fn mixed(row: usize, field: &Field, value: &Cell) -> ParquetError {
    ParquetError::Mixed {
        row,
        column: field.name().clone(),
        value: value.describe(),
        kind: match field.data_type() {
            DataType::Int64 => "integers",
            _ => "numbers",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects what a read gives.
    #[derive(Debug)]
    struct Rows {
        wants: Vec<Want>,
        seen: Vec<String>,
        rows: Vec<Vec<Cell>>,
    }

    impl RowSink for Rows {
        fn columns(&mut self, names: &[String]) -> Result<Vec<Want>, SinkError> {
            self.seen = names.to_vec();
            Ok(self.wants.clone())
        }
        fn row(&mut self, cells: &[Cell], _: &dyn Fn() -> String) -> Result<(), SinkError> {
            self.rows.push(cells.to_vec());
            Ok(())
        }
    }

    fn write(
        path: &std::path::Path,
        columns: &[&str],
        batches: &[Vec<Vec<Cell>>],
    ) -> Result<(), ParquetError> {
        let file = std::fs::File::create(path).unwrap();
        let mut w = ParquetWriter::new(
            Out::File(file),
            columns.iter().map(|c| c.to_string()).collect(),
        );
        for b in batches {
            w.write(b)?;
        }
        w.finish().map(|_| ())
    }

    fn read_all(path: &std::path::Path, wants: Vec<Want>) -> Result<Rows, ParquetError> {
        let mut rows = Rows {
            wants,
            seen: vec![],
            rows: vec![],
        };
        read(path.to_str().unwrap(), &mut rows)?;
        Ok(rows)
    }

    #[test]
    fn rows_round_trip_with_types_from_the_first_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let first = vec![
            vec![
                Cell::Int(1),
                Cell::Int(2),
                Cell::Text("a".into()),
                Cell::Null,
            ],
            vec![Cell::Int(3), Cell::Float(0.5), Cell::Null, Cell::Null],
        ];
        let second = vec![vec![
            Cell::Null,
            Cell::Int(7),
            Cell::Text("c".into()),
            Cell::Null,
        ]];
        write(&path, &["id", "score", "name", "empty"], &[first, second]).unwrap();
        let got = read_all(&path, vec![Want::Any; 4]).unwrap();
        assert_eq!(got.seen, ["id", "score", "name", "empty"]);
        assert_eq!(
            got.rows,
            vec![
                // `score` saw a float in the first batch: a float column.
                vec![
                    Cell::Int(1),
                    Cell::Float(2.0),
                    Cell::Text("a".into()),
                    Cell::Null
                ],
                vec![Cell::Int(3), Cell::Float(0.5), Cell::Null, Cell::Null],
                vec![
                    Cell::Null,
                    Cell::Float(7.0),
                    Cell::Text("c".into()),
                    Cell::Null
                ],
            ]
        );
        // Skipped columns are not decoded and come as NULL.
        let got = read_all(
            &path,
            vec![Want::Skip, Want::Number, Want::Skip, Want::Skip],
        )
        .unwrap();
        assert_eq!(
            got.rows[1],
            vec![Cell::Null, Cell::Float(0.5), Cell::Null, Cell::Null]
        );
    }

    #[test]
    fn mixed_types_and_bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let err = write(
            &path,
            &["n"],
            &[
                vec![vec![Cell::Int(1)]],
                vec![vec![Cell::Int(2)], vec![Cell::Float(2.5)]],
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("row 3, column `n`: the number 2.5 in a column of integers"),
            "{err}"
        );

        write(&path, &["x"], &[vec![vec![Cell::Text("high".into())]]]).unwrap();
        let err = read_all(&path, vec![Want::Number]).unwrap_err().to_string();
        assert!(
            err.ends_with("row 1, column `x`: the text \"high\" is not a number"),
            "{err}"
        );

        std::fs::write(&path, "id,score\n1,2\n").unwrap();
        let err = read_all(&path, vec![Want::Any]).unwrap_err().to_string();
        assert!(err.contains("not a Parquet file chime can read"), "{err}");
    }

    #[test]
    fn an_empty_output_still_has_its_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        write(&path, &["a", "b"], &[]).unwrap();
        let got = read_all(&path, vec![Want::Any; 2]).unwrap();
        assert_eq!(got.seen, ["a", "b"]);
        assert!(got.rows.is_empty());
    }
}
