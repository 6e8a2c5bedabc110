//! TreeEnsemble (ai.onnx.ml 5).

use super::ensemble::{Agg, Ensemble, Flat, MAX_TARGETS, Mode, Num};
use crate::ml::error::{ModelError, TreeError};
use crate::ml::ops::op::{Attrs, Op};
use crate::ml::ops::post::Post;
use crate::ml::value::{Tensor, Value};

/// TreeEnsemble (ai.onnx.ml 5): nodes and leaves in separate lists,
/// modes and splits as tensors, set membership.
pub fn v5(a: &Attrs) -> Result<Box<dyn Op>, ModelError> {
    let splits = a.tensor("nodes_splits")?.ok_or(TreeError::NoSplits)?;
    match splits {
        Tensor::F64(_) => Ok(Box::new(V5::<f64>::new(a)?)),
        _ => Ok(Box::new(V5::<f32>::new(a)?)),
    }
}

#[derive(Debug)]
pub struct V5<T> {
    ensemble: Ensemble<T>,
    agg: Agg,
    post: Post,
    double: bool,
}

impl<T: Num> V5<T> {
    fn new(a: &Attrs) -> Result<Self, ModelError> {
        let t64 = |name: &str| -> Result<Vec<T>, ModelError> {
            Ok(match a.tensor(name)? {
                Some(t) => t.to_f64()?.data.into_iter().map(T::from_f64).collect(),
                None => Vec::new(),
            })
        };
        let splits = t64("nodes_splits")?;
        let n = splits.len();
        let modes_t: Vec<i64> = match a.tensor("nodes_modes")? {
            Some(t) => t.to_i64()?.data,
            None => vec![0; n],
        };
        let features = a.ints("nodes_featureids");
        let yes = a.ints("nodes_truenodeids");
        let no = a.ints("nodes_falsenodeids");
        let yes_leaf = a.ints("nodes_trueleafs");
        let no_leaf = a.ints("nodes_falseleafs");
        let missing = a.ints("nodes_missing_value_tracks_true");
        let roots = a.ints("tree_roots");
        let leaf_targets = a.ints("leaf_targetids");
        let leaf_weights = t64("leaf_weights")?;
        let members = t64("membership_values")?;
        for (name, len) in [
            ("nodes_modes", modes_t.len()),
            ("nodes_featureids", features.len()),
            ("nodes_truenodeids", yes.len()),
            ("nodes_falsenodeids", no.len()),
            ("nodes_trueleafs", yes_leaf.len()),
            ("nodes_falseleafs", no_leaf.len()),
        ] {
            if len != n {
                return Err(TreeError::SplitLengths {
                    splits: n,
                    len,
                    attribute: name,
                }
                .into());
            }
        }
        if leaf_targets.len() != leaf_weights.len() {
            return Err(TreeError::LeafLengths.into());
        }
        // Into the flat form: tree 0 holds everything, interior nodes are
        // ids 0..n, leaf i is id n + i.
        let mut flat = Flat {
            tree: Vec::new(),
            id: Vec::new(),
            feature: Vec::new(),
            mode: Vec::new(),
            threshold: Vec::new(),
            yes: Vec::new(),
            no: Vec::new(),
            missing_true: Vec::new(),
            leaf_weights: Vec::new(),
            sets: Vec::new(),
        };
        // The sets belong to the MEMBER nodes in the order of the node
        // list (the spec; onnxruntime too), whatever order the trees are
        // walked in below.
        let mut member_sets = members.split(|v| v.is_nan()).map(<[T]>::to_vec);
        let set_of: Vec<Option<Vec<T>>> = modes_t
            .iter()
            .map(|&m| (m == 6).then(|| member_sets.next().unwrap_or_default()))
            .collect();
        let mut tree_of = vec![-1i64; n];
        let mut leaf_tree = vec![-1i64; leaf_weights.len()];
        // Each root's subtree is its own tree.
        for (t, &r) in roots.iter().enumerate() {
            let mut stack = vec![r];
            while let Some(i) = stack.pop() {
                let i = usize::try_from(i)
                    .ok()
                    .filter(|&i| i < n)
                    .ok_or(TreeError::NodeId)?;
                if tree_of[i] != -1 {
                    continue;
                }
                tree_of[i] = t as i64;
                for (next, leaf) in [(yes[i], yes_leaf[i]), (no[i], no_leaf[i])] {
                    if leaf == 1 {
                        let l = usize::try_from(next)
                            .ok()
                            .filter(|&l| l < leaf_tree.len())
                            .ok_or(TreeError::LeafId)?;
                        leaf_tree[l] = t as i64;
                    } else {
                        stack.push(next);
                    }
                }
            }
        }
        // Roots first, each tree's nodes in order.
        let mut order: Vec<usize> = (0..n).filter(|&i| tree_of[i] >= 0).collect();
        let is_root: std::collections::HashSet<i64> = roots.iter().copied().collect();
        order.sort_by_key(|&i| (tree_of[i], !is_root.contains(&(i as i64)), i));
        for i in order {
            let mode = match modes_t[i] {
                0 => Mode::Leq,
                1 => Mode::Lt,
                2 => Mode::Gte,
                3 => Mode::Gt,
                4 => Mode::Eq,
                5 => Mode::Neq,
                6 => Mode::Member,
                m => return Err(unknown("node mode", m)),
            };
            let threshold = if mode == Mode::Member {
                flat.sets.push(set_of[i].clone().unwrap_or_default());
                T::from_f64((flat.sets.len() - 1) as f64)
            } else {
                splits[i]
            };
            flat.tree.push(tree_of[i]);
            flat.id.push(i as i64);
            flat.feature.push(features[i]);
            flat.mode.push(mode);
            flat.threshold.push(threshold);
            let id = |next: i64, leaf: i64| if leaf == 1 { n as i64 + next } else { next };
            flat.yes.push(id(yes[i], yes_leaf[i]));
            flat.no.push(id(no[i], no_leaf[i]));
            flat.missing_true.push(missing.get(i) == Some(&1));
        }
        for (l, &t) in leaf_tree.iter().enumerate() {
            if t < 0 {
                continue;
            }
            flat.tree.push(t);
            flat.id.push((n + l) as i64);
            flat.feature.push(0);
            flat.mode.push(Mode::Leaf);
            flat.threshold.push(T::ZERO);
            flat.yes.push(0);
            flat.no.push(0);
            flat.missing_true.push(false);
            flat.leaf_weights
                .push((t, (n + l) as i64, leaf_targets[l], leaf_weights[l]));
        }
        // Roots must come first in their tree for `compile`.
        let targets = usize::try_from(a.int("n_targets", 1)).unwrap_or(0).max(1);
        if targets > MAX_TARGETS {
            return Err(TreeError::TooManyTargets {
                targets,
                max: MAX_TARGETS,
            }
            .into());
        }
        let agg = match a.int("aggregate_function", 1) {
            0 => Agg::Average,
            1 => Agg::Sum,
            2 => Agg::Min,
            3 => Agg::Max,
            f => return Err(unknown("aggregate_function", f)),
        };
        // The spec's numbering. (onnxruntime 1.32 reads 1 as LOGISTIC and
        // 2 as SOFTMAX, its own enum's order: with several targets its
        // scores differ from these.)
        let post = match a.int("post_transform", 0) {
            0 => Post::None,
            1 => Post::Softmax,
            2 => Post::Logistic,
            3 => Post::SoftmaxZero,
            4 => Post::Probit,
            p => return Err(unknown("post_transform", p)),
        };
        Ok(V5 {
            double: matches!(a.tensor("nodes_splits")?, Some(Tensor::F64(_))),
            ensemble: Ensemble::compile(flat, targets)?,
            agg,
            post,
        })
    }
}

