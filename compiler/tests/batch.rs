//! Batch serving end to end: `sql` and `predict` on SQLite and on a real
//! PostgreSQL server (started by the test), re-running a day with
//! `replace_partition`, the errors a user meets (a malformed CSV row, a
//! missing column, a model that does not fit, a refused connection) and
//! that each leaves the target table as it was, secrets kept out of logs,
//! and the demand-forecast example.

use std::path::{Path, PathBuf};

mod common;
use common::pg::Postgres;
use common::*;

fn data(file: &str) -> PathBuf {
    root().join("tests/data").join(file)
}

/// Runs the batch pipeline in a fresh working directory with `db` as its
/// connection and `input` as the rows to score.
fn run_batch(
    bin: &Path,
    db: &str,
    input: &Path,
    extra_env: &[(&str, &str)],
) -> (Run, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin)
        .current_dir(dir.path())
        .args(["run", "--date", "2026-11-24"])
        .env("BATCH_DB", db)
        .env("MODEL", data("logreg16.onnx"))
        .env("INPUT", input)
        .envs(extra_env.iter().copied())
        .output()
        .unwrap();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
    };
    (r, dir)
}

/// onnxruntime's predictions for the sample (tests/data/make_logreg.py).
fn expected() -> Vec<(i64, i64, f64)> {
    std::fs::read_to_string(data("logreg16_expected.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

/// Rows of `scores` as (id, label, probabilities_1, ds), ordered by id. (`id`
/// is a `keep` column read from CSV, so text: cast, as a user would.)
fn check_scores(rows: &[(i64, i64, f64, String)]) {
    let want = expected();
    assert_eq!(rows.len(), want.len(), "one row per input row");
    for ((id, label, p1, ds), (wid, wlabel, wp1)) in rows.iter().zip(&want) {
        assert_eq!((id, label), (wid, wlabel), "row {id}");
        assert!(
            (p1 - wp1).abs() < 1e-5,
            "row {id}: {p1} vs onnxruntime's {wp1}"
        );
        assert_eq!(ds, "2026-11-24");
    }
}

fn sqlite_scores(db: &Path) -> Vec<(i64, i64, f64, String)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut s = c
        .prepare(
            "SELECT CAST(id AS BIGINT) AS id, label, probabilities_1, ds FROM scores ORDER BY 1",
        )
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The sample with one line replaced.
fn broken_sample(dir: &Path, name: &str, line: usize, with: &str) -> PathBuf {
    let text = std::fs::read_to_string(data("logreg16_sample.csv")).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{},", line - 2)) {
                with
            } else {
                l
            }
        })
        .collect();
    write(dir, name, &(lines.join("\n") + "\n"))
}

