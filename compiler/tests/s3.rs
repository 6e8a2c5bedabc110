//! Object storage end to end (issue 15), against a real S3 server
//! (SeaweedFS, started by each test on loopback): CSV and Parquet in and
//! out, the model and the sensor in S3, a 100 MB output in parts, a run
//! killed mid-upload, wrong credentials, a missing bucket.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::s3::{SECRET, SeaweedFs};
use common::{build, root};

const DAY: &str = "2026-11-24";

fn data(file: &str) -> PathBuf {
    root().join("tests/data").join(file)
}

/// A server with the model and the day's rows in `chime-in`, and the
/// buckets `buckets`.
fn server(buckets: &[&str]) -> SeaweedFs {
    let s3 = SeaweedFs::start(buckets);
    if buckets.contains(&"chime-in") {
        s3.put_file("chime-in", "models/logreg16.onnx", &data("logreg16.onnx"));
        s3.put_file(
            "chime-in",
            &format!("day/{DAY}/rows.csv"),
            &data("logreg16_sample.csv"),
        );
        s3.put(
            "chime-in",
            "queries/count.sql",
            b"SELECT count(*) AS scored FROM scores",
        );
    }
    s3
}

fn pipeline(dir: &Path, s3: &SeaweedFs, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(build("s3"));
    c.current_dir(dir)
        .args(args)
        .envs(s3.env())
        .envs(env.iter().copied());
    c
}

fn run(dir: &Path, s3: &SeaweedFs, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = pipeline(dir, s3, args, env)
        .output()
        .expect("run the pipeline");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// onnxruntime's (label, probability of 1) per id (tests/data/make_logreg.py).
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

/// The CSV `text`'s columns `id`, `label` and `probabilities_1`.
fn scores(text: &str) -> Vec<(i64, i64, f64)> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let at = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{name} in {header:?}"))
    };
    let (id, label, p1) = (at("id"), at("label"), at("probabilities_1"));
    let mut rows: Vec<(i64, i64, f64)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[id].parse().unwrap(),
                f[label].parse().unwrap(),
                f[p1].parse().unwrap(),
            )
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    rows
}

fn assert_scores(what: &str, got: &[(i64, i64, f64)]) {
    let want = expected();
    assert_eq!(got.len(), want.len(), "{what}: one row per input row");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((g.0, g.1), (w.0, w.1), "{what}");
        assert!(
            (g.2 - w.2).abs() < 1e-5,
            "{what}: {g:?} vs onnxruntime's {w:?}"
        );
    }
}

/// Everything the files under `dir` (logs, the state) hold, as text.
fn everything_written(dir: &Path) -> String {
    let mut all = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                all.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    all
}

#[test]
fn every_path_reads_and_writes_objects() {
    let s3 = server(&["chime-in", "chime-out"]);
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run(dir.path(), &s3, &["run", "--date", DAY], &[]);
    assert_eq!(code, 0, "{out}");

    let scored = s3
        .get("chime-out", &format!("{DAY}/scored.parquet"))
        .expect("scored.parquet");
    assert!(
        scored.starts_with(b"PAR1") && scored.ends_with(b"PAR1"),
        "a Parquet file"
    );
    // CSV out of a Parquet object read from S3: still onnxruntime's predictions.
    let rescored = s3
        .get("chime-out", &format!("{DAY}/rescored.csv"))
        .expect("rescored.csv");
    assert_scores("rescored.csv", &scores(&String::from_utf8_lossy(&rescored)));
    // sql's output: the table loaded from the Parquet object, exported.
    let export = s3
        .get("chime-out", &format!("{DAY}/export.csv"))
        .expect("export.csv");
    assert_scores("export.csv", &scores(&String::from_utf8_lossy(&export)));
    // sql's query read from an object.
    let (_, show) = run(
        dir.path(),
        &s3,
        &["show", &format!("manual__{DAY}T00:00:00+00:00")],
        &[],
    );
    assert!(show.contains("\"scored\":200"), "{show}");
    let big = String::from_utf8(s3.get("chime-out", &format!("{DAY}/big.csv")).unwrap()).unwrap();
    assert_eq!(
        big.lines().count(),
        11,
        "a header and params.rows rows:\n{big}"
    );

    // Only the outputs: nothing staged or left over beside them.
    let mut keys = s3.keys("chime-out", "");
    keys.sort();
    assert_eq!(
        keys,
        ["big.csv", "export.csv", "rescored.csv", "scored.parquet"].map(|f| format!("{DAY}/{f}"))
    );
    assert!(
        !everything_written(dir.path()).contains(SECRET),
        "the secret key reached a file"
    );
}