impl<T: Num> Op for V5<T> {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let (rows, sums, has) = self.ensemble.run(inputs, self.agg)?;
        let k = self.ensemble.targets;
        let n_trees = self.ensemble.roots.len() as f64;
        let mut out: Vec<f64> = Vec::with_capacity(rows * k);
        for r in 0..rows {
            let mut row: Vec<f64> = (0..k)
                .map(|j| {
                    let i = r * k + j;
                    let v = if has[i] { sums[i].to_f64() } else { 0.0 };
                    if self.agg == Agg::Average {
                        v / n_trees
                    } else {
                        v
                    }
                })
                .collect();
            // One target: only PROBIT transforms it (onnxruntime, as for
            // TreeEnsembleRegressor).
            if self.post == Post::Probit || (k > 1 && self.post != Post::None) {
                let mut f: Vec<f32> = row.iter().map(|&v| v as f32).collect();
                self.post.apply(&mut f);
                row = f.into_iter().map(f64::from).collect();
            }
            out.extend(row);
        }
        let shape = vec![rows, k];
        Ok(vec![Value::T(Tensor::floats(out, shape, self.double)?)])
    }
}

/// A numbered attribute's value TreeEnsemble does not know.
fn unknown(what: &'static str, value: i64) -> ModelError {
    TreeError::Unknown { what, value }.into()
}
