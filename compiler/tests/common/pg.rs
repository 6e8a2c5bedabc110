//! A throwaway PostgreSQL server for a test: `initdb` into a temporary
//! directory, `pg_ctl start` on a free loopback port, stopped (and its
//! files removed) when dropped. Not a mock: the `sql` and `predict` tests
//! talk to a real server.
//!
//! The server binaries are found on PATH or under
//! /usr/lib/postgresql/*/bin. PostgreSQL refuses to run as root, so as root
//! the server runs as the `postgres` user (`runuser`).

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug)]
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

fn find_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut candidates = on_path;
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev());
    }
    candidates
        .into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        .expect(
            "PostgreSQL's server binaries (initdb, pg_ctl) are needed for this test: \
             apt-get install postgresql",
        )
}

/// Whether this process runs as root (the owner of a file it creates).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    tempfile::tempfile()
        .and_then(|f| f.metadata())
        .is_ok_and(|m| m.uid() == 0)
}

/// The files of a TLS server: a certificate authority made for the test,
/// the server's certificate (for `db.chime.test` and 127.0.0.1, not
/// `localhost`), a client certificate for the role `certuser`, and a
/// second CA that signed none of them.
#[derive(Debug)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub other_ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    _dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA `name` (name.crt, name.key) and a certificate `leaf` it signs for
/// `subject` with the subjectAltNames `san` (none for a client).
pub fn make_ca(dir: &Path, name: &str) {
    let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &crt,
            "-days",
            "2",
            "-subj",
            &format!("/CN=chime test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

pub fn make_leaf(dir: &Path, ca: &str, leaf: &str, subject: &str, san: Option<&str>) {
    let (key, csr, crt) = (
        format!("{leaf}.key"),
        format!("{leaf}.csr"),
        format!("{leaf}.crt"),
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            subject,
        ],
    );
    let ext = format!("{leaf}.ext");
    let mut text = String::from("basicConstraints=CA:FALSE\n");
    match san {
        Some(san) => text.push_str(&format!(
            "subjectAltName={san}\nextendedKeyUsage=serverAuth\n"
        )),
        None => text.push_str("extendedKeyUsage=clientAuth\n"),
    }
    std::fs::write(dir.join(&ext), text).expect("write the extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
}

impl Postgres {
    /// Starts a server; `url(db)` connects to it.
    pub fn start() -> Postgres {
        Postgres::start_with(|_| Vec::new())
    }

    /// Starts a server with `ssl=on` that takes TCP connections over TLS
    /// only (`hostssl` in pg_hba.conf): trusted, but for the role
    /// `certuser`, which must show a client certificate.
    pub fn start_tls() -> (Postgres, TlsFiles) {
        let dir = tempfile::Builder::new()
            .prefix("chime-pg-certs-")
            .tempdir()
            .expect("temp dir");
        let certs = dir.path().to_path_buf();
        make_ca(&certs, "ca");
        make_ca(&certs, "other");
        make_leaf(
            &certs,
            "ca",
            "server",
            "/CN=db.chime.test",
            Some("DNS:db.chime.test,IP:127.0.0.1"),
        );
        make_leaf(&certs, "ca", "client", "/CN=certuser", None);
        let files = TlsFiles {
            ca: certs.join("ca.crt"),
            other_ca: certs.join("other.crt"),
            client_cert: certs.join("client.crt"),
            client_key: certs.join("client.key"),
            _dir: dir,
        };
        let pg = Postgres::start_with(|data| {
            // The server reads its key as its own user, and refuses a key
            // others can read.
            for f in ["server.crt", "server.key", "ca.crt"] {
                std::fs::copy(certs.join(f), data.join(f)).expect("copy a certificate");
            }
            let hba = "local all all trust\n\
                       hostssl all certuser 127.0.0.1/32 cert\n\
                       hostssl all all 127.0.0.1/32 trust\n";
            std::fs::write(data.join("pg_hba.conf"), hba).expect("write pg_hba.conf");
            if is_root() {
                let status = Command::new("chown")
                    .args(["-R", "postgres"])
                    .arg(data)
                    .status()
                    .expect("chown");
                assert!(status.success());
            }
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                data.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .expect("chmod the key");
            vec![
                "-c ssl=on".into(),
                "-c ssl_cert_file=server.crt".into(),
                "-c ssl_key_file=server.key".into(),
                "-c ssl_ca_file=ca.crt".into(),
            ]
        });
        pg.psql_local("CREATE ROLE certuser LOGIN SUPERUSER");
        (pg, files)
    }

    /// Runs SQL over the server's Unix socket (which a TLS-only server
    /// still trusts).
    fn psql_local(&self, sql: &str) {
        let out = Command::new(self.psql_program())
            .args(["-X", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.dir.path())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "chime",
                "-d",
                "postgres",
                "-c",
                sql,
            ])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn psql_program(&self) -> PathBuf {
        // psql is a client: it may live beside the server or only on PATH.
        let local = self.bin.join("psql");
        if local.is_file() {
            local
        } else {
            PathBuf::from("psql")
        }
    }

    /// Starts a server after `configure` has had its data directory; it
    /// returns more `-c` options for the server.
    fn start_with(configure: impl FnOnce(&Path) -> Vec<String>) -> Postgres {
        let bin = find_bin();
        let dir = tempfile::Builder::new()
            .prefix("chime-pg-")
            .tempdir()
            .expect("temp dir");
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(
                status.success(),
                "chown the PostgreSQL directory to postgres"
            );
        }
        let data = dir.path().join("data");
        let out = pg_command(&bin, "initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "chime", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A free port: the OS picks one, then it is released for the server.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let extra = configure(&data);
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off {}",
            dir.path().display(),
            extra.join(" ")
        );
        let out = pg_command(&bin, "pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-o", &opts, "-l"])
            .arg(dir.path().join("server.log"))
            .args(["-w", "-t", "60", "start"])
            .output()
            .expect("run pg_ctl");
        let pg = Postgres { dir, bin, port };
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(pg.dir.path().join("server.log")).unwrap_or_default()
        );
        pg
    }

    /// A URL for database `db` (created by [`Postgres::create_db`]).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://chime@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL with psql and returns its unaligned, tuples-only output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.psql_program())
            .args([
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url(db),
                "-c",
                sql,
            ])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn create_db(&self, db: &str) {
        self.psql("postgres", &format!("CREATE DATABASE {db}"));
    }

    /// Creates database `db` and returns a URL to it with a password (the
    /// server trusts local connections: the password is there to be kept
    /// out of logs).
    pub fn db_url(&self, db: &str) -> String {
        self.create_db(db);
        format!("postgres://chime:{db}-pw@127.0.0.1:{}/{db}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn pg_command(bin: &Path, program: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = pg_command(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
