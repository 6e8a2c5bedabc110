//! CSV files: read with a header line, a record at a time; written with
//! the column names as the header.

use super::model::{Cell, RowSink, Want};

/// Reads every row of the CSV file at `path` into `sink`.
pub fn read(path: &str, sink: &mut dyn RowSink) -> Result<(), String> {
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

/// A CSV file being written (buffered; [`CsvWriter::flush`] at the end).
pub struct CsvWriter(csv::Writer<std::io::BufWriter<std::fs::File>>);

impl CsvWriter {
    /// Starts the file with its header line.
    pub fn new(file: std::fs::File, columns: &[String]) -> Result<CsvWriter, String> {
        let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
        w.write_record(columns).map_err(|e| e.to_string())?;
        Ok(CsvWriter(w))
    }

    /// Writes rows, each value as its text (NULL empty).
    pub fn write(&mut self, rows: &[Vec<Cell>]) -> Result<(), String> {
        let mut field = String::new();
        for r in rows {
            for c in r {
                field.clear();
                c.write_text(&mut field);
                self.0.write_field(&field).map_err(|e| e.to_string())?;
            }
            self.0
                .write_record(None::<&[u8]>)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), String> {
        self.0.flush().map_err(|e| e.to_string())
    }
}