#[test]
fn sql_and_predict_on_sqlite() {
    let bin = build("batch");
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("app.db");
    let url = format!("sqlite://{}", db.display());

    let (r, dir) = run_batch(&bin, &url, &data("logreg16_sample.csv"), &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    // Bound, not spliced: the note went in as it was written.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/events.csv")).unwrap(),
        "id,note\n7,\"it's \"\"quoted\"\"; DROP TABLE events; --\"\n"
    );
    check_scores(&sqlite_scores(&db));
    let show = run(&bin, dir.path(), &["show", RUN_ID]).stdout;
    assert!(
        show.contains("\"rows\":200") && show.contains("\"batches\":4"),
        "{show}"
    );
    assert!(show.contains("\"n\":200"), "count's output: {show}");

    // The same day again (another state directory): still one set of rows.
    let (r, _dir2) = run_batch(&bin, &url, &data("logreg16_sample.csv"), &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    check_scores(&sqlite_scores(&db));

    // Errors: each names the file/row/column, and the table is unchanged.
    let before = sqlite_scores(&db);
    let cases = [
        (
            broken_sample(
                work.path(),
                "bad_number.csv",
                7,
                "5,row 5,1,2,x3,4,5,6,7,8,9,10,11,12,13,14,15,16",
            ),
            "line 7, column `f2`: `x3` is not a number",
        ),
        (
            broken_sample(work.path(), "short_row.csv", 9, "7,row 7,1,2,3"),
            "line 9: 5 fields, but the header has 18",
        ),
        (
            write(work.path(), "missing.csv", "id,name,f0\n1,a,0.5\n"),
            "the input has no column `f1`",
        ),
    ];
    for (input, message) in cases {
        let (r, _d) = run_batch(&bin, &url, &input, &[]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        assert!(
            r.stdout.contains(message),
            "want `{message}` in:\n{}",
            r.stdout
        );
        assert!(r.stdout.contains("score"), "names the task: {}", r.stdout);
        assert_eq!(sqlite_scores(&db), before, "the table is as it was");
    }
    // A model that does not fit the features.
    let (r, _d) = run_batch(
        &bin,
        &url,
        &data("logreg16_sample.csv"),
        &[(
            "MODEL",
            root()
                .join("examples/demand_forecast/model/demand.onnx")
                .to_str()
                .unwrap(),
        )],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("takes 3 features per row, but `features` lists 16"),
        "{}",
        r.stdout
    );
    assert_eq!(sqlite_scores(&db), before);

    // A templated model path is checked when the task starts: a model with
    // an operator chime cannot run is named, not reported as a shape.
    let (r, _d) = run_batch(
        &bin,
        &url,
        &data("logreg16_sample.csv"),
        &[("MODEL", data("hardmax.onnx").to_str().unwrap())],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains(
            "uses the operator Hardmax (ai.onnx), which chime cannot run (node `pick_max`"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(sqlite_scores(&db), before);
}

#[test]
fn sql_and_predict_on_postgres_and_secrets_stay_out_of_logs() {
    let bin = build("batch");
    let pg = Postgres::start();
    pg.create_db("app");
    // The server trusts local connections, so any password works: the
    // point is that it never shows.
    let url = format!("postgres://chime:hunter2secret@127.0.0.1:{}/app", pg.port);
    let pg_scores = || -> Vec<(i64, i64, f64, String)> {
        pg.psql(
            "app",
            "SELECT CAST(id AS BIGINT) AS id, label, probabilities_1, ds FROM scores ORDER BY 1",
        )
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].to_string(),
            )
        })
        .collect()
    };

    let (r, dir) = run_batch(&bin, &url, &data("logreg16_sample.csv"), &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/events.csv")).unwrap(),
        "id,note\n7,\"it's \"\"quoted\"\"; DROP TABLE events; --\"\n"
    );
    check_scores(&pg_scores());
    let (r, _d) = run_batch(&bin, &url, &data("logreg16_sample.csv"), &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    check_scores(&pg_scores());

    // A malformed row: rolled back.
    let before = pg_scores();
    let work = tempfile::tempdir().unwrap();
    let bad = broken_sample(
        work.path(),
        "bad_late_row.csv",
        150,
        "148,row 148,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,oops",
    );
    let (r, _d) = run_batch(&bin, &url, &bad, &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("line 150, column `f15`: `oops` is not a number"),
        "{}",
        r.stdout
    );
    assert_eq!(
        pg_scores(),
        before,
        "the rows of batches before the bad one were rolled back"
    );

    // Refused: a port nobody listens on. The message names the connection
    // and hides the password, in the console, the logs and `show`.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = format!("postgres://chime:hunter2secret@127.0.0.1:{closed}/app");
    let (r, dir) = run_batch(&bin, &refused, &data("logreg16_sample.csv"), &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("connection `db`"), "{}", r.stdout);
    assert!(r.stdout.contains("refused"), "{}", r.stdout);
    let show = run(&bin, dir.path(), &["show", RUN_ID]).stdout;
    let logs = run(&bin, dir.path(), &["logs", RUN_ID, "setup"]).stdout;
    let mut files = String::new();
    for entry in walk(dir.path()) {
        files.push_str(&String::from_utf8_lossy(
            &std::fs::read(entry).unwrap_or_default(),
        ));
    }
    for text in [&r.stdout, &show, &logs, &files] {
        assert!(!text.contains("hunter2secret"), "a secret leaked:\n{text}");
    }
    assert!(show.contains("***"), "{show}");
}

/// Every file under `dir` (logs and the state database).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A copy of `examples/<name>`'s `sub` folders in a fresh directory (the
/// examples read them relative to where they run).
fn example_dir(name: &str, subs: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in subs {
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(root().join("examples").join(name).join(sub))
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
    dir
}

/// psql's rows, split into fields.
fn pg_rows(pg: &Postgres, db: &str, sql: &str) -> Vec<Vec<String>> {
    pg.psql(db, sql)
        .lines()
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

#[test]
fn the_demand_forecast_example_replaces_its_day() {
    let bin = build_example("demand_forecast");
    // The results go to SQLite (the default), then to PostgreSQL
    // (FORECAST_DB); the sales stay in the example's SQLite file.
    let pg = Postgres::start();
    let pg_url = pg.db_url("forecast");
    for (on, env) in backends("FORECAST_DB", &pg_url) {
        let dir = example_dir("demand_forecast", &["data", "model"]);
        for date in ["2026-03-01", "2026-03-02"] {
            let r = run_env(&bin, dir.path(), &["run", "--date", date], &env);
            assert_eq!(r.code, 0, "{on}: {}", r.stdout);
        }
        // Re-running a day (after clearing its run) replaces its rows.
        let runs = run_env(&bin, dir.path(), &["runs"], &env).stdout;
        let run_id = runs
            .split_whitespace()
            .find(|w| w.starts_with("manual__2026-03-02"))
            .unwrap_or_else(|| panic!("no run of 2026-03-02 in:\n{runs}"))
            .to_string();
        let r = run_env(
            &bin,
            dir.path(),
            &["clear", &run_id, "--task", "features", "--downstream"],
            &env,
        );
        assert_eq!(r.code, 0, "{}", r.stdout);
        let r = run_env(&bin, dir.path(), &["run", "--date", "2026-03-02"], &env);
        assert_eq!(r.code, 0, "{on}: {}", r.stdout);

        // What the ordering service runs.
        let per_day = "SELECT ds, count(*) FROM demand_forecast GROUP BY ds ORDER BY ds";
        let range = "SELECT min(units), max(units) FROM demand_forecast";
        let (per_day, (lo, hi)): (Vec<(String, i64)>, (f64, f64)) = if env.is_empty() {
            let c = rusqlite::Connection::open(dir.path().join("out/forecast.db")).unwrap();
            let per_day = c
                .prepare(per_day)
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let range = c
                .query_row(range, [], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap();
            (per_day, range)
        } else {
            let per_day = pg_rows(&pg, "forecast", per_day)
                .into_iter()
                .map(|r| (r[0].clone(), r[1].parse().unwrap()))
                .collect();
            let r = &pg_rows(&pg, "forecast", range)[0];
            (per_day, (r[0].parse().unwrap(), r[1].parse().unwrap()))
        };
        assert_eq!(
            per_day,
            [
                ("2026-03-01".to_string(), 48),
                ("2026-03-02".to_string(), 48)
            ],
            "{on}"
        );
        assert!(
            lo > 0.0 && hi < 100.0,
            "{on}: forecasts in the data's range: {lo}..{hi}"
        );
        // The summary's sum (numeric on PostgreSQL) is a number.
        let show = run_env(&bin, dir.path(), &["show", &run_id], &env).stdout;
        assert!(show.contains("\"predictions\":48"), "{on}: {show}");
        let total = show
            .split("\"total_units\":")
            .nth(1)
            .and_then(|t| t.split([',', '}']).next())
            .and_then(|t| t.parse::<f64>().ok());
        assert!(total.is_some_and(|t| t > 48.0), "{on}: {show}");
        assert!(!show.contains("forecast-pw"), "{show}");
    }
}

/// A tiny HTTP server: `/echo` answers `{"got": <the request body>}`,
/// `/ready` answers 503 twice then 200, `/fail` always 500 `boom`.
/// Returns its base URL and the paths it was asked for.
fn serve() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut length = 0;
            let mut auth = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line
                    .strip_prefix("Authorization:")
                    .or_else(|| line.strip_prefix("authorization:"))
                {
                    auth = v.trim().to_string();
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let readies = {
                let mut seen = log.lock().unwrap();
                seen.push(path.clone());
                seen.iter().filter(|p| *p == "/ready").count()
            };
            let (status, text) = match path.as_str() {
                "/echo" => (
                    "200 OK",
                    format!("{{\"got\": {}}}", String::from_utf8_lossy(&body)),
                ),
                "/ready" if readies <= 2 => ("503 Service Unavailable", "starting".to_string()),
                "/ready" => ("200 OK", "ok".to_string()),
                // Echoes the credentials, as some servers' errors do.
                _ => ("500 Internal Server Error", format!("boom {auth}")),
            };
            let mut s = stream;
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn sensors_and_http() {
    let bin = build("sensors");
    let (api, seen) = serve();
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(&bin)
        .current_dir(dir.path())
        .args(["run", "--date", "2026-11-24"])
        .env("API", &api)
        .env("API_TOKEN", "tok-5ecret-42")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // `never` and `bad_status` fail, so the run does.
    assert_eq!(out.status.code(), Some(1), "{text}");
    let show = run(&bin, dir.path(), &["show", RUN_ID]).stdout;
    for (task, state) in [
        ("wait_file", "success"),
        ("wait_sql", "success"),
        ("call", "success"),
        ("wait_url", "success"),
        ("use_output", "success"),
        ("never", "failed"),
        ("bad_status", "failed"),
    ] {
        assert_eq!(state_of(&show, task), state, "{task}:\n{show}");
    }
    assert!(
        text.contains("wait_for timed out after")
            && text.contains("the file never.flag does not exist"),
        "{text}"
    );
    // The token went out, and came back in the error, redacted.
    assert!(
        text.contains("answered 500, expected 2xx: boom Bearer ***"),
        "{text}"
    );
    let logs = run(&bin, dir.path(), &["logs", RUN_ID, "bad_status"]).stdout;
    for t in [&text, &show, &logs] {
        assert!(!t.contains("tok-5ecret-42"), "the token leaked:\n{t}");
    }
    // The JSON body is the output, readable downstream.
    assert_eq!(read(dir.path(), "got.txt"), "got 2026-11-24\n");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().filter(|p| *p == "/fail").count(),
        2,
        "one try and one retry: {seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|p| *p == "/ready").count(),
        3,
        "polled until 200: {seen:?}"
    );
}

#[test]
fn the_image_classification_example_labels_the_days_images() {
    let bin = build_example("image_classify");
    let pg = Postgres::start();
    let pg_url = pg.db_url("labels");
    for (on, env) in backends("LABELS_DB", &pg_url) {
        let dir = example_dir("image_classify", &["images", "model"]);
        for date in ["2026-03-01", "2026-03-02"] {
            let r = run_env(&bin, dir.path(), &["run", "--date", date], &env);
            assert_eq!(r.code, 0, "{on}: {}", r.stdout);
        }
        // The review tool's query, against the true digits of the images.
        let truth: std::collections::HashMap<String, i64> =
            std::fs::read_to_string(dir.path().join("images/labels.csv"))
                .unwrap()
                .lines()
                .skip(1)
                .map(|l| {
                    let (f, d) = l.split_once(',').unwrap();
                    (f.to_string(), d.parse().unwrap())
                })
                .collect();
        let scores = (0..10)
            .map(|k| format!("probability_{k}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows: Vec<(String, String, i64, f64)> = if env.is_empty() {
            let c = rusqlite::Connection::open(dir.path().join("out/labels.db")).unwrap();
            c.prepare(&format!(
                "SELECT ds, file, label, max({scores}) FROM image_labels ORDER BY ds, file"
            ))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
        } else {
            pg_rows(
                &pg,
                "labels",
                &format!(
                    "SELECT ds, file, label, greatest({scores}) FROM image_labels ORDER BY ds, file"
                ),
            )
            .into_iter()
            .map(|r| {
                (
                    r[0].clone(),
                    r[1].clone(),
                    r[2].parse().unwrap(),
                    r[3].parse().unwrap(),
                )
            })
            .collect()
        };
        assert_eq!(rows.len(), 80, "{on}: 40 images a day");
        let right = rows
            .iter()
            .filter(|(ds, f, label, _)| truth[&format!("{ds}/{f}")] == *label)
            .count();
        assert!(right >= 72, "{on}: {right} of 80 right (scikit-learn: 78)");
        assert!(
            rows.iter().all(|r| r.3 > 0.0 && r.3 <= 1.0 + 1e-6),
            "{on}: {rows:?}"
        );
    }
}

#[test]
fn parquet_in_and_out() {
    let bin = build("parquet");
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(&bin)
        .current_dir(dir.path())
        .args(["run", "--date", "2026-11-24"])
        .env("MODEL", data("logreg16.onnx"))
        .env("INPUT", data("logreg16_sample.csv"))
        .env("PANDAS_INPUT", data("logreg16_sample_pandas.parquet"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // Read back through Parquet, the predictions are still onnxruntime's.
    let db = dir.path().join("out/app.db");
    check_scores(&sqlite_scores(&db));
    // A file pandas wrote (tests/data/make_parquet.py: int32 ids, a
    // category column, a float32 feature, timestamps) reads the same.
    let c = rusqlite::Connection::open(&db).unwrap();
    let from_pandas: Vec<(i64, i64, f64, String)> = c
        .prepare("SELECT id, label, probabilities_1, ds FROM pandas_scores ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    check_scores(&from_pandas);
    let (name, when): (String, String) = c
        .query_row(
            "SELECT name, \"when\" FROM pandas_scores WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (name.as_str(), when.as_str()),
        ("row 1", "2026-11-24T10:00:01+00:00")
    );
    for f in ["out/scored.parquet", "out/scores.parquet"] {
        let bytes = std::fs::read(dir.path().join(f)).unwrap();
        assert!(
            bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
            "{f} is a Parquet file"
        );
        assert!(!dir.path().join(format!("{f}.partial")).exists());
    }
    let show = run(&bin, dir.path(), &["show", RUN_ID]).stdout;
    assert!(show.contains("\"rows\":200"), "{show}");
}

/// A database a test writes to, on either backend.
enum Db<'a> {
    Sqlite(PathBuf),
    Pg(&'a Postgres, &'static str),
}

impl Db<'_> {
    fn name(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "SQLite",
            Db::Pg(..) => "PostgreSQL",
        }
    }

    fn url(&self) -> String {
        match self {
            Db::Sqlite(p) => format!("sqlite://{}", p.display()),
            Db::Pg(pg, db) => pg.url(db),
        }
    }

    /// The rows of `sql`, each value as text (NULL as empty).
    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        match self {
            Db::Sqlite(p) => {
                use rusqlite::types::ValueRef;
                let c = rusqlite::Connection::open(p).unwrap();
                let mut s = c.prepare(sql).unwrap();
                let width = s.column_count();
                s.query_map([], |r| {
                    Ok((0..width)
                        .map(|i| match r.get_ref(i).unwrap() {
                            ValueRef::Null => String::new(),
                            ValueRef::Integer(x) => x.to_string(),
                            ValueRef::Real(x) => x.to_string(),
                            ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                            ValueRef::Blob(_) => "<blob>".into(),
                        })
                        .collect())
                })
                .unwrap()
                .map(Result::unwrap)
                .collect()
            }
            Db::Pg(pg, db) => pg_rows(pg, db, sql),
        }
    }
}

/// A fresh SQLite file under `work` and a fresh database on `pg`, named `db`.
fn both_backends<'a>(work: &Path, pg: &'a Postgres, db: &'static str) -> [Db<'a>; 2] {
    pg.create_db(db);
    [Db::Sqlite(work.join(format!("{db}.db"))), Db::Pg(pg, db)]
}

#[test]
fn identifier_with_quote_cannot_inject_sql() {
    // tests/e2e/hostile.yaml: a query's result column, a source table's
    // column (kept by predict) and a model's output (tests/data/
    // make_odd_models.py) each named to close the quoted identifier and
    // drop `victim`.
    let bin = build("hostile");
    let pg = Postgres::start();
    let work = tempfile::tempdir().unwrap();
    let model = data("hostile_output.onnx");
    for db in both_backends(work.path(), &pg, "hostile") {
        let on = db.name();
        let (r, _dir) = run_batch(
            &bin,
            &db.url(),
            Path::new("unused"),
            &[("MODEL", model.to_str().unwrap())],
        );
        assert_eq!(r.code, 0, "{on}: {}", r.stdout);
        assert_eq!(
            db.rows("SELECT x FROM victim"),
            [["1"]],
            "{on}: victim survives"
        );
        // The columns were created with the names as they were written.
        assert_eq!(
            db.rows(r#"SELECT "a"" INTEGER); DROP TABLE victim; COMMIT; --", ds FROM out_query"#),
            [["1", "2026-11-24"]],
            "{on}"
        );
        assert_eq!(
            db.rows(
                r#"SELECT "b"" TEXT); DROP TABLE victim; COMMIT; --", "a"" INTEGER); DROP TABLE victim; COMMIT; --" FROM out_model"#
            ),
            [["007", "3"]],
            "{on}"
        );
    }
}

/// Runs task `task` of tests/e2e/predict_checks.yaml alone, on `input`
/// (CSV text) and `db`; `code` is 0 when the task succeeded, 1 when it
/// failed. (`task` exits with 1 either way: the run's other tasks did not
/// run.)
fn run_check(bin: &Path, db: &Db, task: &str, input: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "input.csv", input);
    let out = std::process::Command::new(bin)
        .current_dir(dir.path())
        .args(["task", task, "--date", "2026-11-24"])
        .env("BATCH_DB", db.url())
        .env("DATA", root().join("tests/data"))
        .env("INPUT", &path)
        .output()
        .unwrap();
    let stdout =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let code = if stdout.contains(&format!("{task} success in")) {
        0
    } else if stdout.contains(&format!("{task} failed")) {
        1
    } else {
        -1
    };
    Run { code, stdout }
}

#[test]
fn nan_and_infinite_features_and_predictions_are_refused() {
    let bin = build("predict_checks");
    let work = tempfile::tempdir().unwrap();
    let db = Db::Sqlite(work.path().join("app.db"));
    let roots = "SELECT id, root FROM roots ORDER BY id";
    let r = run_check(&bin, &db, "roots", "id,x\na,4\nb,9\n");
    assert_eq!(r.code, 0, "{}", r.stdout);
    let before = db.rows(roots);
    assert_eq!(before, [["a", "2"], ["b", "3"]]);
    for (input, message) in [
        (
            "id,x\na,4\nb,NaN\n",
            "line 3, column `x`: NaN is not a finite number",
        ),
        (
            "id,x\na,inf\n",
            "line 2, column `x`: inf is not a finite number",
        ),
        (
            "id,x\na,-Infinity\n",
            "line 2, column `x`: -inf is not a finite number",
        ),
        (
            "id,x\na,1e300\n",
            "line 2, column `x`: 1e300 is too large for the model's 32-bit floats",
        ),
        // sqrt(-1): the model predicts NaN for the third row (in the
        // second batch: the first was already written, and is rolled back).
        (
            "id,x\na,4\nb,9\nc,-1\n",
            "input row 3 (`id` = the text \"c\"): the model's output `root` is the number NaN",
        ),
    ] {
        let r = run_check(&bin, &db, "roots", input);
        assert_eq!(r.code, 1, "{input}: {}", r.stdout);
        assert!(
            r.stdout.contains(message) && r.stdout.contains("`allow_nan: true`"),
            "want `{message}` in:\n{}",
            r.stdout
        );
        assert_eq!(db.rows(roots), before, "{input}: the table is as it was");
    }
    // Asked for: NaN passes through (SQLite stores it as NULL).
    let r = run_check(&bin, &db, "roots_allow_nan", "id,x\na,-1\nb,NaN\nc,4\n");
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        db.rows("SELECT id, root FROM roots_nan ORDER BY id"),
        [["a", ""], ["b", ""], ["c", "2"]]
    );
}

/// A model that fails on a row of a query's input names that row, as it
/// does for a file: the reader, stopped by the failure while it still had
/// rows to send, used to be reported instead ("connection `db`: stopped").
#[test]
fn a_model_failure_on_a_query_input_is_reported_as_the_models() {
    let bin = build("predict_checks");
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("app.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE numbers (n INTEGER, id TEXT, x REAL)")
            .unwrap();
        // Far more rows than the reader can queue ahead of the model.
        for n in 1..=2000 {
            let x = if n == 3 { -1.0 } else { n as f64 };
            c.execute(
                "INSERT INTO numbers VALUES (?1, ?2, ?3)",
                rusqlite::params![n, format!("r{n}"), x],
            )
            .unwrap();
        }
    }
    let db = Db::Sqlite(path);
    let r = run_check(&bin, &db, "roots_from_sql", "unused\n");
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "input row 3 (`id` = the text \"r3\"): the model's output `root` is the number NaN"
        ) && !r.stdout.contains("stopped"),
        "{}",
        r.stdout
    );
}

