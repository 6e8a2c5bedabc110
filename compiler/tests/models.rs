//! The model suite (tests/models: the classic models exported by their
//! standard converters, with onnxruntime's outputs) through `predict` in a
//! real pipeline binary, as a user runs it: one task per model reads the
//! model's input CSV and writes a CSV, compared with onnxruntime's (labels
//! equal, scores within 1e-5). Missing values also come as SQL and
//! Parquet nulls.
//! Regenerate the suite with tests/models/make_models.py.

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::{chime, root, run};

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let split = |l: &str| l.split(',').map(str::to_string).collect::<Vec<_>>();
    let header = split(lines.next().unwrap_or_default());
    (header, lines.map(split).collect())
}

/// Differences between chime's output and onnxruntime's (at most a few).
fn compare(got: &Path, want: &Path) -> Vec<String> {
    let (gh, g) = read_csv(got);
    let (wh, w) = read_csv(want);
    if gh != wh {
        return vec![format!("columns {gh:?}, onnxruntime's {wh:?}")];
    }
    if g.len() != w.len() {
        return vec![format!("{} rows, onnxruntime's {}", g.len(), w.len())];
    }
    let mut diffs = Vec::new();
    for (r, (gr, wr)) in g.iter().zip(&w).enumerate() {
        for (c, (gv, wv)) in gr.iter().zip(wr).enumerate() {
            let same = match (gv.parse::<f64>(), wv.parse::<f64>()) {
                (Ok(a), Ok(b)) => (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                _ => gv == wv,
            };
            if !same && diffs.len() < 3 {
                diffs.push(format!(
                    "row {}, `{}`: {gv}, onnxruntime {wv}",
                    r + 1,
                    wh[c]
                ));
            }
        }
    }
    diffs
}

#[test]
fn every_suite_model_runs_through_predict_and_matches_onnxruntime() {
    let root = root();
    let models = root.join("tests/models");
    let suite: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(models.join("suite.json")).expect("suite.json"),
    )
    .expect("suite.json parses");
    let suite = suite.as_array().expect("a list of models");
    assert!(suite.len() >= 40, "the suite has {} models", suite.len());
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();

    // Two imputing models also read their rows from SQLite, where a
    // missing value is NULL.
    let from_sql = [
        "pipeline_imputer_scaler_logistic_regression",
        "hist_gradient_boosting_regressor_missing",
    ];
    let db = rusqlite::Connection::open(dir.join("inputs.db")).unwrap();
    for name in from_sql {
        let (header, rows) = read_csv(&models.join(format!("{name}.input.csv")));
        let cols: Vec<String> = header.iter().map(|h| format!("\"{h}\" REAL")).collect();
        db.execute(&format!("CREATE TABLE {name} ({})", cols.join(", ")), [])
            .unwrap();
        let marks = vec!["?"; header.len()].join(", ");
        let mut insert = db
            .prepare(&format!("INSERT INTO {name} VALUES ({marks})"))
            .unwrap();
        for row in rows {
            let values: Vec<Option<f64>> = row.iter().map(|v| v.parse().ok()).collect();
            insert.execute(rusqlite::params_from_iter(values)).unwrap();
        }
    }
    drop(db);

    let mut yaml =
        String::from("pipeline: model_suite\nconnections:\n  inputs: sqlite://inputs.db\ntasks:\n");
    let task = |yaml: &mut String,
                id: &str,
                name: &str,
                features: &serde_json::Value,
                input: String| {
        let features = serde_json::to_string(features).unwrap();
        let model = models.join(format!("{name}.onnx"));
        let _ = write!(
            yaml,
            "  {id}:\n    operator: predict\n    with:\n      model: \"{}\"\n      input: {input}\n      features: {features}\n      keep: [id]\n      output: {{ csv: \"out/{id}.csv\" }}\n",
            model.display()
        );
    };
    for m in suite {
        let name = m["name"].as_str().unwrap();
        let csv = models.join(format!("{name}.input.csv"));
        task(
            &mut yaml,
            name,
            name,
            &m["features"],
            format!("{{ csv: \"{}\" }}", csv.display()),
        );
        let parquet = models.join(format!("{name}.input.parquet"));
        if parquet.exists() {
            let input = format!("{{ parquet: \"{}\" }}", parquet.display());
            task(
                &mut yaml,
                &format!("{name}_parquet"),
                name,
                &m["features"],
                input,
            );
        }
        if from_sql.contains(&name) {
            let query = format!("SELECT * FROM {name} ORDER BY id");
            task(
                &mut yaml,
                &format!("{name}_sql"),
                name,
                &m["features"],
                format!("{{ connection: inputs, sql: \"{query}\" }}"),
            );
        }
    }
    std::fs::write(dir.join("pipeline.yaml"), &yaml).unwrap();
    let check = chime()
        .current_dir(dir)
        .args(["check", "pipeline.yaml"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "chime check: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let out = root.join("target/e2e-bin/model_suite");
    let status = chime()
        .arg("build")
        .arg(dir.join("pipeline.yaml"))
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "chime build of the suite pipeline failed");
    let r = run(
        &out.join("model_suite"),
        dir,
        &["run", "--date", "2026-11-30"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);

    let mut failures = Vec::new();
    for m in suite {
        let name = m["name"].as_str().unwrap();
        let want = models.join(format!("{name}.expected.csv"));
        let mut ids = vec![name.to_string()];
        if from_sql.contains(&name) {
            ids.push(format!("{name}_sql"));
        }
        if models.join(format!("{name}.input.parquet")).exists() {
            ids.push(format!("{name}_parquet"));
        }
        for id in ids {
            let diffs = compare(&dir.join(format!("out/{id}.csv")), &want);
            if !diffs.is_empty() {
                failures.push(format!("{id}: {}", diffs.join("; ")));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} outputs differ from onnxruntime's:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
