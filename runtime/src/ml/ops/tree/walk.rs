//! Rows through the compiled trees: the walk, block by block and over the
//! cores, and the aggregation of the leaves' weights.

use super::ensemble::{Agg, Ensemble, Mode, Node, Num};
use crate::ml::error::{ModelError, TreeError};
use crate::ml::ops::op::tensor_in;
use crate::ml::value::{Tensor, Value};

impl<T: Num> Ensemble<T> {
    /// The rows of the operator's input ([rows, features]; a vector is one
    /// row), their per-target sums and whether each target got a weight.
    pub fn run(
        &self,
        inputs: &[Option<&Value>],
        agg: Agg,
    ) -> Result<(usize, Vec<T>, Vec<bool>), ModelError> {
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
    ) -> Result<(Vec<T>, Vec<bool>), ModelError> {
        if cols < self.width {
            return Err(TreeError::Width {
                feature: self.width - 1,
                cols,
            }
            .into());
        }
        let k = self.targets;
        let mut sums = vec![T::ZERO; rows * k];
        let mut has = vec![false; rows * k];
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(8);
        let work = rows.saturating_mul(self.roots.len());
        if threads < 2 || rows < 2 * BLOCK || work < 50_000 {
            self.fill(
                Rows {
                    x,
                    cols,
                    sums: &mut sums,
                    has: &mut has,
                },
                agg,
            );
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
                            self.fill(Rows { x, cols, sums, has }, agg);
                        }
                    });
                }
            });
        }
        Ok((sums, has))
    }

    /// [`Ensemble::sums`] for the rows of `x`, with the walk and the
    /// aggregation chosen once (each a separate, inlined loop).
    fn fill(&self, rows: Rows<T>, agg: Agg) {
        match agg {
            Agg::Sum | Agg::Average => {
                self.fill_with(rows, |s: &mut T, _: bool, w: T| *s = s.add(w))
            }
            Agg::Min => self.fill_with(rows, |s: &mut T, h: bool, w: T| {
                if !h || w < *s {
                    *s = w
                }
            }),
            Agg::Max => self.fill_with(rows, |s: &mut T, h: bool, w: T| {
                if !h || w > *s {
                    *s = w
                }
            }),
        }
    }

    fn fill_with(&self, rows: Rows<T>, acc: impl Fn(&mut T, bool, T) + Copy) {
        let m = self.missing;
        match self.same {
            Some(Mode::Leq) => self.blocks(rows, acc, move |n: &Node<T>, v: T| {
                v <= n.threshold || (m && n.missing_true && v.is_nan())
            }),
            Some(Mode::Lt) => self.blocks(rows, acc, move |n: &Node<T>, v: T| {
                v < n.threshold || (m && n.missing_true && v.is_nan())
            }),
            Some(Mode::Gte) => self.blocks(rows, acc, move |n: &Node<T>, v: T| {
                v >= n.threshold || (m && n.missing_true && v.is_nan())
            }),
            Some(Mode::Gt) => self.blocks(rows, acc, move |n: &Node<T>, v: T| {
                v > n.threshold || (m && n.missing_true && v.is_nan())
            }),
            _ => self.blocks(rows, acc, |n: &Node<T>, v: T| {
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
        rows: Rows<T>,
        acc: impl Fn(&mut T, bool, T) + Copy,
        go: impl Fn(&Node<T>, T) -> bool + Copy,
    ) {
        let Rows { x, cols, sums, has } = rows;
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

/// Rows of features to walk (`cols` a row) and where their per-target
/// sums go, and whether each target got a weight.
struct Rows<'a, T> {
    x: &'a [T],
    cols: usize,
    sums: &'a mut [T],
    has: &'a mut [bool],
}

/// Rows that walk a tree together.
const LANES: usize = 8;

/// Rows walked together, tree by tree.
const BLOCK: usize = 128;
