//! TreeEnsembleClassifier and TreeEnsembleRegressor (ai.onnx.ml 1-3):
//! their attributes, and onnxruntime's rules for base values, the binary
//! case and the post-transform.

use super::ensemble::{Agg, Ensemble, Flat, MAX_TARGETS, Mode, Num};
use crate::ml::error::{ModelError, TreeError};
use crate::ml::ops::op::{Attrs, Op};
use crate::ml::ops::post::{Labels, Post, logistic, probit};
use crate::ml::value::{Arr, Tensor, Value};

/// TreeEnsembleClassifier or TreeEnsembleRegressor.
#[derive(Debug)]
pub struct Trees<T> {
    ensemble: Ensemble<T>,
    agg: Agg,
    post: Post,
    base: Vec<T>,
    /// Set for a classifier.
    classes: Option<Classes>,
}

#[derive(Debug)]
pub struct Classes {
    labels: Labels,
    /// Two classes, and leaves that give weights to only one of them.
    binary: bool,
    all_positive: bool,
}

impl<T: Num> Trees<T> {
    pub fn new(a: &Attrs, classifier: bool) -> Result<Self, ModelError> {
        let nums = |name: &str| -> Result<Vec<T>, ModelError> {
            Ok(a.floats_or_tensor(name)?
                .into_iter()
                .map(T::from_f64)
                .collect())
        };
        let modes = a
            .strings("nodes_modes")?
            .iter()
            .map(|m| Mode::parse(m))
            .collect::<Result<Vec<_>, _>>()?;
        let (ids, node_ids, tree_ids, ws) = if classifier {
            (
                "class_ids",
                "class_nodeids",
                "class_treeids",
                "class_weights",
            )
        } else {
            (
                "target_ids",
                "target_nodeids",
                "target_treeids",
                "target_weights",
            )
        };
        let (t_ids, t_nodes, t_trees, t_ws) =
            (a.ints(ids), a.ints(node_ids), a.ints(tree_ids), nums(ws)?);
        if t_nodes.len() != t_ids.len() || t_trees.len() != t_ids.len() || t_ws.len() != t_ids.len()
        {
            return Err(TreeError::WeightLengths {
                ids,
                nodes: node_ids,
                trees: tree_ids,
                weights: ws,
            }
            .into());
        }
        let leaf_weights: Vec<(i64, i64, i64, T)> = (0..t_ids.len())
            .map(|i| (t_trees[i], t_nodes[i], t_ids[i], t_ws[i]))
            .collect();
        let classes = if classifier {
            let labels = Labels::from_attrs(a, "classlabels_int64s", "classlabels_strings")?;
            let distinct: std::collections::HashSet<i64> = t_ids.iter().copied().collect();
            Some(Classes {
                binary: labels.len() == 2 && distinct.len() == 1,
                all_positive: t_ws.iter().all(|&w| w >= T::ZERO),
                labels,
            })
        } else {
            None
        };
        let targets = match &classes {
            Some(c) => c.labels.len(),
            None => usize::try_from(a.int("n_targets", 1)).unwrap_or(0),
        };
        if targets == 0 || targets > MAX_TARGETS {
            return Err(TreeError::Targets {
                targets,
                max: MAX_TARGETS,
            }
            .into());
        }
        let flat = Flat {
            tree: a.ints("nodes_treeids"),
            id: a.ints("nodes_nodeids"),
            feature: a.ints("nodes_featureids"),
            mode: modes,
            threshold: nums("nodes_values")?,
            yes: a.ints("nodes_truenodeids"),
            no: a.ints("nodes_falsenodeids"),
            missing_true: a
                .ints("nodes_missing_value_tracks_true")
                .iter()
                .map(|&v| v == 1)
                .collect(),
            leaf_weights,
            sets: Vec::new(),
        };
        Ok(Trees {
            ensemble: Ensemble::compile(flat, targets)?,
            agg: Agg::parse(&a.string("aggregate_function", "SUM")?)?,
            post: Post::parse(&a.string("post_transform", "NONE")?)?,
            base: nums("base_values")?,
            classes,
        })
    }

    /// A regressor's row: aggregate, base values, post-transform.
    fn regress(&self, sums: &[T], has: &[bool], out: &mut Vec<f32>) {
        let k = self.ensemble.targets;
        let n_trees = self.ensemble.roots.len() as f64;
        let mut row: Vec<f32> = Vec::with_capacity(k);
        for j in 0..k {
            if k > 1 && !has[j] {
                // A target no tree gave a weight to is 0, without its base
                // value (onnxruntime 1.32; one target gets its base value).
                row.push(0.0);
                continue;
            }
            let mut v = if has[j] || self.agg == Agg::Sum || self.agg == Agg::Average {
                sums[j].to_f64()
            } else {
                0.0
            };
            if self.agg == Agg::Average {
                v /= n_trees;
            }
            // One base value for one target; else one per target.
            if k == 1 && self.base.len() == 1 {
                v += self.base[0].to_f64();
            } else if self.base.len() == k {
                v += self.base[j].to_f64();
            }
            // Sums are kept in T; the addition above is exact in f64 for f32 T
            // but rounds once more than T would: redo it in T.
            row.push(T::from_f64(v).to_f64() as f32);
        }
        if k > 1 {
            self.post.apply(&mut row);
        } else if self.post == Post::Probit {
            row[0] = probit(row[0]);
        }
        out.extend(row);
    }
}

