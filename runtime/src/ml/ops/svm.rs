//! SVMClassifier and SVMRegressor, as onnxruntime computes them (libsvm's
//! one-against-one votes, Platt probabilities coupled pairwise).

use super::op::{Attrs, Op, tensor_in};
use super::post::{Labels, Post, first_max, logistic, probit};
use crate::ml::error::ModelError;
use crate::ml::value::{Arr, Tensor, Value};

pub fn build(op: &str, a: &Attrs) -> Result<Option<Box<dyn Op>>, ModelError> {
    let kernel = Kernel::new(a)?;
    Ok(Some(if op == "SVMClassifier" {
        Box::new(Classifier::new(a, kernel)?)
    } else {
        Box::new(Regressor::new(a, kernel)?)
    }))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum KernelType {
    Linear,
    Poly,
    Rbf,
    Sigmoid,
}

#[derive(Debug)]
struct Kernel {
    kind: KernelType,
    gamma: f32,
    coef0: f32,
    degree: f32,
}

impl Kernel {
    fn new(a: &Attrs) -> Result<Kernel, ModelError> {
        let kind = match a.string("kernel_type", "LINEAR")?.as_str() {
            "LINEAR" => KernelType::Linear,
            "POLY" => KernelType::Poly,
            "RBF" => KernelType::Rbf,
            "SIGMOID" => KernelType::Sigmoid,
            other => return Err(ModelError::unknown("SVM kernel", other)),
        };
        let p = a.floats("kernel_params");
        Ok(Kernel {
            kind,
            gamma: p.first().copied().unwrap_or(0.0),
            coef0: p.get(1).copied().unwrap_or(0.0),
            degree: p.get(2).copied().unwrap_or(0.0),
        })
    }

    /// k(x, v) for each of the `n` vectors in `vs`; `c` is added to a
    /// linear kernel's dot product.
    fn apply(&self, x: &[f32], vs: &[f32], n: usize, c: f32, out: &mut Vec<f32>) {
        let k = x.len();
        for v in vs.chunks_exact(k.max(1)).take(n) {
            let value = match self.kind {
                KernelType::Rbf => {
                    let mut s = 0f32;
                    for (a, b) in x.iter().zip(v) {
                        let d = a - b;
                        s += d * d;
                    }
                    (-self.gamma * s).exp()
                }
                kind => {
                    let dot: f32 = x.iter().zip(v).map(|(a, b)| a * b).sum();
                    match kind {
                        KernelType::Linear => dot + c,
                        KernelType::Poly => {
                            let b = self.gamma * dot + self.coef0;
                            if self.degree == 2.0 {
                                b * b
                            } else if self.degree == 3.0 {
                                b * b * b
                            } else {
                                b.powf(self.degree)
                            }
                        }
                        _ => (self.gamma * dot + self.coef0).tanh(),
                    }
                }
            };
            out.push(value);
        }
    }
}

fn rows_of(inputs: &[Option<&Value>], op: &str) -> Result<(usize, usize, Vec<f32>), ModelError> {
    let x = tensor_in(inputs, 0, op)?.to_f32()?;
    let (r, c) = x.rows_cols();
    Ok((r, c, x.data))
}

#[derive(Debug)]
struct Classifier {
    kernel: Kernel,
    labels: Labels,
    vectors_per_class: Vec<usize>,
    starts: Vec<usize>,
    vectors: usize,
    support: Vec<f32>,
    coef: Vec<f32>,
    rho: Vec<f32>,
    prob_a: Vec<f32>,
    prob_b: Vec<f32>,
    post: Post,
    features: usize,
    all_positive: bool,
}

impl Classifier {
    fn new(a: &Attrs, mut kernel: Kernel) -> Result<Classifier, ModelError> {
        let labels = Labels::from_attrs(a, "classlabels_ints", "classlabels_strings")?;
        let classes = labels.len();
        if classes == 0 {
            return Err("SVMClassifier has no class labels".into());
        }
        let vectors_per_class: Vec<usize> = a
            .ints("vectors_per_class")
            .iter()
            .map(|&v| {
                usize::try_from(v).map_err(|_| "SVMClassifier: a negative vector count".to_string())
            })
            .collect::<Result<_, _>>()?;
        let mut starts = Vec::new();
        let mut vectors = 0usize;
        for &v in &vectors_per_class {
            starts.push(vectors);
            vectors = vectors
                .checked_add(v)
                .ok_or("SVMClassifier: too many vectors")?;
        }
        let support = a.floats("support_vectors");
        let coef = a.floats("coefficients");
        let rho = a.floats("rho");
        let (prob_a, prob_b) = (a.floats("prob_a"), a.floats("prob_b"));
        let pairs = classes * (classes - 1) / 2;
        let features = if vectors > 0 {
            if vectors_per_class.len() != classes {
                return Err(
                    "SVMClassifier: vectors_per_class does not have one count per class".into(),
                );
            }
            if coef.len() < (classes - 1).saturating_mul(vectors)
                || rho.len() < pairs
                || support.len() < vectors
                || !support.len().is_multiple_of(vectors)
            {
                return Err(
                    "SVMClassifier: coefficients, rho or support_vectors are too short".into(),
                );
            }
            if !prob_a.is_empty() && (prob_a.len() < pairs || prob_b.len() < pairs) {
                return Err(
                    "SVMClassifier: prob_a and prob_b need one value per pair of classes".into(),
                );
            }
            support.len() / vectors
        } else {
            kernel.kind = KernelType::Linear;
            if rho.is_empty() || !coef.len().is_multiple_of(classes) {
                return Err("SVMClassifier: coefficients do not fit the classes".into());
            }
            coef.len() / classes
        };
        Ok(Classifier {
            all_positive: coef.iter().all(|&c| c >= 0.0),
            kernel,
            labels,
            vectors_per_class,
            starts,
            vectors,
            support,
            coef,
            rho,
            prob_a,
            prob_b,
            post: Post::parse(&a.string("post_transform", "NONE")?)?,
            features,
        })
    }
}

impl Op for Classifier {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let (rows, cols, x) = rows_of(inputs, "SVMClassifier")?;
        if cols != self.features {
            return Err(format!(
                "SVMClassifier: rows have {cols} features, the model {}",
                self.features
            )
            .into());
        }
        let c = self.labels.len();
        let pairs = c * (c - 1) / 2;
        let proba = !self.prob_a.is_empty();
        let svc = self.vectors > 0;
        let width = if svc && !proba {
            if c > 2 { pairs } else { 2 }
        } else {
            c
        };
        let scores_per_row = if svc && !proba { pairs } else { c };
        let add: i32 = if svc && !proba && c <= 2 {
            if self.post == Post::None { 2 } else { 0 }
        } else {
            -1
        };
        let mut out = Vec::with_capacity(rows * width);
        let mut picked = Vec::with_capacity(rows);
        let mut literal = Vec::with_capacity(rows);
        let mut kern = Vec::with_capacity(self.vectors.max(c));
        for r in 0..rows {
            let xr = &x[r * cols..(r + 1) * cols];
            kern.clear();
            let mut scores: Vec<f32>;
            let mut votes = vec![0i64; if svc { c } else { 0 }];
            if svc {
                self.kernel
                    .apply(xr, &self.support, self.vectors, 0.0, &mut kern);
                scores = Vec::with_capacity(pairs);
                let mut k = 0;
                for i in 0..c - 1 {
                    for j in i + 1..c {
                        let mut sum = 0f64;
                        let (si, ni) = (self.starts[i], self.vectors_per_class[i]);
                        let (sj, nj) = (self.starts[j], self.vectors_per_class[j]);
                        let row_j = self.vectors * (j - 1);
                        let row_i = self.vectors * i;
                        for m in 0..ni {
                            sum += f64::from(self.coef[row_j + si + m] * kern[si + m]);
                        }
                        for m in 0..nj {
                            sum += f64::from(self.coef[row_i + sj + m] * kern[sj + m]);
                        }
                        sum += f64::from(self.rho[k]);
                        k += 1;
                        scores.push(sum as f32);
                        votes[if sum > 0.0 { i } else { j }] += 1;
                    }
                }
                if proba {
                    let mut p2 = vec![0f32; c * c];
                    let mut index = 0;
                    for i in 0..c - 1 {
                        for j in i + 1..c {
                            let v = sigmoid_probability(
                                scores[index],
                                self.prob_a[index],
                                self.prob_b[index],
                            )
                            .clamp(1.0e-7, 1.0 - 1.0e-7);
                            p2[i * c + j] = v;
                            p2[j * c + i] = 1.0 - v;
                            index += 1;
                        }
                    }
                    scores = multiclass_probability(c, &p2);
                }
            } else {
                self.kernel.apply(xr, &self.coef, c, self.rho[0], &mut kern);
                scores = kern.clone();
            }
            let (maxclass, max_weight) = if svc {
                // The first class with the most votes.
                let mut best = 0;
                for j in 1..c {
                    if votes[j] > votes[best] {
                        best = j;
                    }
                }
                (best, 0f32)
            } else {
                let best = first_max(&scores);
                (best, scores[best])
            };
            if pairs == 1 {
                let pick = if !proba
                    && ((self.all_positive && max_weight >= 0.5)
                        || (max_weight > 0.0 && !self.all_positive))
                {
                    Some(1)
                } else {
                    Some(maxclass)
                };
                if self.labels.len() == 2 {
                    picked.push(pick.unwrap_or(0));
                    literal.push(None);
                } else {
                    picked.push(0);
                    literal.push(Some(i64::from(max_weight > 0.0)));
                }
            } else {
                picked.push(maxclass);
                literal.push(None);
            }
            // Scores: transformed, and a binary SVC's one score doubled.
            if scores_per_row == 1 && add >= 0 && self.post != Post::Probit {
                let s = scores[0];
                match add {
                    // onnxruntime 1.32: the logistic first, then [1 - p, p].
                    0 | 1 if self.post == Post::Logistic => {
                        let p = logistic(s);
                        out.extend([1.0 - p, p])
                    }
                    0 | 1 => out.extend([1.0 - s, s]),
                    _ if self.post == Post::Logistic => out.extend([logistic(-s), logistic(s)]),
                    _ => out.extend([-s, s]),
                }
            } else {
                if scores_per_row > 1 {
                    self.post.apply(&mut scores);
                } else if self.post == Post::Probit {
                    scores[0] = probit(scores[0]);
                }
                scores.resize(width, 0.0);
                out.extend(scores);
            }
        }
        let labels = if literal.iter().any(Option::is_some) {
            match &self.labels {
                Labels::I64(_) => Tensor::I64(Arr::vector(
                    literal.iter().map(|l| l.unwrap_or(0)).collect(),
                )),
                Labels::Str(_) => Tensor::Str(Arr::vector(
                    literal.iter().map(|l| l.unwrap_or(0).to_string()).collect(),
                )),
            }
        } else {
            self.labels.pick(&picked)
        };
        Ok(vec![
            Value::T(labels),
            Value::T(Tensor::F32(Arr::new(vec![rows, width], out)?)),
        ])
    }
}

