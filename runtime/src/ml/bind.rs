//! Binding a table's columns to a model's inputs: what `predict`'s
//! `features` means, shared by the runtime and `chime check`.

use super::model::Port;

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
    pub fn of(port: &Port) -> Result<Kind, String> {
        Ok(match port.kind.as_str() {
            "float" => Kind::F32,
            "double" => Kind::F64,
            "int64" | "int32" => Kind::I64,
            "string" => Kind::Str,
            other => {
                return Err(format!(
                    "its input `{}` takes {other} values; `predict` feeds float, double, int64 or string inputs",
                    port.name
                ));
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
pub fn bind(ports: &[Port], features: &Features) -> Result<Vec<Bound>, String> {
    let names = || {
        ports
            .iter()
            .map(|p| format!("`{}`", p.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
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
                    return Err(format!(
                        "it has {} inputs ({}), and `features` is a list of {} columns: map each \
                         input to its columns (`features: {{{}: [column, ...], ...}}`), or list one \
                         column per input named like it",
                        ports.len(),
                        names(),
                        cols.len(),
                        ports[0].name
                    ));
                }
            }
        }
        Features::Map(map) => {
            for (input, _) in map {
                if !ports.iter().any(|p| &p.name == input) {
                    return Err(format!(
                        "`features` maps `{input}`, which is not one of its inputs ({})",
                        names()
                    ));
                }
            }
            let mut pairs = Vec::with_capacity(ports.len());
            for p in ports {
                let cols = map
                    .iter()
                    .find(|(i, _)| *i == p.name)
                    .map(|(_, c)| c.clone())
                    .ok_or_else(|| {
                        format!(
                            "`features` gives no columns for its input `{}` (its inputs: {})",
                            p.name,
                            names()
                        )
                    })?;
                pairs.push((p, cols));
            }
            pairs
        }
    };
    let mut bound = Vec::with_capacity(pairs.len());
    for (p, columns) in pairs {
        if p.dims.len() > 2 {
            return Err(format!(
                "its input `{}` has {} dimensions; `predict` feeds [rows, values]",
                p.name,
                p.dims.len()
            ));
        }
        if let Some(Some(w)) = p.dims.get(1)
            && *w as usize != columns.len()
        {
            return Err(if pairs_len(features) == 1 {
                format!(
                    "it takes {w} features per row, but `features` lists {}",
                    columns.len()
                )
            } else {
                format!(
                    "its input `{}` takes {w} values per row, but `features` gives it {} columns ({})",
                    p.name,
                    columns.len(),
                    columns.join(", ")
                )
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
