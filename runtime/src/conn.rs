//! Connections: `connections:` in the pipeline, rendered once per run,
//! opened on first use and shared by the run's tasks.
//!
//! A connection value is a URL: `sqlite://path/to.db` (relative to the
//! working directory; `sqlite::memory:` for a private in-memory database)
//! or `postgres://user:password@host:port/db` (`postgresql://` too, and
//! libpq's `key=value` form). The [`Pool`] keeps the connections a run has
//! opened and hands an idle one to the next task that asks, so a chain of
//! tasks on one database opens it once; tasks that use one connection at
//! the same moment get one each.

use std::collections::HashMap;
use std::sync::Mutex;

pub use crate::secrets::{Secrets, password_of, redact_url};

/// A connection URL chime cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("`sqlite://` needs a path, as in sqlite://data/app.db")]
    NoPath,
    /// The URL, its password hidden.
    #[error(
        "`{0}` is not a connection URL chime knows: use sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB"
    )]
    Unknown(String),
}

/// Why a connection could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("no connection `{0}`: the pipeline has no `connections:`")]
    NoConnections(String),
    #[error(
        "no connection `{name}` (the pipeline's connections: {known}); if it is listed, its template did not render: see the run's first lines"
    )]
    Unknown { name: String, known: String },
    /// An error of the connection `name`.
    #[error("connection `{name}`: {source}")]
    Named {
        name: String,
        source: Box<ConnError>,
    },
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("cannot create {}: {source}", .dir.display())]
    CreateDir {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the SQLite database {path}: {source}")]
    OpenSqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// `url` with its password hidden.
    #[error("cannot use the PostgreSQL URL {url}: {}", tls_error(.source))]
    PostgresUrl {
        url: String,
        source: crate::pg_tls::TlsError,
    },
    #[error("cannot connect to PostgreSQL at {url}: {}", pg_error(.source))]
    PostgresConnect {
        url: String,
        source: postgres::Error,
    },
}

impl ConnError {
    fn named(name: &str, e: impl Into<ConnError>) -> ConnError {
        ConnError::Named {
            name: name.to_string(),
            source: Box::new(e.into()),
        }
    }
}

/// What a connection URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Sqlite(String),
    Postgres(String),
}

impl Target {
    /// Reads a connection URL.
    pub fn parse(url: &str) -> Result<Target, UrlError> {
        let url = url.trim();
        if url == "sqlite::memory:" || url == "sqlite://:memory:" {
            return Ok(Target::Sqlite(":memory:".into()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(UrlError::NoPath);
            }
            return Ok(Target::Sqlite(path.to_string()));
        }
        if crate::pg_options::is_postgres(url) {
            return Ok(Target::Postgres(url.to_string()));
        }
        Err(UrlError::Unknown(redact_url(url)))
    }
}

/// An open connection.
pub enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Sqlite(_) => "Conn::Sqlite",
            Conn::Postgres(_) => "Conn::Postgres",
        })
    }
}

/// How long a connection attempt to PostgreSQL may take.
const CONNECT_TIMEOUT_S: u64 = 10;

impl Conn {
    fn open(target: &Target) -> Result<Conn, ConnError> {
        match target {
            Target::Sqlite(path) => {
                // A database in a folder that does not exist yet: make it,
                // as writing a file there would.
                if let Some(dir) = std::path::Path::new(path)
                    .parent()
                    .filter(|d| path != ":memory:" && !d.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(dir).map_err(|source| ConnError::CreateDir {
                        dir: dir.to_path_buf(),
                        source,
                    })?;
                }
                let c =
                    rusqlite::Connection::open(path).map_err(|source| ConnError::OpenSqlite {
                        path: path.clone(),
                        source,
                    })?;
                // Readers and a writer at once (a query streamed into a table
                // of the same database) need WAL; wait for locks, do not fail.
                c.busy_timeout(std::time::Duration::from_secs(30))?;
                if path != ":memory:" {
                    let _: Option<String> = c
                        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
                        .ok();
                }
                Ok(Conn::Sqlite(c))
            }
            Target::Postgres(url) => {
                let (mut config, tls) =
                    crate::pg_tls::config(url).map_err(|source| ConnError::PostgresUrl {
                        url: redact_url(url),
                        source,
                    })?;
                if config.get_connect_timeout().is_none() {
                    config.connect_timeout(std::time::Duration::from_secs(CONNECT_TIMEOUT_S));
                }
                let client = crate::pg_tls::connect(&config, tls).map_err(|source| {
                    ConnError::PostgresConnect {
                        url: redact_url(url),
                        source,
                    }
                })?;
                Ok(Conn::Postgres(Box::new(client)))
            }
        }
    }
}

/// A PostgreSQL error with its server message and detail, or the cause of
/// a connection failure (the `postgres` crate's Display says only "error
/// connecting to server").
pub fn pg_error(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut m = db.message().to_string();
        if let Some(d) = db.detail() {
            m.push_str(&format!(" ({d})"));
        }
        if let Some(hint) = crate::pg_tls::hint(&m) {
            m.push_str(&format!(" ({hint})"));
        }
        return m;
    }
    crate::pg_tls::error_chain(e)
}