fn sigmoid_probability(score: f32, a: f32, b: f32) -> f32 {
    1.0 - logistic(score * a + b)
}

/// Pairwise coupling of probabilities (Wu, Lin and Weng 2004, method 2),
/// in f32 as onnxruntime computes it.
fn multiclass_probability(k: usize, r: &[f32]) -> Vec<f32> {
    let mut q = vec![0f32; k * k];
    let mut qp = vec![0f32; k];
    let mut p = vec![1.0 / k as f32; k];
    let eps = 0.005 / k as f32;
    for i in 0..k {
        for j in 0..i {
            q[i * k + i] += r[j * k + i] * r[j * k + i];
            q[i * k + j] = q[j * k + i];
        }
        for j in i + 1..k {
            q[i * k + i] += r[j * k + i] * r[j * k + i];
            q[i * k + j] = -r[j * k + i] * r[i * k + j];
        }
    }
    for _ in 0..100 {
        let mut pqp = 0f32;
        for i in 0..k {
            qp[i] = 0.0;
            for j in 0..k {
                qp[i] += q[i * k + j] * p[j];
            }
            pqp += p[i] * qp[i];
        }
        let max_error = (0..k).map(|i| (qp[i] - pqp).abs()).fold(0f32, f32::max);
        if max_error < eps {
            break;
        }
        for i in 0..k {
            let diff = (-qp[i] + pqp) / q[i * k + i];
            p[i] += diff;
            pqp = (pqp + diff * (diff * q[i * k + i] + 2.0 * qp[i])) / (1.0 + diff) / (1.0 + diff);
            for j in 0..k {
                qp[j] = (qp[j] + diff * q[i * k + j]) / (1.0 + diff);
                p[j] /= 1.0 + diff;
            }
        }
    }
    p
}

