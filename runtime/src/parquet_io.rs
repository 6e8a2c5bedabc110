//! Parquet files for `sql` and `predict` (feature `parquet`: arrow-rs's
//! reader and writer; the compiler enables it only for pipelines that use
//! Parquet, since arrow takes minutes to compile).
//!
//! Reading streams record batches (never the whole file); writing buffers
//! one batch of rows at a time into Arrow arrays. Column types: integers,
//! floats, booleans (read as 0/1), strings, dates and timestamps (read as
//! text); written files have Int64, Float64 or Utf8 columns, typed from the
//! first row, Snappy-compressed.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::rows::{Cell, RowSink, Want};

/// Rows per record batch read.
const READ_BATCH: usize = 8192;

/// Reads every row of the Parquet file at `path` into `sink`.
pub fn read(path: &str, sink: &mut dyn RowSink) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format!("{path}: not a Parquet file chime can read: {e}"))?;
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let wants = sink.columns(&names)?;
    let reader = builder
        .with_batch_size(READ_BATCH)
        .build()
        .map_err(|e| format!("{path}: {e}"))?;
    let mut cells = vec![Cell::Null; names.len()];
    let mut row = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| format!("{path}: {e}"))?;
        for r in 0..batch.num_rows() {
            row += 1;
            for (i, want) in wants.iter().enumerate() {
                cells[i] = match want {
                    Want::Skip => Cell::Null,
                    _ => cell(batch.column(i), r)
                        .map_err(|e| format!("{path} row {row}, column `{}`: {e}", names[i]))?,
                };
                if *want == Want::Number && cells[i].as_f64().is_none() && cells[i] != Cell::Null {
                    return Err(format!(
                        "{path} row {row}, column `{}`: not a number",
                        names[i]
                    ));
                }
            }
            sink.row(&cells, &|| format!("{path} row {row}"))?;
        }
    }
    Ok(())
}

/// Value `r` of an Arrow column.
fn cell(a: &ArrayRef, r: usize) -> Result<Cell, String> {
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
            let v = a.as_primitive::<arrow_array::types::TimestampMicrosecondType>();
            let _ = v;
            let raw = match unit {
                TimeUnit::Second => {
                    a.as_primitive::<arrow_array::types::TimestampSecondType>()
                        .value(r)
                        * 1_000_000
                }
                TimeUnit::Millisecond => {
                    a.as_primitive::<arrow_array::types::TimestampMillisecondType>()
                        .value(r)
                        * 1_000
                }
                TimeUnit::Microsecond => a
                    .as_primitive::<arrow_array::types::TimestampMicrosecondType>()
                    .value(r),
                TimeUnit::Nanosecond => {
                    a.as_primitive::<arrow_array::types::TimestampNanosecondType>()
                        .value(r)
                        / 1_000
                }
            };
            chrono::DateTime::from_timestamp_micros(raw)
                .map_or(Cell::Null, |t| Cell::Text(t.to_rfc3339()))
        }
        other => return Err(format!("the type {other} is not one chime reads")),
    })
}

/// A Parquet file being written: rows are buffered per batch, the schema
/// comes from the first row.
pub struct ParquetWriter {
    columns: Vec<String>,
    file: Option<std::fs::File>,
    writer: Option<ArrowWriter<std::fs::File>>,
    schema: Option<SchemaRef>,
}

impl std::fmt::Debug for ParquetWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetWriter")
            .field("columns", &self.columns)
            .finish()
    }
}

impl ParquetWriter {
    pub fn new(file: std::fs::File, columns: Vec<String>) -> ParquetWriter {
        ParquetWriter {
            columns,
            file: Some(file),
            writer: None,
            schema: None,
        }
    }

    fn start(&mut self, first: &[Cell]) -> Result<(), String> {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .zip(first)
            .map(|(name, c)| {
                let ty = match c {
                    Cell::Int(_) => DataType::Int64,
                    Cell::Float(_) => DataType::Float64,
                    _ => DataType::Utf8,
                };
                Field::new(name, ty, true)
            })
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let file = self.file.take().ok_or("the Parquet file is already open")?;
        self.writer = Some(
            ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| e.to_string())?,
        );
        self.schema = Some(schema);
        Ok(())
    }

    /// Writes a batch of rows (each with a cell per column).
    pub fn write(&mut self, rows: &[Vec<Cell>]) -> Result<(), String> {
        let Some(first) = rows.first() else {
            return Ok(());
        };
        if self.schema.is_none() {
            self.start(first)?;
        }
        let schema = self.schema.clone().ok_or("no schema")?;
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
                                return Err(format!(
                                    "row {n} of the batch, column `{}`: {other:?} in an integer column",
                                    field.name()
                                ));
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
                            other => Some(other.as_f64().ok_or_else(|| {
                                format!(
                                    "row {n} of the batch, column `{}`: {other:?} in a number column",
                                    field.name()
                                )
                            })?),
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
        let batch = RecordBatch::try_new(schema, arrays).map_err(|e| e.to_string())?;
        self.writer
            .as_mut()
            .ok_or("the Parquet file is closed")?
            .write(&batch)
            .map_err(|e| e.to_string())
    }

    /// Writes the footer (an empty file still gets the columns, as text).
    pub fn finish(&mut self) -> Result<(), String> {
        if self.schema.is_none() {
            let blank: Vec<Cell> = vec![Cell::Null; self.columns.len()];
            self.start(&blank)?;
        }
        self.writer
            .take()
            .ok_or("the Parquet file is closed")?
            .close()
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
