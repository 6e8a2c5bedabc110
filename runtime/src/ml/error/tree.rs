//! What a tree ensemble's attributes can get wrong: [`TreeError`].

use std::fmt;

/// A tree ensemble chime cannot build, or rows it cannot walk.
#[derive(Debug, Clone, PartialEq)]
pub enum TreeError {
    /// A node attribute of another length than the node ids.
    Lengths {
        ids: usize,
        len: usize,
        attribute: &'static str,
    },
    /// More nodes than the compiled form indexes.
    TooManyNodes,
    /// A (tree, node) pair given twice.
    Twice { tree: i64, node: i64 },
    /// A branch or leaf weight naming a node its tree does not have.
    NoSuchNode { tree: i64, node: i64 },
    /// A leaf weight for a target past the model's targets.
    LeafTarget {
        tree: i64,
        target: i64,
        targets: usize,
    },
    /// A tree deeper than `max`.
    TooDeep { tree: i64, max: usize },
    /// A branch on a negative (or huge) feature index.
    Feature { tree: i64, feature: i64 },
    /// A node whose branch leads back to it.
    SelfLoop { tree: i64, node: i64 },
    /// A tree whose branches close a loop.
    Cycle,
    /// A branch past the compiled nodes.
    PastNodes,
    /// The attributes of the leaf weights (`ids`, `nodes`, `trees`,
    /// `weights`: their names) of different lengths.
    WeightLengths {
        ids: &'static str,
        nodes: &'static str,
        trees: &'static str,
        weights: &'static str,
    },
    /// A count of targets or classes out of 1 to `max`.
    Targets { targets: usize, max: usize },
    /// Rows narrower than the features the trees read.
    Width { feature: usize, cols: usize },
    /// TreeEnsemble (ai.onnx.ml 5) without `nodes_splits`.
    NoSplits,
    /// TreeEnsemble: a node attribute of another length than the splits.
    SplitLengths {
        splits: usize,
        len: usize,
        attribute: &'static str,
    },
    /// TreeEnsemble: leaf targets and weights of different lengths.
    LeafLengths,
    /// TreeEnsemble: a node id out of range.
    NodeId,
    /// TreeEnsemble: a leaf id out of range.
    LeafId,
    /// TreeEnsemble: a numbered attribute value chime does not know
    /// (`what`: the attribute).
    Unknown { what: &'static str, value: i64 },
    /// TreeEnsemble: more targets than `max`.
    TooManyTargets { targets: usize, max: usize },
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TreeError as E;
        match self {
            E::Lengths {
                ids,
                len,
                attribute,
            } => write!(
                f,
                "the tree ensemble has {ids} node ids but {len} {attribute}"
            ),
            E::TooManyNodes => write!(f, "the tree ensemble has too many nodes"),
            E::Twice { tree, node } => write!(f, "node {node} of tree {tree} is given twice"),
            E::NoSuchNode { tree, node } => {
                write!(f, "tree {tree} names node {node}, which it does not have")
            }
            E::LeafTarget {
                tree,
                target,
                targets,
            } => write!(
                f,
                "a leaf of tree {tree} adds to target {target}, but the model has {targets}"
            ),
            E::TooDeep { tree, max } => write!(f, "tree {tree} is deeper than {max} nodes"),
            E::Feature { tree, feature } => {
                write!(f, "a node of tree {tree} reads feature {feature}")
            }
            E::SelfLoop { tree, node } => write!(f, "node {node} of tree {tree} points to itself"),
            E::Cycle => write!(f, "a tree of the ensemble has a cycle"),
            E::PastNodes => write!(f, "a tree of the ensemble points past its nodes"),
            E::WeightLengths {
                ids,
                nodes,
                trees,
                weights,
            } => write!(
                f,
                "the tree ensemble's `{ids}`, `{nodes}`, `{trees}` and `{weights}` differ in length"
            ),
            E::Targets { targets, max } => write!(
                f,
                "the tree ensemble has {targets} targets or classes (1 to {max})"
            ),
            E::Width { feature, cols } => write!(
                f,
                "the trees read feature {feature}, but rows have {cols} features"
            ),
            E::NoSplits => write!(f, "TreeEnsemble needs nodes_splits"),
            E::SplitLengths {
                splits,
                len,
                attribute,
            } => write!(
                f,
                "TreeEnsemble has {splits} nodes_splits but {len} {attribute}"
            ),
            E::LeafLengths => write!(
                f,
                "TreeEnsemble's leaf_targetids and leaf_weights differ in length"
            ),
            E::NodeId => write!(f, "TreeEnsemble: a node id is out of range"),
            E::LeafId => write!(f, "TreeEnsemble: a leaf id is out of range"),
            E::Unknown { what, value } => write!(f, "TreeEnsemble: unknown {what} {value}"),
            E::TooManyTargets { targets, max } => {
                write!(f, "TreeEnsemble has {targets} targets (at most {max})")
            }
        }
    }
}

impl std::error::Error for TreeError {}