/// A connection string's TLS error, with the `postgres` crate's parse
/// errors spelled out as [`pg_error`] does.
fn tls_error(e: &crate::pg_tls::TlsError) -> String {
    match e {
        crate::pg_tls::TlsError::Parse(p) => pg_error(p),
        other => other.to_string(),
    }
}

/// The run's connections: their rendered URLs and the ones open now.
#[derive(Debug, Default)]
pub struct Pool {
    urls: std::collections::BTreeMap<String, String>,
    idle: Mutex<HashMap<String, Vec<Conn>>>,
    pub secrets: Secrets,
    /// Object storage, for paths that are s3:// URLs.
    #[cfg(feature = "s3")]
    storage: std::sync::Arc<crate::storage::Storage>,
}

/// A connection lent by the [`Pool`]; it goes back when dropped.
#[derive(Debug)]
pub struct Lease<'a> {
    pool: &'a Pool,
    name: String,
    conn: Option<Conn>,
}

impl std::ops::Deref for Lease<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let (Some(conn), Ok(mut idle)) = (self.conn.take(), self.pool.idle.lock()) {
            // A PostgreSQL connection that broke is not worth keeping.
            if let Conn::Postgres(c) = &conn
                && c.is_closed()
            {
                return;
            }
            idle.entry(self.name.clone()).or_default().push(conn);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // The PostgreSQL client closes by blocking on its own runtime, which
        // it cannot do on a thread of the executor's: close on a plain one.
        let conns: Vec<Conn> = match self.idle.get_mut() {
            Ok(idle) => idle.drain().flat_map(|(_, v)| v).collect(),
            Err(_) => return,
        };
        if conns.iter().any(|c| matches!(c, Conn::Postgres(_))) {
            let _ = std::thread::spawn(move || drop(conns)).join();
        }
    }
}

impl Pool {
    pub fn new(urls: std::collections::BTreeMap<String, String>, secrets: Secrets) -> Pool {
        Pool {
            urls,
            idle: Mutex::default(),
            secrets,
            #[cfg(feature = "s3")]
            storage: Default::default(),
        }
    }

    /// The pool with the run's object storage.
    #[cfg(feature = "s3")]
    pub fn with_storage(mut self, storage: std::sync::Arc<crate::storage::Storage>) -> Pool {
        self.storage = storage;
        self
    }

    #[cfg(feature = "s3")]
    pub fn storage(&self) -> &crate::storage::Storage {
        &self.storage
    }

    #[cfg(feature = "s3")]
    pub fn storage_arc(&self) -> std::sync::Arc<crate::storage::Storage> {
        self.storage.clone()
    }

    /// The names of the pipeline's connections.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.urls.keys().map(String::as_str)
    }

    /// What connection `name` points at.
    pub fn target(&self, name: &str) -> Result<Target, ConnError> {
        let url = self.urls.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.names().collect();
            if known.is_empty() {
                ConnError::NoConnections(name.to_string())
            } else {
                ConnError::Unknown {
                    name: name.to_string(),
                    known: known.join(", "),
                }
            }
        })?;
        Target::parse(url).map_err(|e| ConnError::named(name, e))
    }

    /// A connection to `name`: an idle one of this run, or a new one.
    pub fn get(&self, name: &str) -> Result<Lease<'_>, ConnError> {
        let reused = self
            .idle
            .lock()
            .ok()
            .and_then(|mut idle| idle.get_mut(name).and_then(Vec::pop));
        let conn = match reused {
            Some(c) => c,
            None => {
                let target = self.target(name)?;
                Conn::open(&target).map_err(|e| ConnError::named(name, e))?
            }
        };
        Ok(Lease {
            pool: self,
            name: name.to_string(),
            conn: Some(conn),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_and_passwords_hidden() {
        assert_eq!(
            Target::parse("sqlite://data/x.db"),
            Ok(Target::Sqlite("data/x.db".into()))
        );
        assert!(matches!(
            Target::parse("postgres://u:pw@localhost:5432/db"),
            Ok(Target::Postgres(_))
        ));
        let err = Target::parse("mysql://u:hunter22@h/db")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter22"), "{err}");
        assert_eq!(
            redact_url("postgres://u:hunter22@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact_url("host=h user=u password=hunter22"),
            "host=h user=u password=***"
        );
        assert_eq!(
            password_of("postgres://u:hunter22@h/db").as_deref(),
            Some("hunter22")
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let s = Secrets::new(vec!["hunter22".into(), "ab".into()]);
        assert_eq!(s.redact("pw hunter22 ab"), "pw *** ***");
    }

    #[test]
    fn a_chain_of_uses_opens_one_connection() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/x.db", dir.path().display());
        let pool = Pool::new([("db".to_string(), url)].into(), Secrets::default());
        {
            let mut c = pool.get("db").unwrap();
            let Conn::Sqlite(c) = &mut *c else { panic!() };
            c.execute_batch("CREATE TEMP TABLE t(x)").unwrap();
        }
        // The same connection comes back: its TEMP table is still there.
        let mut c = pool.get("db").unwrap();
        let Conn::Sqlite(c) = &mut *c else { panic!() };
        c.execute_batch("INSERT INTO t VALUES (1)").unwrap();
        assert!(
            pool.get("nope")
                .unwrap_err()
                .to_string()
                .contains("no connection `nope`")
        );
    }
}
