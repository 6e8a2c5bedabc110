//! The trees compiled into one flat array of nodes (see the module's
//! documentation), checked as they are laid out.

use std::collections::HashMap;

use crate::ml::error::{ModelError, TreeError};
use crate::ml::value::Tensor;

/// How a node compares the feature with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
    /// The feature is one of a set (TreeEnsemble 5).
    Member,
    Leaf,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, ModelError> {
        Ok(match s {
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            "LEAF" => Mode::Leaf,
            other => return Err(ModelError::unknown("node mode", other)),
        })
    }
}

/// f32 or f64: the type of thresholds, weights and sums.
pub trait Num: Copy + PartialOrd + std::fmt::Debug + Send + Sync + 'static {
    const ZERO: Self;
    const IS_F64: bool;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn add(self, o: Self) -> Self;
    fn is_nan(self) -> bool;
    fn inputs(t: &Tensor) -> Result<Vec<Self>, ModelError>;
}

impl Num for f32 {
    const ZERO: f32 = 0.0;
    const IS_F64: bool = false;
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn add(self, o: f32) -> f32 {
        self + o
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn inputs(t: &Tensor) -> Result<Vec<f32>, ModelError> {
        Ok(match t {
            Tensor::F32(a) => a.data.clone(),
            other => other.to_f32()?.data,
        })
    }
}

impl Num for f64 {
    const ZERO: f64 = 0.0;
    const IS_F64: bool = true;
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn add(self, o: f64) -> f64 {
        self + o
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn inputs(t: &Tensor) -> Result<Vec<f64>, ModelError> {
        t.to_f64().map(|a| a.data)
    }
}

/// One node. A leaf points to itself on both sides (a walk that reaches
/// it stays there: rows can be walked in lockstep); its weights' range is
/// in [`Ensemble::leaves`].
#[derive(Debug, Clone, Copy)]
pub struct Node<T> {
    pub threshold: T,
    pub feature: u32,
    pub next_true: u32,
    pub next_false: u32,
    pub mode: Mode,
    pub missing_true: bool,
}

/// The trees, compiled.
#[derive(Debug)]
pub struct Ensemble<T> {
    pub nodes: Vec<Node<T>>,
    /// For each node that is a leaf, its weights' (start, count) in
    /// `weights`.
    pub leaves: Vec<(u32, u32)>,
    pub roots: Vec<u32>,
    /// Leaf weights: (target or class, value).
    pub weights: Vec<(u32, T)>,
    /// Sets of member nodes (their `threshold` is the set's index).
    pub sets: Vec<Vec<T>>,
    pub targets: usize,
    /// The features a row needs.
    pub width: usize,
    /// The one way every branch compares, when they all compare alike
    /// (LEQ for scikit-learn and LightGBM, LT for XGBoost): the walk's
    /// fast path.
    pub same: Option<Mode>,
    /// Some branch sends NaN to its true side.
    pub missing: bool,
    /// These trees with f64 thresholds, made when a double input meets
    /// f32 thresholds: onnxruntime compares the double, so rounding it to
    /// f32 first could send a row down the other branch.
    pub wide: std::sync::OnceLock<Box<Ensemble<f64>>>,
}

/// The trees as the attributes give them, node by node.
pub struct Flat<T> {
    pub tree: Vec<i64>,
    pub id: Vec<i64>,
    pub feature: Vec<i64>,
    pub mode: Vec<Mode>,
    pub threshold: Vec<T>,
    pub yes: Vec<i64>,
    pub no: Vec<i64>,
    pub missing_true: Vec<bool>,
    /// (tree, node, target, weight) of each leaf weight.
    pub leaf_weights: Vec<(i64, i64, i64, T)>,
    pub sets: Vec<Vec<T>>,
}

const MAX_DEPTH: usize = 10_000;

/// Targets (or classes) an ensemble may have: each row keeps one sum per
/// target, so a damaged count must not size an allocation.
pub const MAX_TARGETS: usize = 100_000;

/// A node to lay out: its index, the parent branch (parent, true side)
/// that leads to it, its depth.
type Visit = (usize, Option<(usize, bool)>, usize);

impl<T: Num> Ensemble<T> {
    pub fn compile(f: Flat<T>, targets: usize) -> Result<Ensemble<T>, ModelError> {
        let n = f.id.len();
        for (name, len) in [
            ("nodes_treeids", f.tree.len()),
            ("nodes_featureids", f.feature.len()),
            ("nodes_modes", f.mode.len()),
            ("nodes_values", f.threshold.len()),
            ("nodes_truenodeids", f.yes.len()),
            ("nodes_falsenodeids", f.no.len()),
        ] {
            if len != n {
                return Err(TreeError::Lengths {
                    ids: n,
                    len,
                    attribute: name,
                }
                .into());
            }
        }
        if n >= u32::MAX as usize / 2 {
            return Err(TreeError::TooManyNodes.into());
        }
        let mut at: HashMap<(i64, i64), usize> = HashMap::with_capacity(n);
        for i in 0..n {
            if at.insert((f.tree[i], f.id[i]), i).is_some() {
                return Err(TreeError::Twice {
                    tree: f.tree[i],
                    node: f.id[i],
                }
                .into());
            }
        }
        let find = |tree: i64, id: i64| {
            at.get(&(tree, id))
                .copied()
                .ok_or(TreeError::NoSuchNode { tree, node: id })
        };
        // Leaf weights, in (tree, node, given order).
        let mut leaf_weights: Vec<(usize, usize)> = Vec::with_capacity(f.leaf_weights.len());
        for (k, &(tree, id, target, _)) in f.leaf_weights.iter().enumerate() {
            let i = find(tree, id)?;
            if usize::try_from(target).map_or(true, |t| t >= targets) {
                return Err(TreeError::LeafTarget {
                    tree,
                    target,
                    targets,
                }
                .into());
            }
            leaf_weights.push((i, k));
        }
        leaf_weights.sort_by_key(|&(i, k)| (f.tree[i], f.id[i], k));
        let mut weight_range: HashMap<usize, (u32, u32)> = HashMap::new();
        let mut weights = Vec::with_capacity(leaf_weights.len());
        for (i, k) in leaf_weights {
            let (_, _, target, w) = f.leaf_weights[k];
            let e = weight_range.entry(i).or_insert((weights.len() as u32, 0));
            e.1 += 1;
            weights.push((target as u32, w));
        }
        // Lay each tree out depth-first, false branch first; a node two
        // branches share (LightGBM's category sets) is laid out once.
        let mut placed: Vec<Option<u32>> = vec![None; n];
        let mut nodes: Vec<Node<T>> = Vec::with_capacity(n);
        let mut leaves: Vec<(u32, u32)> = Vec::with_capacity(n);
        let mut roots = Vec::new();
        let mut width = 0usize;
        let mut seen_tree = std::collections::HashSet::new();
        for i in 0..n {
            if !seen_tree.insert(f.tree[i]) {
                continue;
            }
            // The root is the tree's first node in the attributes.
            // (node, the parent branch that leads to it, depth)
            let mut stack: Vec<Visit> = vec![(i, None, 0)];
            while let Some((j, parent, depth)) = stack.pop() {
                if depth > MAX_DEPTH {
                    return Err(TreeError::TooDeep {
                        tree: f.tree[i],
                        max: MAX_DEPTH,
                    }
                    .into());
                }
                let pos = match placed[j] {
                    Some(p) => p,
                    None => {
                        let p = nodes.len() as u32;
                        placed[j] = Some(p);
                        let mode = f.mode[j];
                        let (next_true, next_false) = if mode == Mode::Leaf {
                            leaves.push(weight_range.get(&j).copied().unwrap_or((0, 0)));
                            (p, p)
                        } else {
                            leaves.push((0, 0));
                            (u32::MAX, u32::MAX)
                        };
                        let feature = if mode == Mode::Leaf {
                            0
                        } else {
                            let ft = usize::try_from(f.feature[j])
                                .ok()
                                .filter(|&x| x < u32::MAX as usize)
                                .ok_or(TreeError::Feature {
                                    tree: f.tree[j],
                                    feature: f.feature[j],
                                })?;
                            width = width.max(ft + 1);
                            ft as u32
                        };
                        nodes.push(Node {
                            threshold: f.threshold[j],
                            feature,
                            next_true,
                            next_false,
                            mode,
                            missing_true: f.missing_true.get(j).copied().unwrap_or(false),
                        });
                        if mode != Mode::Leaf {
                            let yes = find(f.tree[j], f.yes[j])?;
                            let no = find(f.tree[j], f.no[j])?;
                            if yes == j || no == j {
                                return Err(TreeError::SelfLoop {
                                    tree: f.tree[j],
                                    node: f.id[j],
                                }
                                .into());
                            }
                            // Pushed in reverse: the false branch is laid out next.
                            stack.push((yes, Some((p as usize, true)), depth + 1));
                            stack.push((no, Some((p as usize, false)), depth + 1));
                        }
                        p
                    }
                };
                if let Some((parent, yes)) = parent {
                    if yes {
                        nodes[parent].next_true = pos;
                    } else {
                        nodes[parent].next_false = pos;
                    }
                }
            }
            roots.push(placed[i].unwrap_or(0));
        }
        // A node shared by two branches could close a loop: every walk
        // must reach a leaf (depth-first, marking nodes on the path).
        let mut state = vec![0u8; nodes.len()]; // 0 new, 1 on the path, 2 done
        for &root in &roots {
            let mut stack = vec![(root as usize, false)];
            while let Some((p, leaving)) = stack.pop() {
                if leaving {
                    state[p] = 2;
                    continue;
                }
                match state[p] {
                    2 => continue,
                    1 => return Err(TreeError::Cycle.into()),
                    _ => {}
                }
                state[p] = 1;
                stack.push((p, true));
                let nd = &nodes[p];
                if nd.mode != Mode::Leaf {
                    for next in [nd.next_true, nd.next_false] {
                        let next = next as usize;
                        if next >= nodes.len() {
                            return Err(TreeError::PastNodes.into());
                        }
                        if state[next] == 1 {
                            return Err(TreeError::Cycle.into());
                        }
                        if state[next] == 0 {
                            stack.push((next, false));
                        }
                    }
                }
            }
        }
        let mut modes = nodes.iter().map(|n| n.mode).filter(|&m| m != Mode::Leaf);
        let first = modes.next();
        let same = first.filter(|&f| {
            matches!(f, Mode::Leq | Mode::Lt | Mode::Gte | Mode::Gt) && modes.all(|m| m == f)
        });
        let missing = nodes.iter().any(|n| n.missing_true);
        Ok(Ensemble {
            nodes,
            leaves,
            roots,
            weights,
            sets: f.sets,
            targets,
            width,
            same,
            missing,
            wide: std::sync::OnceLock::new(),
        })
    }

