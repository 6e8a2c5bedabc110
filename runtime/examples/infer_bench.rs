//! Inference alone, no I/O: runs an ONNX model that uses ai.onnx.ml on
//! random rows, batch after batch, and prints the median rows/s of
//! several passes. tests/bench/bench_predict.py runs it beside
//! onnxruntime on the same model and rows.
//!
//! usage: cargo run --release -p chime-runtime --features predict \
//!          --example infer_bench -- MODEL.onnx WIDTH [ROWS] [BATCH] [PASSES]

use std::time::Instant;

use chime::ml::value::{Arr, Tensor, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, width, rest @ ..] = args.as_slice() else {
        return Err("usage: infer_bench MODEL.onnx WIDTH [ROWS] [BATCH] [PASSES]".into());
    };
    let width: usize = width.parse().map_err(|_| "WIDTH is a number")?;
    let num = |i: usize, d: usize| rest.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
    let (rows, batch, passes) = (num(0, 1_000_000), num(1, 8192), num(2, 5));
    let bytes = std::fs::read(model).map_err(|e| e.to_string())?;
    let parsed = chime::ml::Model::read(&bytes)?;
    let graph = chime::ml::Graph::load(&parsed)?;
    // The same rows as bench_predict.py's: standard normal, from a fixed
    // seed (xorshift + Box-Muller; the distribution, not the values, is
    // what the trees see).
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let x: Vec<f32> = (0..rows * width)
        .map(|_| {
            let (u, v) = (uniform().max(1e-12), uniform());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect();
    let mut rates = Vec::new();
    for _ in 0..passes {
        let start = Instant::now();
        for chunk in x.chunks(batch * width) {
            let n = chunk.len() / width;
            let t = Tensor::F32(Arr::new(vec![n, width], chunk.to_vec())?);
            std::hint::black_box(graph.run(vec![Value::T(t)])?);
        }
        rates.push(rows as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!("{:.0}", rates[rates.len() / 2]);
    Ok(())
}
