//! The page over a real socket, with requests written by hand.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use super::*;

fn get(addr: SocketAddr, path: &str, headers: &str) -> String {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n"),
    )
}

fn request(addr: SocketAddr, raw: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

static EMPTY: crate::compiled::PipelineDef = EMPTY_DEF;

const EMPTY_DEF: crate::compiled::PipelineDef = crate::compiled::PipelineDef {
    name: "page",
    ..crate::compiled::PipelineDef::BLANK
};

/// A page over an empty state on a free loopback port (or `addr`), served
/// on a thread of its own.
fn serve(addr: &str, token: Option<&str>) -> (SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let runs = Runs::new(
        &EMPTY,
        crate::runs::StateLocation::File(dir.path().join("page.state.db")),
    );
    let bound = bind_with(runs, addr, token.map(String::from), false).unwrap();
    let mut at = bound.addr();
    if at.ip().is_unspecified() {
        at.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    bound.spawn().unwrap();
    (at, dir)
}

fn status(response: &str) -> &str {
    response.split(' ').nth(1).unwrap_or("")
}

#[test]
fn loopback_serves_without_a_token_and_only_to_loopback_names() {
    let (addr, _dir) = serve("127.0.0.1:0", None);
    let page = get(addr, "/", "");
    assert_eq!(status(&page), "200", "{page}");
    assert!(page.contains("No runs yet"), "{page}");
    assert!(
        page.contains("content-security-policy: default-src 'none'"),
        "{page}"
    );
    let metrics = get(addr, "/metrics", "");
    assert!(
        metrics.contains("chime_scheduler_up{pipeline=\"page\"} 0"),
        "{metrics}"
    );
    // A DNS rebinding page reaches the port under another name.
    let rebound = request(
        addr,
        &format!(
            "GET / HTTP/1.1\r\nHost: evil.example:{}\r\nConnection: close\r\n\r\n",
            addr.port()
        ),
    );
    assert_eq!(status(&rebound), "421", "{rebound}");
    let localhost = request(
        addr,
        &format!(
            "GET / HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
            addr.port()
        ),
    );
    assert_eq!(status(&localhost), "200");
}

static PROXIED: crate::compiled::PipelineDef = crate::compiled::PipelineDef {
    ui_url: Some("https://Chime.example.com/"),
    ..EMPTY_DEF
};

/// Behind a reverse proxy that passes the public Host on, a loopback page
/// answers its `ui: {url}` name and takes forms from that origin; still
/// no other name, no other origin.
#[test]
fn behind_a_proxy_the_public_address_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let runs = Runs::new(
        &PROXIED,
        crate::runs::StateLocation::File(dir.path().join("p.state.db")),
    );
    let bound = bind_with(runs, "127.0.0.1:0", None, false).unwrap();
    let addr = bound.addr();
    bound.spawn().unwrap();
    let host = |h: &str| {
        request(
            addr,
            &format!("GET / HTTP/1.1\r\nHost: {h}\r\nConnection: close\r\n\r\n"),
        )
    };
    assert_eq!(status(&host("chime.example.com")), "200");
    assert_eq!(status(&host("evil.example.com")), "421");
    let post = |origin: &str| {
        request(
            addr,
            &format!(
                "POST /trigger HTTP/1.1\r\nHost: chime.example.com\r\nOrigin: {origin}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4\r\nConnection: close\r\n\r\nx=1\n"
            ),
        )
    };
    // Past the origin check, the form's CSRF token is still missing.
    assert!(post("https://chime.example.com").contains("CSRF"));
    assert!(post("https://evil.example.com").contains("another site"));
}

#[test]
fn another_address_needs_a_token_of_16_characters() {
    let dir = tempfile::tempdir().unwrap();
    let runs = || {
        Runs::new(
            &EMPTY,
            crate::runs::StateLocation::File(dir.path().join("s.db")),
        )
    };
    let e = bind_with(runs(), "0.0.0.0:0", None, false).err().unwrap();
    assert!(e.to_string().contains("set CHIME_UI_TOKEN"), "{e}");
    let e = bind_with(runs(), "127.0.0.1:0", Some("short".into()), false)
        .err()
        .unwrap();
    assert!(e.to_string().contains("at least 16"), "{e}");
    let e = bind_with(runs(), "nowhere", None, false).err().unwrap();
    assert!(e.to_string().contains("`nowhere`"), "{e}");
}

#[test]
fn with_a_token_every_request_must_carry_it() {
    let token = "0123456789abcdef0123";
    let (addr, _dir) = serve("0.0.0.0:0", Some(token));
    let refused = get(addr, "/", "");
    assert_eq!(status(&refused), "401", "{refused}");
    assert!(refused.contains("Token needed"));
    assert!(refused.contains("content-security-policy: default-src 'none'"));
    assert!(!refused.contains(token));
    let metrics = get(addr, "/metrics", "");
    assert_eq!(status(&metrics), "401");
    let wrong = get(
        addr,
        "/metrics",
        "Authorization: Bearer 0123456789abcdef0124\r\n",
    );
    assert_eq!(status(&wrong), "401");
    let bearer = get(
        addr,
        "/metrics",
        &format!("Authorization: Bearer {token}\r\n"),
    );
    assert_eq!(status(&bearer), "200", "{bearer}");
    let cookie = get(addr, "/", &format!("Cookie: a=b; chime_ui={token}\r\n"));
    assert_eq!(status(&cookie), "200", "{cookie}");
    // The login form sets that cookie.
    let body = format!("token={token}");
    let login = request(
        addr,
        &format!(
            "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(status(&login), "303", "{login}");
    assert!(
        login.contains(&format!(
            "set-cookie: chime_ui={token}; HttpOnly; SameSite=Strict"
        )),
        "{login}"
    );
}

#[test]
fn actions_need_the_csrf_token_and_this_site() {
    let (addr, _dir) = serve("127.0.0.1:0", None);
    let post = |body: &str, headers: &str| {
        request(
            addr,
            &format!(
                "POST /trigger HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    let no_csrf = post("date=2026-01-01", "");
    assert_eq!(status(&no_csrf), "403", "{no_csrf}");
    assert!(no_csrf.contains("CSRF"));
    let form = get(addr, "/trigger", "");
    let csrf = form
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    assert_eq!(csrf.len(), 32);
    let cross = post(&format!("csrf={csrf}"), "Origin: http://evil.example\r\n");
    assert_eq!(status(&cross), "403", "{cross}");
    assert!(cross.contains("another site"));
    let fetch = post(&format!("csrf={csrf}"), "Sec-Fetch-Site: cross-site\r\n");
    assert_eq!(status(&fetch), "403");
    let sandboxed = post(&format!("csrf={csrf}"), "Origin: null\r\n");
    assert_eq!(status(&sandboxed), "403");
    // The page's own form: the browser names this origin (which it does
    // only under a referrer policy other than no-referrer).
    assert!(form.contains("referrer-policy: same-origin"), "{form}");
}

#[test]
fn secrets_compare_whole() {
    assert!(same_secret("abc", "abc"));
    assert!(!same_secret("abd", "abc"));
    assert!(!same_secret("ab", "abc"));
    assert!(!same_secret("abcd", "abc"));
}

/// A log path from the state names a file outside `logs/`: the page shows
/// the state's tail, never that file (the state is not trusted).
#[test]
fn a_log_path_outside_the_logs_folder_is_not_read() {
    use crate::store::{Change, RunRecord};
    let (addr, dir) = serve("127.0.0.1:0", None);
    let secret = dir.path().join("secret.log");
    std::fs::write(&secret, "the contents of another file\n").unwrap();
    let inside = dir.path().join("logs/r/t/2.log");
    std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
    std::fs::write(&inside, "a log of this state\n").unwrap();
    let runs = Runs::new(
        &EMPTY,
        crate::runs::StateLocation::File(dir.path().join("page.state.db")),
    );
    let mut store = runs.open().unwrap();
    store
        .create_run(&RunRecord {
            run_id: "r".into(),
            logical_date: "2026-11-24T00:00:00+00:00".into(),
            interval_start: "2026-11-24T00:00:00+00:00".into(),
            interval_end: "2026-11-25T00:00:00+00:00".into(),
            kind: crate::vocabulary::RunKind::Manual,
            state: crate::state::RunState::Running,
            params: "{}".into(),
            started_at: None,
            ended_at: None,
        })
        .unwrap();
    let started = |attempt: u32, path: &std::path::Path| Change::AttemptStarted {
        run_id: "r".into(),
        task_id: "t".into(),
        attempt,
        at: "2026-11-24T00:00:01.000Z".into(),
        log_path: path.display().to_string(),
    };
    store
        .apply(&[started(1, &secret), started(2, &inside)])
        .unwrap();
    for path in [
        "/runs/r/tasks/t/attempts/1",
        "/runs/r/tasks/t/attempts/1/raw",
    ] {
        let page = get(addr, path, "");
        assert_eq!(status(&page), "200", "{page}");
        assert!(!page.contains("the contents of another file"), "{page}");
    }
    let page = get(addr, "/runs/r/tasks/t/attempts/2", "");
    assert!(page.contains("a log of this state"), "{page}");
}

/// Issue 17: instances a dynamic `for_each` made at run time are shown
/// right under their task, in the order they were made; tasks only an
/// older build had come last.
#[test]
fn instances_made_at_run_time_are_rows_under_their_task() {
    use crate::compiled::{ExpandDef, PipelineDef, TaskDef};
    static TASKS: [TaskDef; 3] = [
        TaskDef::test("list", "shell", "{}", &[]),
        TaskDef {
            expand: Some(ExpandDef {
                over: "tasks.list.output",
                key: None,
                max_instances: 9,
            }),
            ..TaskDef::test("each", "noop", "{}", &[0])
        },
        TaskDef::test("report", "noop", "{}", &[1]),
    ];
    static DEF: PipelineDef = PipelineDef {
        tasks: &TASKS,
        ..PipelineDef::BLANK
    };
    let recorded = ["list", "old_task", "each", "each[1]", "each[0]", "report"];
    let rows = DEF.rows(recorded.into_iter());
    assert_eq!(
        rows,
        [
            ("list", false),
            ("each", false),
            ("each[1]", false),
            ("each[0]", false),
            ("report", false),
            ("old_task", true)
        ]
    );
}
