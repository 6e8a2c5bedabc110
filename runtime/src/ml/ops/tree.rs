//! Tree ensembles: TreeEnsembleClassifier, TreeEnsembleRegressor
//! (ai.onnx.ml 1-3) and TreeEnsemble (ai.onnx.ml 5).
//!
//! The trees are compiled once into one flat array of nodes, each tree
//! laid out depth-first with its false branch first, so a walk mostly
//! moves forward in memory. A batch is evaluated 128 rows at a time, tree
//! by tree: a tree's nodes stay in cache while every row of the block
//! walks it. Scores are summed in the threshold type (f32, or f64 for
//! models that give double thresholds), in tree order, as onnxruntime
//! does, so the sums agree to the last bits.

use std::collections::HashMap;

use super::{Attrs, Labels, Op, Post, tensor_in};
use crate::ml::value::{Arr, Tensor, Value};

/// How a node compares the feature with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
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
    fn parse(s: &str) -> Result<Mode, String> {
        Ok(match s {
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            "LEAF" => Mode::Leaf,
            other => return Err(format!("unknown node mode `{other}`")),
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
    fn inputs(t: &Tensor) -> Result<Vec<Self>, String>;
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
    fn inputs(t: &Tensor) -> Result<Vec<f32>, String> {
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
    fn inputs(t: &Tensor) -> Result<Vec<f64>, String> {
        t.to_f64().map(|a| a.data)
    }
}

/// One node. A leaf points to itself on both sides (a walk that reaches
/// it stays there: rows can be walked in lockstep); its weights' range is
/// in [`Ensemble::leaves`].
#[derive(Debug, Clone, Copy)]
struct Node<T> {
    threshold: T,
    feature: u32,
    next_true: u32,
    next_false: u32,
    mode: Mode,
    missing_true: bool,
}

/// The trees, compiled.
#[derive(Debug)]
pub struct Ensemble<T> {
    nodes: Vec<Node<T>>,
    /// For each node that is a leaf, its weights' (start, count) in
    /// `weights`.
    leaves: Vec<(u32, u32)>,
    roots: Vec<u32>,
    /// Leaf weights: (target or class, value).
    weights: Vec<(u32, T)>,
    /// Sets of member nodes (their `threshold` is the set's index).
    sets: Vec<Vec<T>>,
    targets: usize,
    /// The features a row needs.
    width: usize,
    /// The one way every branch compares, when they all compare alike
    /// (LEQ for scikit-learn and LightGBM, LT for XGBoost): the walk's
    /// fast path.
    same: Option<Mode>,
    /// Some branch sends NaN to its true side.
    missing: bool,
    /// These trees with f64 thresholds, made when a double input meets
    /// f32 thresholds: onnxruntime compares the double, so rounding it to
    /// f32 first could send a row down the other branch.
    wide: std::sync::OnceLock<Box<Ensemble<f64>>>,
}

/// The trees as the attributes give them, node by node.
struct Flat<T> {
    tree: Vec<i64>,
    id: Vec<i64>,
    feature: Vec<i64>,
    mode: Vec<Mode>,
    threshold: Vec<T>,
    yes: Vec<i64>,
    no: Vec<i64>,
    missing_true: Vec<bool>,
    /// (tree, node, target, weight) of each leaf weight.
    leaf_weights: Vec<(i64, i64, i64, T)>,
    sets: Vec<Vec<T>>,
}

const MAX_DEPTH: usize = 10_000;

/// Targets (or classes) an ensemble may have: each row keeps one sum per
/// target, so a damaged count must not size an allocation.
const MAX_TARGETS: usize = 100_000;

/// A node to lay out: its index, the parent branch (parent, true side)
/// that leads to it, its depth.
type Visit = (usize, Option<(usize, bool)>, usize);

impl<T: Num> Ensemble<T> {
    fn compile(f: Flat<T>, targets: usize) -> Result<Ensemble<T>, String> {
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
                return Err(format!(
                    "the tree ensemble has {n} node ids but {len} {name}"
                ));
            }
        }
        if n >= u32::MAX as usize / 2 {
            return Err("the tree ensemble has too many nodes".into());
        }
        let mut at: HashMap<(i64, i64), usize> = HashMap::with_capacity(n);
        for i in 0..n {
            if at.insert((f.tree[i], f.id[i]), i).is_some() {
                return Err(format!(
                    "node {} of tree {} is given twice",
                    f.id[i], f.tree[i]
                ));
            }
        }
        let find = |tree: i64, id: i64| {
            at.get(&(tree, id))
                .copied()
                .ok_or_else(|| format!("tree {tree} names node {id}, which it does not have"))
        };
        // Leaf weights, in (tree, node, given order).
        let mut leaf_weights: Vec<(usize, usize)> = Vec::with_capacity(f.leaf_weights.len());
        for (k, &(tree, id, target, _)) in f.leaf_weights.iter().enumerate() {
            let i = find(tree, id)?;
            if usize::try_from(target).map_or(true, |t| t >= targets) {
                return Err(format!(
                    "a leaf of tree {tree} adds to target {target}, but the model has {targets}"
                ));
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
                    return Err(format!(
                        "tree {} is deeper than {MAX_DEPTH} nodes",
                        f.tree[i]
                    ));
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
                                .ok_or_else(|| {
                                    format!(
                                        "a node of tree {} reads feature {}",
                                        f.tree[j], f.feature[j]
                                    )
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
                                return Err(format!(
                                    "node {} of tree {} points to itself",
                                    f.id[j], f.tree[j]
                                ));
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
                    1 => return Err("a tree of the ensemble has a cycle".into()),
                    _ => {}
                }
                state[p] = 1;
                stack.push((p, true));
                let nd = &nodes[p];
                if nd.mode != Mode::Leaf {
                    for next in [nd.next_true, nd.next_false] {
                        let next = next as usize;
                        if next >= nodes.len() {
                            return Err("a tree of the ensemble points past its nodes".into());
                        }
                        if state[next] == 1 {
                            return Err("a tree of the ensemble has a cycle".into());
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

    /// The rows of the operator's input ([rows, features]; a vector is one
    /// row), their per-target sums and whether each target got a weight.
    fn run(
        &self,
        inputs: &[Option<&Value>],
        agg: Agg,
    ) -> Result<(usize, Vec<T>, Vec<bool>), String> {
        let x = tensor_in(inputs, 0, "TreeEnsemble")?;
        let (rows, cols) = match x.shape() {
            [] => (1, 1),
            [n] => (1, *n),
            [r, rest @ ..] => (*r, rest.iter().product()),
        };
        if let Tensor::F64(a) = x
            && !T::IS_F64
        {
            let wide = self.wide.get_or_init(|| Box::new(self.widen()));
            let (sums, has) = wide.sums(&a.data, rows, cols, agg)?;
            return Ok((rows, sums.into_iter().map(T::from_f64).collect(), has));
        }
        let (sums, has) = self.sums(&T::inputs(x)?, rows, cols, agg)?;
        Ok((rows, sums, has))
    }

    /// The same trees with f64 thresholds and weights.
    fn widen(&self) -> Ensemble<f64> {
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

    /// Per-target sums over the trees (and whether any leaf gave the
    /// target a weight), `rows` rows of `cols` features. Large batches are
    /// split by rows over the machine's cores (each row's sum is still
    /// taken over the trees in order, so the result does not depend on
    /// the split).
    fn sums(
        &self,
        x: &[T],
        rows: usize,
        cols: usize,
        agg: Agg,
    ) -> Result<(Vec<T>, Vec<bool>), String> {
        if cols < self.width {
            return Err(format!(
                "the trees read feature {}, but rows have {cols} features",
                self.width - 1
            ));
        }
        let k = self.targets;
        let mut sums = vec![T::ZERO; rows * k];
        let mut has = vec![false; rows * k];
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(8);
        let work = rows.saturating_mul(self.roots.len());
        if threads < 2 || rows < 2 * BLOCK || work < 50_000 {
            self.fill(x, cols, &mut sums, &mut has, agg);
        } else {
            // Blocks of rows handed out one at a time: a thread slowed by
            // the pipeline's reader or writer takes fewer, instead of the
            // batch waiting for its half.
            let blocks: Vec<_> = x
                .chunks(BLOCK * cols)
                .zip(sums.chunks_mut(BLOCK * k))
                .zip(has.chunks_mut(BLOCK * k))
                .collect();
            let queue = std::sync::Mutex::new(blocks);
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| {
                        loop {
                            let next = queue.lock().ok().and_then(|mut q| q.pop());
                            let Some(((x, sums), has)) = next else { break };
                            self.fill(x, cols, sums, has, agg);
                        }
                    });
                }
            });
        }
        Ok((sums, has))
    }

    /// [`Ensemble::sums`] for the rows of `x`, with the walk and the
    /// aggregation chosen once (each a separate, inlined loop).
    fn fill(&self, x: &[T], cols: usize, sums: &mut [T], has: &mut [bool], agg: Agg) {
        match agg {
            Agg::Sum | Agg::Average => {
                self.fill_with(x, cols, sums, has, |s: &mut T, _: bool, w: T| *s = s.add(w))
            }
            Agg::Min => self.fill_with(x, cols, sums, has, |s: &mut T, h: bool, w: T| {
                if !h || w < *s {
                    *s = w
                }
            }),
            Agg::Max => self.fill_with(x, cols, sums, has, |s: &mut T, h: bool, w: T| {
                if !h || w > *s {
                    *s = w
                }
            }),
        }
    }

    fn fill_with(
        &self,
        x: &[T],
        cols: usize,
        sums: &mut [T],
        has: &mut [bool],
        acc: impl Fn(&mut T, bool, T) + Copy,
    ) {
        let m = self.missing;
        match self.same {
            Some(Mode::Leq) => self.blocks(x, cols, sums, has, acc, move |n: &Node<T>, v: T| {
                v <= n.threshold || (m && n.missing_true && v.is_nan())
            }),
            Some(Mode::Lt) => self.blocks(x, cols, sums, has, acc, move |n: &Node<T>, v: T| {
                v < n.threshold || (m && n.missing_true && v.is_nan())
            }),
            Some(Mode::Gte) => self.blocks(x, cols, sums, has, acc, move |n: &Node<T>, v: T| {
                v >= n.threshold || (m && n.missing_true && v.is_nan())
            }),
            Some(Mode::Gt) => self.blocks(x, cols, sums, has, acc, move |n: &Node<T>, v: T| {
                v > n.threshold || (m && n.missing_true && v.is_nan())
            }),
            _ => self.blocks(x, cols, sums, has, acc, |n: &Node<T>, v: T| {
                let t = n.threshold;
                (match n.mode {
                    Mode::Leq => v <= t,
                    Mode::Lt => v < t,
                    Mode::Gte => v >= t,
                    Mode::Gt => v > t,
                    Mode::Eq => v == t,
                    Mode::Neq => v != t,
                    Mode::Member => self
                        .sets
                        .get(t.to_f64() as usize)
                        .is_some_and(|s| s.contains(&v)),
                    Mode::Leaf => false,
                }) || (n.missing_true && v.is_nan())
            }),
        }
    }

    /// Walks every tree for blocks of [`BLOCK`] rows: tree by tree, so a
    /// tree's nodes stay in cache while the block's rows walk it; within
    /// a block, [`LANES`] rows walk a tree in lockstep (independent
    /// chains of loads the CPU overlaps, and no branch on the comparison:
    /// a leaf points to itself, so the walk ends when no row moves).
    #[inline(always)]
    fn blocks(
        &self,
        x: &[T],
        cols: usize,
        sums: &mut [T],
        has: &mut [bool],
        acc: impl Fn(&mut T, bool, T) + Copy,
        go: impl Fn(&Node<T>, T) -> bool + Copy,
    ) {
        let k = self.targets;
        let rows = x.len() / cols.max(1);
        let nodes = self.nodes.as_slice();
        let mut add = |r: usize, leaf: u32| {
            let (s, c) = self.leaves[leaf as usize];
            for &(t, w) in &self.weights[s as usize..(s + c) as usize] {
                let i = r * k + t as usize;
                acc(&mut sums[i], has[i], w);
                has[i] = true;
            }
        };
        for start in (0..rows).step_by(BLOCK) {
            let end = (start + BLOCK).min(rows);
            for &root in &self.roots {
                let mut r = start;
                while r + LANES <= end {
                    let mut at = [root; LANES];
                    loop {
                        let mut moved = false;
                        for (lane, a) in at.iter_mut().enumerate() {
                            let n = &nodes[*a as usize];
                            let v = x[(r + lane) * cols + n.feature as usize];
                            let next = if go(n, v) { n.next_true } else { n.next_false };
                            moved |= next != *a;
                            *a = next;
                        }
                        if !moved {
                            break;
                        }
                    }
                    for (lane, &leaf) in at.iter().enumerate() {
                        add(r + lane, leaf);
                    }
                    r += LANES;
                }
                for r in r..end {
                    let mut a = root;
                    loop {
                        let n = &nodes[a as usize];
                        let next = if go(n, x[r * cols + n.feature as usize]) {
                            n.next_true
                        } else {
                            n.next_false
                        };
                        if next == a {
                            break;
                        }
                        a = next;
                    }
                    add(r, a);
                }
            }
        }
    }
}

/// Rows that walk a tree together.
const LANES: usize = 8;

/// Rows walked together, tree by tree.
const BLOCK: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Agg {
    Sum,
    Average,
    Min,
    Max,
}

impl Agg {
    fn parse(s: &str) -> Result<Agg, String> {
        Ok(match s {
            "SUM" => Agg::Sum,
            "AVERAGE" => Agg::Average,
            "MIN" => Agg::Min,
            "MAX" => Agg::Max,
            other => return Err(format!("unknown aggregate_function `{other}`")),
        })
    }
}

pub fn build(op: &str, a: &Attrs) -> Result<Option<Box<dyn Op>>, String> {
    if op == "TreeEnsemble" {
        return v5(a).map(Some);
    }
    // Double thresholds (`nodes_values_as_tensor` of doubles) make the
    // whole ensemble f64, as onnxruntime does.
    let double = matches!(a.tensor("nodes_values_as_tensor")?, Some(Tensor::F64(_)));
    let classifier = op == "TreeEnsembleClassifier";
    Ok(Some(if double {
        Box::new(Trees::<f64>::new(a, classifier)?)
    } else {
        Box::new(Trees::<f32>::new(a, classifier)?)
    }))
}

/// TreeEnsembleClassifier or TreeEnsembleRegressor.
#[derive(Debug)]
struct Trees<T> {
    ensemble: Ensemble<T>,
    agg: Agg,
    post: Post,
    base: Vec<T>,
    /// Set for a classifier.
    classes: Option<Classes>,
}

#[derive(Debug)]
struct Classes {
    labels: Labels,
    /// Two classes, and leaves that give weights to only one of them.
    binary: bool,
    all_positive: bool,
}

impl<T: Num> Trees<T> {
    fn new(a: &Attrs, classifier: bool) -> Result<Self, String> {
        let nums = |name: &str| -> Result<Vec<T>, String> {
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
            return Err(format!(
                "the tree ensemble's `{ids}`, `{node_ids}`, `{tree_ids}` and `{ws}` differ in length"
            ));
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
            return Err(format!(
                "the tree ensemble has {targets} targets or classes (1 to {MAX_TARGETS})"
            ));
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
            row[0] = super::probit(row[0]);
        }
        out.extend(row);
    }
}

impl<T: Num> Op for Trees<T> {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
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
enum Pick {
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
                (Post::Probit, _) => vec![super::probit(v), 0.0],
                (_, 0 | 1) => vec![1.0 - v, v],
                (Post::Logistic, 2 | 3) => vec![super::logistic(-v), super::logistic(v)],
                (_, 2 | 3) => vec![-v, v],
                _ => vec![v, 0.0],
            }
        };
        (pick, row)
    }
}

/// TreeEnsemble (ai.onnx.ml 5): nodes and leaves in separate lists,
/// modes and splits as tensors, set membership.
fn v5(a: &Attrs) -> Result<Box<dyn Op>, String> {
    let splits = a
        .tensor("nodes_splits")?
        .ok_or("TreeEnsemble needs nodes_splits")?;
    match splits {
        Tensor::F64(_) => Ok(Box::new(V5::<f64>::new(a)?)),
        _ => Ok(Box::new(V5::<f32>::new(a)?)),
    }
}

#[derive(Debug)]
struct V5<T> {
    ensemble: Ensemble<T>,
    agg: Agg,
    post: Post,
    double: bool,
}

impl<T: Num> V5<T> {
    fn new(a: &Attrs) -> Result<Self, String> {
        let t64 = |name: &str| -> Result<Vec<T>, String> {
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
                return Err(format!(
                    "TreeEnsemble has {n} nodes_splits but {len} {name}"
                ));
            }
        }
        if leaf_targets.len() != leaf_weights.len() {
            return Err("TreeEnsemble's leaf_targetids and leaf_weights differ in length".into());
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
                    .ok_or("TreeEnsemble: a node id is out of range")?;
                if tree_of[i] != -1 {
                    continue;
                }
                tree_of[i] = t as i64;
                for (next, leaf) in [(yes[i], yes_leaf[i]), (no[i], no_leaf[i])] {
                    if leaf == 1 {
                        let l = usize::try_from(next)
                            .ok()
                            .filter(|&l| l < leaf_tree.len())
                            .ok_or("TreeEnsemble: a leaf id is out of range")?;
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
                m => return Err(format!("TreeEnsemble: unknown node mode {m}")),
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
            return Err(format!(
                "TreeEnsemble has {targets} targets (at most {MAX_TARGETS})"
            ));
        }
        let agg = match a.int("aggregate_function", 1) {
            0 => Agg::Average,
            1 => Agg::Sum,
            2 => Agg::Min,
            3 => Agg::Max,
            f => return Err(format!("TreeEnsemble: unknown aggregate_function {f}")),
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
            p => return Err(format!("TreeEnsemble: unknown post_transform {p}")),
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
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, String> {
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
        Ok(vec![Value::T(if self.double {
            Tensor::F64(Arr::new(shape, out)?)
        } else {
            Tensor::F32(Arr::new(
                shape,
                out.into_iter().map(|v| v as f32).collect(),
            )?)
        })])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::proto::{AttributeProto, NodeProto};

    fn ints(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            ints: v.to_vec(),
            r#type: 7,
            ..Default::default()
        }
    }

    fn regressor(n_targets: i64, yes: i64, no: i64) -> NodeProto {
        let modes: Vec<Vec<u8>> = vec![b"BRANCH_LEQ".to_vec(), b"LEAF".to_vec(), b"LEAF".to_vec()];
        NodeProto {
            op_type: "TreeEnsembleRegressor".into(),
            domain: "ai.onnx.ml".into(),
            attribute: vec![
                AttributeProto {
                    name: "n_targets".into(),
                    i: n_targets,
                    r#type: 2,
                    ..Default::default()
                },
                ints("nodes_treeids", &[0, 0, 0]),
                ints("nodes_nodeids", &[0, 1, 2]),
                ints("nodes_featureids", &[0, 0, 0]),
                AttributeProto {
                    name: "nodes_values".into(),
                    floats: vec![0.5, 0.0, 0.0],
                    r#type: 6,
                    ..Default::default()
                },
                AttributeProto {
                    name: "nodes_modes".into(),
                    strings: modes,
                    r#type: 8,
                    ..Default::default()
                },
                ints("nodes_truenodeids", &[yes, 0, 0]),
                ints("nodes_falsenodeids", &[no, 0, 0]),
                ints("target_ids", &[0, 0]),
                ints("target_nodeids", &[1, 2]),
                ints("target_treeids", &[0, 0]),
                AttributeProto {
                    name: "target_weights".into(),
                    floats: vec![1.0, 2.0],
                    r#type: 6,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    fn run(node: &NodeProto, x: Vec<f32>) -> Result<Vec<f32>, String> {
        let op = build(&node.op_type, &Attrs(node))?.ok_or("no op")?;
        let n = x.len();
        let out = op.run(&[Some(&Value::T(Tensor::F32(Arr::new(vec![n, 1], x)?)))])?;
        match &out[0] {
            Value::T(Tensor::F32(a)) => Ok(a.data.clone()),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn a_tree_routes_rows_by_its_threshold() {
        assert_eq!(
            run(&regressor(1, 1, 2), vec![0.2, 0.9, 0.5]).unwrap(),
            [1.0, 2.0, 1.0]
        );
    }

    #[test]
    fn a_damaged_target_count_is_refused_before_any_allocation() {
        let err = run(&regressor(1 << 40, 1, 2), vec![0.2]).unwrap_err();
        assert!(err.contains("targets"), "{err}");
    }

    #[test]
    fn a_tree_that_loops_or_points_nowhere_is_refused() {
        // Node 0's true branch is node 0 itself; then a branch to node 7.
        let err = run(&regressor(1, 0, 2), vec![0.2]).unwrap_err();
        assert!(err.contains("itself"), "{err}");
        let err = run(&regressor(1, 7, 2), vec![0.2]).unwrap_err();
        assert!(err.contains("does not have"), "{err}");
    }
}
