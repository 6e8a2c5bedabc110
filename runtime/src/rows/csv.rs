//! CSV files: read with a header line, a record at a time; written with
//! the column names as the header.

use super::model::{Cell, Out, RowSink, SinkError, Want};

/// Why a CSV file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: cannot read the header line: {source}")]
    Header { path: String, source: csv::Error },
    #[error("{path} line {line}: {}", describe(.source))]
    Record {
        path: String,
        line: u64,
        source: csv::Error,
    },
    #[error("{path} line {line}: {found} fields, but the header has {expected}")]
    Fields {
        path: String,
        line: u64,
        found: usize,
        expected: usize,
    },
    #[error("{path} line {line}, column `{column}`: `{text}` is not a number")]
    NotANumber {
        path: String,
        line: u64,
        column: String,
        text: String,
    },
    #[error("{path} line {line}, column `{column}`: not UTF-8 text")]
    NotUtf8 {
        path: String,
        line: u64,
        column: String,
    },
    #[error("{0}")]
    Sink(SinkError),
    #[error(transparent)]
    Write(#[from] csv::Error),
    #[error(transparent)]
    Flush(#[from] std::io::Error),
}

/// Reads every row of the CSV file at `path` into `sink`.
pub fn read(path: &str, sink: &mut dyn RowSink) -> Result<(), CsvError> {
    let file = std::fs::File::open(path).map_err(|source| CsvError::Open {
        path: path.to_string(),
        source,
    })?;
    read_from(file, path, sink)
}

/// Reads every row of the CSV text `from` (named `path` in messages)
/// into `sink`.
pub fn read_from(
    from: impl std::io::Read,
    path: &str,
    sink: &mut dyn RowSink,
) -> Result<(), CsvError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, from));
    let headers = reader
        .headers()
        .map_err(|source| CsvError::Header {
            path: path.to_string(),
            source,
        })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect::<Vec<_>>();
    let wants = sink.columns(&headers).map_err(CsvError::Sink)?;
    let mut record = csv::ByteRecord::new();
    let mut cells = vec![Cell::Null; headers.len()];
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(source) => {
                return Err(CsvError::Record {
                    path: path.to_string(),
                    line: source.position().map_or(0, |p| p.line()),
                    source,
                });
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != headers.len() {
            return Err(CsvError::Fields {
                path: path.to_string(),
                line,
                found: record.len(),
                expected: headers.len(),
            });
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
                            return Err(CsvError::NotANumber {
                                path: path.to_string(),
                                line,
                                column: headers[i].clone(),
                                text: String::from_utf8_lossy(raw).into_owned(),
                            });
                        }
                    }
                }
                // Text exactly as written: inferring a number would turn
                // `007` into 7 and cut a 23-digit id to a float's 17.
                Want::Any => match std::str::from_utf8(raw) {
                    Ok("") => Cell::Null,
                    Ok(t) => Cell::Text(t.to_string()),
                    Err(_) => {
                        return Err(CsvError::NotUtf8 {
                            path: path.to_string(),
                            line,
                            column: headers[i].clone(),
                        });
                    }
                },
            };
        }
        sink.row(&cells, &|| format!("{path} line {line}"))
            .map_err(CsvError::Sink)?;
    }
}

/// A record's error without the csv crate's own position.
fn describe(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields, but the header has {expected_len}"),
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => e.to_string(),
    }
}

/// A CSV file being written (buffered; [`CsvWriter::flush`] at the end).
pub struct CsvWriter(csv::Writer<std::io::BufWriter<Out>>);

impl CsvWriter {
    /// Starts the file with its header line.
    pub fn new(file: Out, columns: &[String]) -> Result<CsvWriter, CsvError> {
        let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
        w.write_record(columns)?;
        Ok(CsvWriter(w))
    }

    /// Writes rows, each value as its text (NULL empty).
    pub fn write(&mut self, rows: &[Vec<Cell>]) -> Result<(), CsvError> {
        let mut field = String::new();
        for r in rows {
            for c in r {
                field.clear();
                c.write_text(&mut field);
                self.0.write_field(&field)?;
            }
            self.0.write_record(None::<&[u8]>)?;
        }
        Ok(())
    }

    /// Writes out what is buffered and hands the destination back.
    pub fn finish(self) -> Result<Out, CsvError> {
        let buffered = self
            .0
            .into_inner()
            .map_err(|e| CsvError::Flush(std::io::Error::other(e.error().to_string())))?;
        buffered
            .into_inner()
            .map_err(|e| CsvError::Flush(e.into_error()))
    }
}