    /// The same trees with f64 thresholds and weights.
    pub fn widen(&self) -> Ensemble<f64> {
        Ensemble {
            nodes: self
                .nodes
                .iter()
                .map(|n| Node {
                    threshold: n.threshold.to_f64(),
                    feature: n.feature,
                    next_true: n.next_true,
                    next_false: n.next_false,
                    mode: n.mode,
                    missing_true: n.missing_true,
                })
                .collect(),
            leaves: self.leaves.clone(),
            roots: self.roots.clone(),
            weights: self.weights.iter().map(|&(t, w)| (t, w.to_f64())).collect(),
            sets: self
                .sets
                .iter()
                .map(|s| s.iter().map(|v| v.to_f64()).collect())
                .collect(),
            targets: self.targets,
            width: self.width,
            same: self.same,
            missing: self.missing,
            wide: std::sync::OnceLock::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Agg {
    Sum,
    Average,
    Min,
    Max,
}

impl Agg {
    pub fn parse(s: &str) -> Result<Agg, ModelError> {
        Ok(match s {
            "SUM" => Agg::Sum,
            "AVERAGE" => Agg::Average,
            "MIN" => Agg::Min,
            "MAX" => Agg::Max,
            other => return Err(ModelError::unknown("aggregate_function", other)),
        })
    }
}
