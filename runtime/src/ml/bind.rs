//! Binding a table's columns to a model's inputs: what `predict`'s
//! `features` means, shared by the runtime and `chime check`.

use std::fmt;

use super::model::Port;

/// Why `features` does not fit a model's inputs (the texts E062 and
/// `predict` show).
#[derive(Debug, Clone, PartialEq)]
pub enum BindError {
    /// An input of an element type `predict` does not feed.
    InputType { input: String, kind: String },
    /// A list of columns for a model of several inputs not named like
    /// them.
    ListForInputs { inputs: Vec<String>, columns: usize },
    /// `features` maps a name that is not an input.
    NotAnInput { input: String, inputs: Vec<String> },
    /// `features` leaves an input out.
    NoColumns { input: String, inputs: Vec<String> },
    /// An input of more than two dimensions.
    Dimensions { input: String, dims: usize },
    /// The one input's width, against the columns listed.
    Width { takes: u64, columns: usize },
    /// An input's width, against the columns it is given.
    InputWidth {
        input: String,
        takes: u64,
        columns: Vec<String>,
    },
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The inputs, each in backquotes.
        let names = |inputs: &[String]| {
            inputs
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            BindError::InputType { input, kind } => write!(
                f,
                "its input `{input}` takes {kind} values; `predict` feeds float, double, int64 or string inputs"
            ),
            BindError::ListForInputs { inputs, columns } => write!(
                f,
                "it has {} inputs ({}), and `features` is a list of {columns} columns: map each \
                 input to its columns (`features: {{{}: [column, ...], ...}}`), or list one \
                 column per input named like it",
                inputs.len(),
                names(inputs),
                inputs.first().map_or("", String::as_str)
            ),
            BindError::NotAnInput { input, inputs } => write!(
                f,
                "`features` maps `{input}`, which is not one of its inputs ({})",
                names(inputs)
            ),
            BindError::NoColumns { input, inputs } => write!(
                f,
                "`features` gives no columns for its input `{input}` (its inputs: {})",
                names(inputs)
            ),
            BindError::Dimensions { input, dims } => write!(
                f,
                "its input `{input}` has {dims} dimensions; `predict` feeds [rows, values]"
            ),
            BindError::Width { takes, columns } => write!(
                f,
                "it takes {takes} features per row, but `features` lists {columns}"
            ),
            BindError::InputWidth {
                input,
                takes,
                columns,
            } => write!(
                f,
                "its input `{input}` takes {takes} values per row, but `features` gives it {} columns ({})",
                columns.len(),
                columns.join(", ")
            ),
        }
    }
}

impl std::error::Error for BindError {}

/// How `features` binds input columns to the model's inputs.
#[derive(Debug, Clone, PartialEq)]
pub enum Features {
    /// Columns in order: the model's one input; or, for a model with one
    /// input per column (skl2onnx's export of a DataFrame), each input by
    /// its name.
    List(Vec<String>),
    /// Each model input and the columns that fill it, in order.
    Map(Vec<(String, Vec<String>)>),
}

/// An element type a model input takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    F32,
    F64,
    I64,
    Str,
}

impl Kind {
    pub fn of(port: &Port) -> Result<Kind, BindError> {
        Ok(match port.kind.as_str() {
            "float" => Kind::F32,
            "double" => Kind::F64,
            "int64" | "int32" => Kind::I64,
            "string" => Kind::Str,
            other => {
                return Err(BindError::InputType {
                    input: port.name.clone(),
                    kind: other.to_string(),
                });
            }
        })
    }
}

/// One model input and the columns that fill it.
#[derive(Debug)]
pub struct Bound {
    pub name: String,
    pub kind: Kind,
    pub columns: Vec<String>,
}

/// Binds `features` to the model's inputs, checking names and widths.
pub fn bind(ports: &[Port], features: &Features) -> Result<Vec<Bound>, BindError> {
    let names = || ports.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    let pairs: Vec<(&Port, Vec<String>)> = match features {
        Features::List(cols) if ports.len() == 1 => vec![(&ports[0], cols.clone())],
        Features::List(cols) => {
            // One input per column, named like it.
            let by_name: Option<Vec<_>> = ports
                .iter()
                .map(|p| cols.contains(&p.name).then(|| (p, vec![p.name.clone()])))
                .collect();
            match by_name {
                Some(pairs) if cols.len() == ports.len() => pairs,
                _ => {
                    return Err(BindError::ListForInputs {
                        inputs: names(),
                        columns: cols.len(),
                    });
                }
            }
        }
        Features::Map(map) => {
            for (input, _) in map {
                if !ports.iter().any(|p| &p.name == input) {
                    return Err(BindError::NotAnInput {
                        input: input.clone(),
                        inputs: names(),
                    });
                }
            }
            let mut pairs = Vec::with_capacity(ports.len());
            for p in ports {
                let cols = map
                    .iter()
                    .find(|(i, _)| *i == p.name)
                    .map(|(_, c)| c.clone())
                    .ok_or_else(|| BindError::NoColumns {
                        input: p.name.clone(),
                        inputs: names(),
                    })?;
                pairs.push((p, cols));
            }
            pairs
        }
    };
    let mut bound = Vec::with_capacity(pairs.len());
    for (p, columns) in pairs {
        if p.dims.len() > 2 {
            return Err(BindError::Dimensions {
                input: p.name.clone(),
                dims: p.dims.len(),
            });
        }
        if let Some(Some(w)) = p.dims.get(1)
            && *w as usize != columns.len()
        {
            return Err(if pairs_len(features) == 1 {
                BindError::Width {
                    takes: *w,
                    columns: columns.len(),
                }
            } else {
                BindError::InputWidth {
                    input: p.name.clone(),
                    takes: *w,
                    columns,
                }
            });
        }
        bound.push(Bound {
            name: p.name.clone(),
            kind: Kind::of(p)?,
            columns,
        });
    }
    Ok(bound)
}

fn pairs_len(f: &Features) -> usize {
    match f {
        Features::List(_) => 1,
        Features::Map(m) => m.len(),
    }
}
