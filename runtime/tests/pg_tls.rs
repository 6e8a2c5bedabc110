//! TLS to PostgreSQL (issue 15) against a real server started with
//! `ssl=on` and a certificate authority made by the test: each sslmode,
//! a wrong CA, a wrong host name, a TLS-only server, a client certificate,
//! and the PostgreSQL state over TLS.

use std::collections::BTreeMap;

use chime::conn::{Conn, ConnError, Pool, Secrets};

#[path = "../../compiler/tests/common/pg.rs"]
#[allow(dead_code)]
mod pg;

/// Connects with `url` and says whether the session is encrypted.
fn connect(url: &str) -> Result<bool, String> {
    let pool = Pool::new(
        BTreeMap::from([("db".into(), url.into())]),
        Secrets::default(),
    );
    // The client closes on its own runtime: not on the test's thread's.
    let url = url.to_string();
    std::thread::spawn(move || {
        let result = match pool.get("db") {
            Ok(mut lease) => match &mut *lease {
                Conn::Postgres(client) => client
                    .query_one(
                        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                        &[],
                    )
                    .map(|row| row.get::<_, bool>(0))
                    .map_err(|e| chime::conn::pg_error(&e)),
                Conn::Sqlite(_) => Err(format!("{url} opened SQLite")),
            },
            Err(e) => Err(e.to_string()),
        };
        drop(pool);
        result
    })
    .join()
    .expect("the connecting thread")
}

fn refused(url: &str) -> String {
    match connect(url) {
        Ok(tls) => panic!("{url} connected (tls: {tls}), but should have been refused"),
        Err(e) => {
            // Shown with --no-capture: how each refusal reads.
            eprintln!("{url}\n  -> {e}");
            e
        }
    }
}

fn q(path: &std::path::Path) -> String {
    path.display().to_string().replace('/', "%2F")
}

#[test]
fn each_sslmode_does_what_libpq_does() {
    let (pg, tls) = pg::Postgres::start_tls();
    let port = pg.port;
    let at =
        |host: &str, query: &str| format!("postgres://chime:pw@{host}:{port}/postgres?{query}");

    // Encrypted without checking the certificate.
    assert_eq!(connect(&at("127.0.0.1", "sslmode=require")), Ok(true));
    assert_eq!(
        connect(&at("127.0.0.1", "")),
        Ok(true),
        "prefer is the default"
    );

    // verify-full with the CA that signed the server's certificate.
    let ca = q(&tls.ca);
    assert_eq!(
        connect(&at(
            "127.0.0.1",
            &format!("sslmode=verify-full&sslrootcert={ca}")
        )),
        Ok(true)
    );

    // The wrong CA: refused, saying why, the password hidden.
    let other = q(&tls.other_ca);
    for mode in ["verify-full", "verify-ca", "require"] {
        let e = refused(&at(
            "127.0.0.1",
            &format!("sslmode={mode}&sslrootcert={other}"),
        ));
        assert!(
            e.contains("not signed by a CA chime trusts") && e.contains("sslrootcert"),
            "{mode}: {e}"
        );
        assert!(!e.contains("pw"), "the password leaked: {e}");
    }

    // The certificate is for db.chime.test and 127.0.0.1, not localhost:
    // verify-full refuses that name, verify-ca does not check it.
    let e = refused(&at(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ));
    assert!(e.contains("not made out to the host"), "{e}");
    assert!(e.contains("localhost"), "the name it was given: {e}");
    assert_eq!(
        connect(&at(
            "localhost",
            &format!("sslmode=verify-ca&sslrootcert={ca}")
        )),
        Ok(true)
    );

    // The server takes TCP connections over TLS only.
    let e = refused(&at("127.0.0.1", "sslmode=disable"));
    assert!(e.contains("accepts only TLS"), "{e}");

    // A missing root certificate file is named.
    let e = refused(&at(
        "127.0.0.1",
        "sslmode=verify-full&sslrootcert=%2Fno%2Fca.pem",
    ));
    assert!(e.contains("/no/ca.pem"), "{e}");
}

#[test]
fn the_keyword_form_and_a_client_certificate_work() {
    let (pg, tls) = pg::Postgres::start_tls();
    let base = format!(
        "host=127.0.0.1 port={} dbname=postgres sslmode=verify-full sslrootcert='{}'",
        pg.port,
        tls.ca.display()
    );
    assert_eq!(connect(&format!("{base} user=chime")), Ok(true));

    // certuser must show a certificate made out to it.
    let e = refused(&format!("{base} user=certuser"));
    assert!(e.contains("certificate"), "{e}");
    let with_cert = format!(
        "{base} user=certuser sslcert='{}' sslkey='{}'",
        tls.client_cert.display(),
        tls.client_key.display()
    );
    assert_eq!(connect(&with_cert), Ok(true));

    // Half a client certificate is a mistake said before connecting.
    let e = refused(&format!(
        "{base} user=certuser sslcert='{}'",
        tls.client_cert.display()
    ));
    assert!(e.contains("`sslcert` needs `sslkey`"), "{e}");
}

#[test]
fn a_server_without_tls_refuses_require_and_serves_prefer() {
    let pg = pg::Postgres::start();
    let url = format!("postgres://chime@127.0.0.1:{}/postgres", pg.port);
    assert_eq!(connect(&url), Ok(false), "prefer falls back to plain");
    let e = refused(&format!("{url}?sslmode=require"));
    assert!(e.contains("does not speak TLS"), "{e}");
}

#[test]
fn the_state_store_connects_over_tls() {
    use chime::store::Store;
    let (pg, tls) = pg::Postgres::start_tls();
    let url = format!(
        "postgres://chime:state-pw@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={}",
        pg.port,
        q(&tls.ca)
    );
    let store = chime::store::postgres::PgStore::open(&url, "tls").expect("open the state");
    assert!(store.runs(10).expect("list runs").is_empty());

    let wrong = url.replace(&q(&tls.ca), &q(&tls.other_ca));
    let e = chime::store::postgres::PgStore::open(&wrong, "tls")
        .map(|_| ())
        .expect_err("the wrong CA")
        .to_string();
    assert!(e.contains("not signed by a CA chime trusts"), "{e}");
    assert!(!e.contains("state-pw"), "the password leaked: {e}");
}

#[test]
fn an_unknown_sslmode_is_named() {
    let e: ConnError = Pool::new(
        BTreeMap::from([("db".into(), "postgres://u:pw@h/db?sslmode=verify".into())]),
        Secrets::default(),
    )
    .get("db")
    .map(|_| ())
    .expect_err("a bad sslmode");
    let e = e.to_string();
    assert!(e.contains("`sslmode=verify` is not a mode"), "{e}");
    assert!(!e.contains("pw@"), "{e}");
}
