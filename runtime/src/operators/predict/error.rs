//! Why a `predict` task failed: one error for every stage, each message
//! naming the model, the input row or the column it is about.

use tract_onnx::prelude::TractError;

use crate::operators::sql::SqlError;
use crate::rows::SinkError;
use crate::rows::reader::ReadError;
use crate::rows::writer::WriteError;

/// An error of chime's ONNX layer (`crate::ml`), as it gives it.
pub type MlError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// A parameter missing or of the wrong form (the message says which).
    #[error("{0}")]
    Param(&'static str),
    #[error("`features`: the model input `{0}` gets no column")]
    NoColumnsFor(String),
    #[error("`allow_nan: {0}`: use true or false")]
    AllowNan(serde_json::Value),
    #[error(transparent)]
    Output(#[from] SqlError),

    // The model.
    #[error("cannot read the model {path}: {source}")]
    ReadModel {
        path: String,
        source: std::io::Error,
    },
    /// What the model at `path` is refused for.
    #[error("model {path}: {error}")]
    Model { path: String, error: MlError },
    #[error(
        "the model `{path}` uses the operator {op} ({domain}), which chime cannot run (node \
         `{node}`; docs/models.md lists the operators chime runs)"
    )]
    Unsupported {
        path: String,
        op: String,
        domain: String,
        node: String,
    },
    #[error("model {0} has no input")]
    NoInput(String),
    /// `inputs` as [`describe_bound`](super::model::describe_bound) gives them.
    #[error(
        "model {path}: a model without ai.onnx.ml operators runs on tract, which `predict` \
         feeds one float input; this one takes {inputs}"
    )]
    TractInputs { path: String, inputs: String },
    #[error("model {path} fails on a batch of zeros: {error}")]
    Zeros {
        path: String,
        error: Box<PredictError>,
    },
    #[error("model {path}: {error}")]
    Rows {
        path: String,
        error: Box<PredictError>,
    },

    // tract.
    #[error("cannot load the model {path}: {error:#}")]
    TractLoad { path: String, error: TractError },
    #[error("model {path}: {error:#}")]
    Tract { path: String, error: TractError },
    /// `shape`: the input's dimensions, as tract shows them.
    #[error("model {path}: its input has shape [{shape}]; `predict` needs [rows, features]")]
    Rank { path: String, shape: String },
    #[error("model {path} cannot run on [{batch}, {width}] inputs: {error:#}")]
    FixedBatch {
        path: String,
        batch: usize,
        width: usize,
        error: TractError,
    },
    #[error("tract takes one float input")]
    TractInput,
    #[error("{0}")]
    TractValue(TractError),
    #[error("inference failed: {0:#}")]
    TractRun(TractError),
    #[error("an output of type {0}, which `predict` cannot write")]
    OutputType(String),

    // A batch.
    #[error("inference failed: {0}")]
    Inference(MlError),
    #[error("{0}")]
    Ml(MlError),
    #[error(
        "an output has shape {shape:?} for a batch of {rows}: `predict` needs one row of every \
         output per input row"
    )]
    OutputShape { shape: Vec<usize>, rows: usize },
    #[error(
        "the output `{name}` has {n} rows (shape {shape:?}) for a batch of {rows}: `predict` \
         needs one row of every output per input row"
    )]
    OutputRows {
        name: String,
        n: usize,
        shape: Vec<usize>,
        rows: usize,
    },
    #[error(
        "the output `{0}` is a single value, not one per row: `predict` needs one row of every \
         output per input row"
    )]
    OutputScalar(String),
    #[error("input rows {from} to {to}: {error}")]
    Batch {
        from: u64,
        to: u64,
        error: Box<PredictError>,
    },
    #[error(
        "the model's outputs give {width} values per row for a batch of {rows}, but {loaded} \
         when it was loaded: `predict` needs the same values per row in every batch"
    )]
    Width {
        width: usize,
        rows: usize,
        loaded: usize,
    },
    /// `row` names the input row, `value` is described by
    /// [`Cell::describe`](crate::rows::Cell::describe).
    #[error(
        "{row}: the model's output `{column}` is {value}; refused (set `allow_nan: true` to \
         write NaN and infinite predictions)"
    )]
    NanOutput {
        row: String,
        column: String,
        value: String,
    },

    // Output columns.
    #[error(
        "model {path}: its output `{name}` has the name of a `keep` column, and would overwrite \
         it: leave `{name}` out of `keep` or rename the output"
    )]
    KeepClash { path: String, name: String },
    #[error(
        "model {0}: its output `ds` would be written as the table's `ds` column, which holds the \
         run's date (`replace_partition` deletes by it): rename the output, or write it to a file"
    )]
    DsOutput(String),
    #[error(
        "the output would have two columns `{name}` (names that differ only in case count as \
         one; `keep`: {keep}; the model's outputs: {outputs}): list each column once"
    )]
    TwoColumns {
        name: String,
        keep: String,
        outputs: String,
    },

    // Input rows: `at` names the row.
    #[error("the input has no column `{column}` (its columns: {columns})")]
    NoColumn { column: String, columns: String },
    #[error(
        "{at}, column `{column}`: no value (the model does not impute or route missing values \
         of its input `{input}`; fill the gap upstream, or set `allow_nan: true` to pass NaN)"
    )]
    Missing {
        at: String,
        column: String,
        input: String,
    },
    #[error(
        "{at}, column `{column}`: no value (the model's input `{input}` takes text and does not \
         impute missing values; fill the gap upstream)"
    )]
    MissingText {
        at: String,
        column: String,
        input: String,
    },
    #[error("{at}, column `{column}`: {value} is not a number")]
    NotANumber {
        at: String,
        column: String,
        value: String,
    },
    #[error(
        "{at}, column `{column}`: {value} is not an integer (the model's input `{input}` takes \
         int64)"
    )]
    NotAnInteger {
        at: String,
        column: String,
        value: String,
        input: String,
    },
    #[error(
        "{at}, column `{column}`: {x:e} is too large for the model's 32-bit floats (set \
         `allow_nan: true` to pass NaN and infinities to the model)"
    )]
    TooLarge { at: String, column: String, x: f64 },
    #[error(
        "{at}, column `{column}`: {x} is not a finite number (set `allow_nan: true` to pass NaN \
         and infinities to the model)"
    )]
    NotFinite { at: String, column: String, x: f64 },

    // The stages.
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A sink's error that is not predict's (none is).
    #[error("{0}")]
    Sink(SinkError),
    /// A stage saw the one after it stop (it failed, or was cancelled).
    #[error("stopped")]
    Stopped,
    #[error("the output writer panicked")]
    WriterPanicked,
    #[error("the input reader panicked")]
    ReaderPanicked,
}

impl PredictError {
    /// An error of the model at `path` from `crate::ml`.
    pub fn model(path: &str, error: impl Into<MlError>) -> PredictError {
        PredictError::Model {
            path: path.to_string(),
            error: error.into(),
        }
    }

    /// An error of `crate::ml` about a batch.
    pub fn ml(error: impl Into<MlError>) -> PredictError {
        PredictError::Ml(error.into())
    }

    /// What a read ended with: the reader's own error as it is, else the
    /// read's.
    pub fn of_read(e: ReadError) -> PredictError {
        // Stopped by a later stage, which reports the cause (a query's
        // read included, whose other sink errors keep its connection's name).
        if e.sink()
            .and_then(|s| s.downcast_ref::<PredictError>())
            .is_some_and(|p| matches!(p, PredictError::Stopped))
        {
            return PredictError::Stopped;
        }
        match e.into_sink() {
            Ok(sink) => match sink.downcast::<PredictError>() {
                Ok(own) => *own,
                Err(other) => PredictError::Sink(other),
            },
            Err(read) => PredictError::Read(read),
        }
    }
}