#[test]
fn csv_keep_columns_stay_text_as_written() {
    let bin = build("predict_checks");
    let pg = Postgres::start();
    let work = tempfile::tempdir().unwrap();
    for db in both_backends(work.path(), &pg, "keep_text") {
        let on = db.name();
        let r = run_check(
            &bin,
            &db,
            "roots",
            "id,x\n007,4\n12345678901234567890123,9\n,16\n",
        );
        assert_eq!(r.code, 0, "{on}: {}", r.stdout);
        assert_eq!(
            db.rows("SELECT id, root FROM roots ORDER BY root"),
            [["007", "2"], ["12345678901234567890123", "3"], ["", "4"]],
            "{on}: the ids as the file has them (an empty field is NULL)"
        );
        let ty = match db {
            Db::Sqlite(_) => "SELECT typeof(id) FROM roots WHERE root = 2",
            Db::Pg(..) => "SELECT pg_typeof(id)::text FROM roots WHERE root = 2",
        };
        assert_eq!(db.rows(ty), [["text"]], "{on}");
    }
}

#[test]
fn an_output_without_a_row_per_input_row_is_refused() {
    let bin = build("predict_checks");
    let work = tempfile::tempdir().unwrap();
    let db = Db::Sqlite(work.path().join("app.db"));
    let r = run_check(&bin, &db, "batch_total", "f0,f1\n1,2\n3,4\n5,6\n");
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "batch_total.onnx: the output `total` has 1 rows (shape [1, 2]) for a batch of 2"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(
        db.rows("SELECT count(*) FROM sqlite_master WHERE name = 'totals'"),
        [["0"]],
        "nothing written"
    );
}

#[test]
fn an_output_named_like_a_keep_column_or_ds_is_refused() {
    let bin = build("predict_checks");
    let work = tempfile::tempdir().unwrap();
    let db = Db::Sqlite(work.path().join("app.db"));
    // A row that would fail if it were read: the refusal comes first.
    let input = "id,x,root\na,oops,1\n";
    for (task, message) in [
        (
            "keep_clash",
            "sqrt.onnx: its output `root` has the name of a `keep` column",
        ),
        (
            "ds_output",
            "ds_output.onnx: its output `ds` would be written as the table's `ds` column",
        ),
    ] {
        let r = run_check(&bin, &db, task, input);
        assert_eq!(r.code, 1, "{task}: {}", r.stdout);
        assert!(
            r.stdout.contains(message) && !r.stdout.contains("oops"),
            "{task}: want `{message}` in:\n{}",
            r.stdout
        );
    }
}