#[test]
fn the_sensor_waits_for_a_prefix_to_hold_an_object() {
    // The buckets exist, but nothing is in them yet.
    let s3 = SeaweedFs::start(&["chime-in", "chime-out"]);
    let dir = tempfile::tempdir().unwrap();
    let mut child = pipeline(dir.path(), &s3, &["run", "--date", DAY], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It checks every 100 ms and waits; the input then arrives.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(700) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sensor did not wait"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    s3.put_file("chime-in", "models/logreg16.onnx", &data("logreg16.onnx"));
    s3.put(
        "chime-in",
        "queries/count.sql",
        b"SELECT count(*) AS scored FROM scores",
    );
    // Last: the object the sensor waits for.
    s3.put_file(
        "chime-in",
        &format!("day/{DAY}/rows.csv"),
        &data("logreg16_sample.csv"),
    );
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let (_, show) = run(
        dir.path(),
        &s3,
        &["show", &format!("manual__{DAY}T00:00:00+00:00")],
        &[],
    );
    let pokes: u64 = show
        .split("\"pokes\":")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the sensor's output in\n{show}"));
    assert!(
        pokes >= 5,
        "{pokes} checks before the prefix held an object"
    );
    assert!(s3.get("chime-out", &format!("{DAY}/export.csv")).is_some());
}

/// Runs the pipeline with only `env` (no AWS_* from the test's server).
fn run_with_only(dir: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let mut c = Command::new(build("s3"));
    c.current_dir(dir).args(["run", "--date", DAY]).env_clear();
    for keep in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(keep) {
            c.env(keep, v);
        }
    }
    let out = c.envs(env.iter().copied()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn settings_come_from_storage_or_an_aws_profile() {
    let s3 = server(&["chime-in", "chime-out"]);
    let endpoint = s3.endpoint();

    // `storage:` in the pipeline, its values from LAKE_*: no AWS_* at all.
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run_with_only(
        dir.path(),
        &[
            ("LAKE_ENDPOINT", &endpoint),
            ("LAKE_KEY", common::s3::KEY),
            ("LAKE_SECRET", SECRET),
            // object_store would prefer this one to storage.endpoint.
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9"),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(!everything_written(dir.path()).contains(SECRET));

    // The shared credentials file, profile `lake`, and its config's
    // endpoint_url: as the AWS CLI reads them.
    let dir = tempfile::tempdir().unwrap();
    let aws = dir.path().join("aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        format!(
            "[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n\n[lake]\naws_access_key_id = {}\naws_secret_access_key = {SECRET}\n",
            common::s3::KEY
        ),
    )
    .unwrap();
    std::fs::write(
        aws.join("config"),
        format!("[profile lake]\nregion = us-east-1\nendpoint_url = {endpoint}\n"),
    )
    .unwrap();
    let credentials = aws.join("credentials").display().to_string();
    let config = aws.join("config").display().to_string();
    let (code, out) = run_with_only(
        dir.path(),
        &[
            ("AWS_PROFILE", "lake"),
            ("AWS_SHARED_CREDENTIALS_FILE", &credentials),
            ("AWS_CONFIG_FILE", &config),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(s3.get("chime-out", &format!("{DAY}/export.csv")).is_some());
}

#[test]
fn wrong_credentials_fail_clearly_without_the_secret() {
    let s3 = server(&["chime-in", "chime-out"]);
    let dir = tempfile::tempdir().unwrap();
    let wrong = "wrong-secret-5a4b3c2d1e";
    // The sensor stops at its first check: waiting cannot fix the keys.
    let (code, out) = run(
        dir.path(),
        &s3,
        &["run", "--date", DAY],
        &[("AWS_SECRET_ACCESS_KEY", wrong)],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("wait_for stopped at check 1"), "{out}");
    let logs = everything_written(dir.path());
    assert!(
        logs.contains("SignatureDoesNotMatch") && logs.contains("check the credentials"),
        "the sensor's log says why:\n{logs}"
    );
    assert!(
        !out.contains(wrong) && !logs.contains(wrong),
        "the secret key leaked"
    );
}

#[test]
fn a_missing_bucket_is_named() {
    // No `chime-out`: the first output fails, and says so.
    let s3 = server(&["chime-in"]);
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run(dir.path(), &s3, &["run", "--date", DAY], &[]);
    assert_eq!(code, 1, "{out}");
    let (_, show) = run(
        dir.path(),
        &s3,
        &["show", &format!("manual__{DAY}T00:00:00+00:00")],
        &[],
    );
    assert!(
        show.contains("NoSuchBucket") && show.contains("create the bucket"),
        "{show}"
    );
}

/// The process's peak resident memory (VmHWM), polled until it exits.
fn peak_rss_kib(child: &mut std::process::Child) -> u64 {
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            for l in status.lines().filter(|l| l.starts_with("VmHWM:")) {
                let kib: u64 = l
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                peak = peak.max(kib);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    peak
}

#[test]
fn a_100_mb_output_goes_up_in_parts_and_a_killed_upload_leaves_nothing() {
    let s3 = server(&["chime-in", "chime-out"]);
    let key = format!("{DAY}/big.csv");

    // Killed while its parts go up: no object.
    let dir = tempfile::tempdir().unwrap();
    let mut child = pipeline(
        dir.path(),
        &s3,
        &["run", "--date", DAY, "--param", "rows=1500000"],
        &[],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let start = Instant::now();
    while s3.uploads("chime-out").is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its upload started"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no multipart upload began"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        s3.get("chime-out", &key),
        None,
        "a killed upload left an object"
    );

    // Whole: 100 MB in parts, with bounded memory.
    let dir = tempfile::tempdir().unwrap();
    let mut child = pipeline(
        dir.path(),
        &s3,
        &["run", "--date", DAY, "--param", "rows=1500000"],
        &[],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let peak = peak_rss_kib(&mut child);
    assert!(child.wait().unwrap().success());
    let big = s3.get("chime-out", &key).expect("big.csv");
    assert!(big.len() > 100_000_000, "{} bytes", big.len());
    let text = String::from_utf8_lossy(&big);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1_500_001);
    assert_eq!(lines[1], format!("1,{:064}", 1));
    assert_eq!(lines[1_500_000], format!("1500000,{:064}", 1_500_000));
    eprintln!("peak RSS writing 100 MB to S3: {} MiB", peak / 1024);
    assert!(
        peak < 200 * 1024,
        "the output was held in memory: {peak} KiB"
    );
}

#[test]
fn the_image_example_classifies_images_from_object_storage() {
    let s3 = SeaweedFs::start(&["scans"]);
    let images = root().join("examples/image_classify/images");
    let truth: std::collections::HashMap<String, i64> =
        std::fs::read_to_string(images.join("labels.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let (f, d) = l.split_once(',').unwrap();
                (f.to_string(), d.parse().unwrap())
            })
            .collect();
    for day in ["2026-03-01", "2026-03-02"] {
        for f in std::fs::read_dir(images.join(day)).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            s3.put_file("scans", &format!("images/{day}/{name}"), &f.path());
        }
    }
    // Only the model beside the binary: the images are in S3.
    let dir = tempfile::tempdir().unwrap();
    common::succeeds(
        Command::new("cp")
            .arg("-r")
            .arg(root().join("examples/image_classify/model"))
            .arg(dir.path()),
    );
    let bin = common::build_example("image_classify");
    for day in ["2026-03-01", "2026-03-02"] {
        let out = Command::new(&bin)
            .current_dir(dir.path())
            .args(["run", "--date", day, "--param", "images=s3://scans/images"])
            .envs(s3.env())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let c = rusqlite::Connection::open(dir.path().join("out/labels.db")).unwrap();
    let rows: Vec<(String, String, i64)> = c
        .prepare("SELECT ds, file, label FROM image_labels ORDER BY ds, file")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 80, "40 images a day");
    let right = rows
        .iter()
        .filter(|(ds, f, label)| truth[&format!("{ds}/{f}")] == *label)
        .count();
    assert!(right >= 72, "{right} of 80 right (scikit-learn: 78)");
}

#[test]
fn an_endpoint_that_is_down_is_named() {
    let s3 = SeaweedFs::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| format!("http://127.0.0.1:{}", a.port()))
        .unwrap();
    let (code, out) = run(
        dir.path(),
        &s3,
        &["run", "--date", DAY, "--param", "wait=1s"],
        &[("AWS_ENDPOINT_URL", &dead)],
    );
    assert_eq!(code, 1, "{out}");
    let logs = everything_written(dir.path());
    assert!(
        logs.contains("Connection refused") && logs.contains("is the endpoint right"),
        "{logs}"
    );
    // The timeout says what the checks ran into.
    assert!(out.contains("the last check failed"), "{out}");
}