#[derive(Debug)]
struct Regressor {
    kernel: Kernel,
    vectors: usize,
    support: Vec<f32>,
    coef: Vec<f32>,
    rho: f32,
    one_class: bool,
    post: Post,
    features: usize,
}

impl Regressor {
    fn new(a: &Attrs, mut kernel: Kernel) -> Result<Regressor, ModelError> {
        let vectors = usize::try_from(a.int("n_supports", 0)).unwrap_or(0);
        let support = a.floats("support_vectors");
        let coef = a.floats("coefficients");
        let rho = a.floats("rho").first().copied().unwrap_or(0.0);
        let features = if vectors > 0 {
            if support.len() < vectors
                || !support.len().is_multiple_of(vectors)
                || coef.len() < vectors
            {
                return Err(
                    "SVMRegressor: support_vectors or coefficients do not fit n_supports".into(),
                );
            }
            support.len() / vectors
        } else {
            kernel.kind = KernelType::Linear;
            coef.len()
        };
        Ok(Regressor {
            kernel,
            vectors,
            support,
            coef,
            rho,
            one_class: a.int("one_class", 0) != 0,
            post: Post::parse(&a.string("post_transform", "NONE")?)?,
            features,
        })
    }
}

impl Op for Regressor {
    fn run(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, ModelError> {
        let (rows, cols, x) = rows_of(inputs, "SVMRegressor")?;
        if cols != self.features {
            return Err(format!(
                "SVMRegressor: rows have {cols} features, the model {}",
                self.features
            )
            .into());
        }
        let mut out = Vec::with_capacity(rows);
        let mut kern = Vec::new();
        for r in 0..rows {
            let xr = &x[r * cols..(r + 1) * cols];
            kern.clear();
            let mut s = if self.vectors > 0 {
                self.kernel
                    .apply(xr, &self.support, self.vectors, 0.0, &mut kern);
                let mut s = 0f32;
                for (c, k) in self.coef.iter().zip(&kern) {
                    s += c * k;
                }
                s + self.rho
            } else {
                self.kernel.apply(xr, &self.coef, 1, self.rho, &mut kern);
                kern[0]
            };
            if self.post == Post::Probit {
                s = probit(s);
            }
            if self.one_class {
                s = if s > 0.0 { 1.0 } else { -1.0 };
            }
            out.push(s);
        }
        Ok(vec![Value::T(Tensor::F32(Arr::new(vec![rows, 1], out)?))])
    }
}
