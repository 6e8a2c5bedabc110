//! Prometheus metrics end to end: `promtool check metrics` reads the
//! page's `/metrics` and `run --metrics-file`, and a real Prometheus
//! (Debian's package, started here with a 1 s scrape interval) scrapes the
//! page; what its query API returns matches `runs` and `show`.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::page::Page;
use common::*;

/// GET `url` with curl: the body.
fn curl(url: &str) -> String {
    let out = succeeds(Command::new("curl").args(["-sS", "--max-time", "10", url]));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn promtool(text: &str, what: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics refused {what}: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Prometheus scraping `target` (HOST:PORT) every second; its API's URL.
fn prometheus(dir: &Path, target: &str) -> (Prometheus, String) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: chime\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus (Debian's prometheus package)");
    (Prometheus(child), format!("http://127.0.0.1:{port}"))
}

/// The samples of `query`: each series' labels and value, once the
/// scrape has brought at least one series (within 60 s).
fn query(api: &str, query: &str) -> Vec<(serde_json::Value, f64)> {
    let start = Instant::now();
    loop {
        let body = Command::new("curl")
            .args(["-sS", "--max-time", "5", "--get"])
            .arg(format!("{api}/api/v1/query"))
            .arg("--data-urlencode")
            .arg(format!("query={query}"))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let series = parsed["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !series.is_empty() {
            return series
                .iter()
                .map(|s| {
                    let value = s["value"][1].as_str().unwrap_or("NaN").parse().unwrap();
                    (s["metric"].clone(), value)
                })
                .collect();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "Prometheus has no `{query}` after 60 s: {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn one(api: &str, q: &str) -> f64 {
    let series = query(api, q);
    assert_eq!(series.len(), 1, "{q}: {series:?}");
    series[0].1
}

#[test]
fn prometheus_scrapes_what_runs_and_show_say() {
    let bin = build("status");
    let dir = tempfile::tempdir().unwrap();
    // A failed run, then (fixed) a run that succeeds.
    let failed = run(&bin, dir.path(), &["run", "--date", "2026-11-20"]);
    assert_eq!(failed.code, 1, "{}", failed.stdout);
    std::fs::write(dir.path().join("fixed.flag"), "").unwrap();
    let prom_file = dir.path().join("status.prom");
    let ok = run(
        &bin,
        dir.path(),
        &[
            "run",
            "--date",
            "2026-11-21",
            "--metrics-file",
            prom_file.to_str().unwrap(),
        ],
    );
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    // The textfile of the one-shot run.
    let textfile = std::fs::read_to_string(&prom_file).unwrap();
    promtool(&textfile, "the --metrics-file textfile");
    assert!(
        textfile.contains("chime_runs{pipeline=\"status\",state=\"success\"} 1"),
        "{textfile}"
    );
    let runs_out = run(&bin, dir.path(), &["runs"]).stdout;
    let page = Page::start(&bin, dir.path(), "127.0.0.1:0", &[]);
    promtool(&curl(&format!("{}/metrics", page.url)), "/metrics");
    let target = page.url.trim_start_matches("http://").to_string();
    let (_prom, api) = prometheus(dir.path(), &target);
    assert_eq!(one(&api, "up{job=\"chime\"}"), 1.0);
    // Runs by state, as `runs` lists them.
    for state in ["failed", "success"] {
        let listed = runs_out
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(state))
            .count() as f64;
        assert_eq!(
            one(&api, &format!("chime_runs{{state=\"{state}\"}}")),
            listed,
            "{runs_out}"
        );
    }
    // Attempts by task and outcome, as `show` counts them: `load` failed
    // once (no retries) and succeeded once; `extract` succeeded twice.
    let show = |date: &str| {
        run(
            &bin,
            dir.path(),
            &["show", &format!("manual__{date}T03:00:00+00:00")],
        )
        .stdout
    };
    assert_eq!(state_of(&show("2026-11-20"), "load"), "failed");
    assert_eq!(state_of(&show("2026-11-21"), "load"), "success");
    let attempts = |task: &str, outcome: &str| {
        one(
            &api,
            &format!("chime_task_attempts_total{{task=\"{task}\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(attempts("load", "failed"), 1.0);
    assert_eq!(attempts("load", "success"), 1.0);
    assert_eq!(attempts("extract", "success"), 2.0);
    assert_eq!(
        one(
            &api,
            "chime_task_duration_seconds_count{task=\"extract\",outcome=\"success\"}"
        ),
        2.0
    );
    // extract's output says 3 rows, in each of the two runs.
    assert_eq!(one(&api, "chime_rows_written_total{task=\"extract\"}"), 6.0);
    // The freshness alert's input: when the successful run ended.
    let ended = runs_out
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("success"))
        .and_then(|l| l.split_whitespace().nth(3))
        .unwrap()
        .to_string();
    let ended = chrono_like_seconds(&ended);
    let last = one(&api, "chime_last_success_timestamp_seconds");
    assert!((last - ended).abs() < 0.001, "{last} vs {ended}");
    assert_eq!(one(&api, "chime_scheduler_up"), 0.0);
    // Freshness: the end of the latest successful run's interval.
    assert_eq!(
        one(&api, "chime_last_success_interval_end_seconds"),
        chrono_like_seconds("2026-11-22T03:00:00Z")
    );
}

/// Unix seconds of `2026-12-01T04:08:56.605Z` (the form `runs` prints).
fn chrono_like_seconds(t: &str) -> f64 {
    let out = succeeds(Command::new("date").args(["-u", "-d", t, "+%s.%N"]));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
