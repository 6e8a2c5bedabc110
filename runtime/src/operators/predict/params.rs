//! A `predict` task's parameters, read and checked before the model is.

use super::error::PredictError;
use crate::ml::bind::Features;
use crate::operators::sql::output_of;
use crate::rows::{Destination, Input};

const DEFAULT_BATCH: usize = 4096;

/// A `predict` task, as its parameters say.
#[derive(Debug)]
pub(super) struct PredictTask {
    pub model: String,
    pub input: Input,
    pub features: Features,
    pub keep: Vec<String>,
    pub batch_size: usize,
    pub output: Destination,
    /// NaN and infinite features go to the model, and NaN or infinite
    /// predictions are written, instead of failing the task.
    pub allow_nan: bool,
}

fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl PredictTask {
    pub fn from_params(p: &serde_json::Value) -> Result<PredictTask, PredictError> {
        let model = p
            .get("model")
            .and_then(|v| v.as_str())
            .ok_or(PredictError::Param("`predict` needs `model`"))?
            .to_string();
        let input = p
            .get("input")
            .ok_or(PredictError::Param("`predict` needs `input`"))?;
        let s = |k: &str| input.get(k).and_then(|x| x.as_str());
        let input = if let Some(csv) = s("csv") {
            Input::Csv(csv.to_string())
        } else if let Some(path) = s("parquet") {
            Input::Parquet(path.to_string())
        } else if let Some(query) = s("sql") {
            Input::Sql {
                connection: s("connection")
                    .ok_or(PredictError::Param("`input: {sql}` needs `connection`"))?
                    .to_string(),
                query: query.to_string(),
                args: input
                    .get("args")
                    .and_then(|a| a.as_array())
                    .cloned()
                    .unwrap_or_default(),
            }
        } else {
            return Err(PredictError::Param(
                "`input` needs `csv`, `parquet` or `sql`",
            ));
        };
        let features = features(p.get("features"))?;
        let batch_size = p
            .get("batch_size")
            .and_then(|v| v.as_u64())
            .map_or(DEFAULT_BATCH, |n| n.max(1) as usize);
        let output = output_of(
            p.get("output")
                .ok_or(PredictError::Param("`predict` needs `output`"))?,
            None,
        )?;
        // A template renders to a string: "true" is true.
        let allow_nan = match p.get("allow_nan") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) if s.trim() == "true" => true,
            Some(serde_json::Value::String(s)) if s.trim() == "false" => false,
            Some(other) => return Err(PredictError::AllowNan(other.clone())),
        };
        Ok(PredictTask {
            model,
            input,
            features,
            keep: strings(p.get("keep")),
            batch_size,
            output,
            allow_nan,
        })
    }

    /// Refuses output columns that would overwrite one another, before any
    /// row is read: a model output named like a `keep` column, a name
    /// twice, or an output `ds` written to a table (where `ds` is the
    /// run's date, the partition `replace_partition` deletes).
    pub fn check_columns(&self, outputs: &[String]) -> Result<(), PredictError> {
        let path = &self.model;
        for name in outputs {
            if self.keep.contains(name) {
                return Err(PredictError::KeepClash {
                    path: path.clone(),
                    name: name.clone(),
                });
            }
            if name == "ds" && matches!(self.output, Destination::Table { .. }) {
                return Err(PredictError::DsOutput(path.clone()));
            }
        }
        // SQLite matches column names whatever their case.
        let mut seen = std::collections::HashSet::new();
        for name in self.keep.iter().chain(outputs) {
            if !seen.insert(name.to_lowercase()) {
                return Err(PredictError::TwoColumns {
                    name: name.clone(),
                    keep: self.keep.join(", "),
                    outputs: outputs.join(", "),
                });
            }
        }
        Ok(())
    }
}

/// `features`: a list of columns, or a mapping of model inputs to them.
pub(super) fn features(v: Option<&serde_json::Value>) -> Result<Features, PredictError> {
    match v {
        Some(serde_json::Value::Object(m)) => {
            if m.is_empty() {
                return Err(PredictError::Param("`features` maps no model input"));
            }
            let mut out = Vec::with_capacity(m.len());
            for (input, cols) in m {
                let cols = strings(Some(cols));
                if cols.is_empty() {
                    return Err(PredictError::NoColumnsFor(input.clone()));
                }
                out.push((input.clone(), cols));
            }
            Ok(Features::Map(out))
        }
        other => {
            let cols = strings(other);
            if cols.is_empty() {
                return Err(PredictError::Param("`features` lists no column"));
            }
            Ok(Features::List(cols))
        }
    }
}