impl<T: Num> Op for Trees<T> {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let (rows, sums, has) = self.ensemble.run(inputs, self.agg)?;
        let k = self.ensemble.targets;
        match &self.classes {
            None => {
                let mut out = Vec::with_capacity(rows * k);
                for r in 0..rows {
                    self.regress(
                        &sums[r * k..(r + 1) * k],
                        &has[r * k..(r + 1) * k],
                        &mut out,
                    );
                }
                Ok(vec![Value::T(Tensor::F32(Arr::new(vec![rows, k], out)?))])
            }
            Some(c) => {
                let mut scores = Vec::with_capacity(rows * k);
                let mut picked = Vec::with_capacity(rows);
                for r in 0..rows {
                    let (label, row) =
                        self.classify(c, &sums[r * k..(r + 1) * k], &has[r * k..(r + 1) * k]);
                    picked.push(label);
                    scores.extend(row);
                }
                let labels = match (
                    &c.labels,
                    picked.iter().any(|p| matches!(p, Pick::Literal(_))),
                ) {
                    (Labels::I64(v), _) => Tensor::I64(Arr::vector(
                        picked
                            .iter()
                            .map(|p| match p {
                                Pick::Class(i) => v.get(*i).copied().unwrap_or(0),
                                Pick::Literal(l) => *l,
                            })
                            .collect(),
                    )),
                    (Labels::Str(v), _) => Tensor::Str(Arr::vector(
                        picked
                            .iter()
                            .map(|p| {
                                let i = match p {
                                    Pick::Class(i) => *i,
                                    Pick::Literal(l) => *l as usize,
                                };
                                v.get(i).cloned().unwrap_or_default()
                            })
                            .collect(),
                    )),
                };
                Ok(vec![
                    Value::T(labels),
                    Value::T(Tensor::F32(Arr::new(vec![rows, k], scores)?)),
                ])
            }
        }
    }
}

/// A classifier's decision: a class index, or (onnxruntime's binary rule
/// without class weights) the literal 0 or 1.
pub enum Pick {
    Class(usize),
    Literal(i64),
}

impl<T: Num> Trees<T> {
    /// One row of a classifier: onnxruntime's rules for base values,
    /// the binary case and the scores of the second class.
    fn classify(&self, c: &Classes, sums: &[T], has: &[bool]) -> (Pick, Vec<f32>) {
        let k = sums.len();
        let mut s: Vec<f64> = sums.iter().map(|v| v.to_f64()).collect();
        let mut h = has.to_vec();
        let base: Vec<f64> = self.base.iter().map(|v| v.to_f64()).collect();
        let round = |v: f64| T::from_f64(v).to_f64();
        if self.agg == Agg::Average {
            let n = self.ensemble.roots.len() as f64;
            s.iter_mut().for_each(|v| *v = round(*v / n));
        }
        if k > 2 {
            for (j, b) in base.iter().enumerate().take(k) {
                s[j] = round(s[j] + b);
                h[j] = true;
            }
            let mut best: Option<usize> = None;
            for j in 0..k {
                if h[j] && best.is_none_or(|b| s[j] > s[b]) {
                    best = Some(j);
                }
            }
            let mut row: Vec<f32> = s.iter().map(|&v| v as f32).collect();
            self.post.apply(&mut row);
            return (Pick::Class(best.unwrap_or(0)), row);
        }
        // Two classes.
        let mut add: i32 = -1;
        let mut len = 2;
        if base.len() == 2 {
            if h[1] {
                s[1] = round(base[1] + s[0]);
                s[0] = -s[1];
            } else {
                s[1] = round(s[1] + base[1]);
                s[0] = round(s[0] + base[0]);
            }
        } else if base.len() == 1 {
            s[0] = round(s[0] + base[0]);
            if !h[1] {
                len = 1;
            }
        } else if base.is_empty() {
            add = 3;
            if !h[1] {
                len = 1;
            }
        }
        let pos_weight = if len == 2 && h[1] {
            s[1]
        } else if h[0] {
            s[0]
        } else {
            0.0
        };
        let pick = if c.binary {
            if c.all_positive {
                if pos_weight > 0.5 {
                    add = 0;
                    Pick::Class(1)
                } else {
                    add = 1;
                    Pick::Class(0)
                }
            } else if pos_weight > 0.0 {
                add = 2;
                Pick::Class(1)
            } else {
                add = 3;
                Pick::Class(0)
            }
        } else {
            Pick::Literal(i64::from(pos_weight > 0.0))
        };
        // A class no tree gave a weight to scores 0, whatever base value
        // was added to it (onnxruntime 1.32; the label above is decided
        // before).
        for j in 0..2 {
            if !h[j] {
                s[j] = 0.0;
            }
        }
        let row = if len == 2 {
            let mut row = vec![s[0] as f32, s[1] as f32];
            self.post.apply(&mut row);
            row
        } else {
            let v = s[0] as f32;
            match (self.post, add) {
                (Post::Probit, _) => vec![probit(v), 0.0],
                (_, 0 | 1) => vec![1.0 - v, v],
                (Post::Logistic, 2 | 3) => vec![logistic(-v), logistic(v)],
                (_, 2 | 3) => vec![-v, v],
                _ => vec![v, 0.0],
            }
        };
        (pick, row)
    }
}
