//! The TLS options of a PostgreSQL connection string, as libpq spells
//! them: `sslmode`, `sslrootcert`, `sslcert` and `sslkey`, in a URL's
//! query (`postgres://u@h/db?sslmode=verify-full&sslrootcert=ca.pem`) or
//! in the `key=value` form (`host=h dbname=db sslmode=require`).
//!
//! The `postgres` crate knows only `disable`, `prefer` and `require`, and
//! no certificate files, so chime takes these options out of the string
//! before the crate reads the rest ([`split`]), and `pg_tls` sets up
//! rustls from them. Pure string work: `chime check` reads the same
//! options on a pipeline's literal URLs.

/// Whether a connection URL names PostgreSQL: `postgres://`,
/// `postgresql://`, or libpq's keyword form.
pub fn is_postgres(url: &str) -> bool {
    let url = url.trim();
    url.starts_with("postgres://")
        || url.starts_with("postgresql://")
        || url.contains("host=")
        || url.contains("dbname=")
}

/// libpq's `sslmode`, without `allow` (plain first, then TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS if the server offers it, without checking its certificate
    /// (libpq's default, and chime's).
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is checked against
    /// `sslrootcert` only when one is given, as libpq does.
    Require,
    /// TLS, with a certificate signed by a trusted CA, for any host name.
    VerifyCa,
    /// TLS, with a certificate signed by a trusted CA and made out to the
    /// host connected to.
    VerifyFull,
}

/// The modes, as written in a connection string.
pub const SSL_MODES: [(&str, SslMode); 5] = [
    ("disable", SslMode::Disable),
    ("prefer", SslMode::Prefer),
    ("require", SslMode::Require),
    ("verify-ca", SslMode::VerifyCa),
    ("verify-full", SslMode::VerifyFull),
];

impl SslMode {
    pub fn name(self) -> &'static str {
        SSL_MODES
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("prefer", |(n, _)| n)
    }

    /// Whether the server's certificate must chain to a trusted CA.
    pub fn verifies_ca(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

impl std::str::FromStr for SslMode {
    type Err = OptionError;
    fn from_str(s: &str) -> Result<SslMode, OptionError> {
        SSL_MODES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, m)| *m)
            .ok_or_else(|| OptionError::Mode(s.to_string()))
    }
}

/// Where the trusted CAs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file of CA certificates (`sslrootcert=FILE`).
    File(String),
    /// The operating system's trust store (`sslrootcert=system`).
    System,
}

/// The TLS options of one connection string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub mode: SslMode,
    /// Whether the string said `sslmode` (else the default above).
    pub mode_given: bool,
    /// `None`: libpq's `~/.postgresql/root.crt` if it exists, else the
    /// system's trust store.
    pub root_cert: Option<RootCert>,
    /// A client certificate (PEM) and its key, both or neither.
    pub client: Option<(String, String)>,
}

/// A TLS option chime cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    #[error(
        "`sslmode={0}` is not a mode chime knows: use disable, prefer, require, verify-ca or verify-full"
    )]
    Mode(String),
    #[error(
        "`sslmode=allow` (plain first, TLS if refused) is not supported: use prefer (TLS first) or disable"
    )]
    Allow,
    #[error("`{given}` needs `{missing}` too: a client certificate goes with its private key")]
    Half {
        given: &'static str,
        missing: &'static str,
    },
    #[error("`{0}=` is empty: name a file")]
    Empty(&'static str),
    #[error("unclosed quote in the connection string: close it with '")]
    Quote,
    #[error(
        "`sslmode={0}` with `sslrootcert=system` would trust any certificate a public CA signed, for any host: use sslmode=verify-full (the default with system)"
    )]
    SystemNeedsFull(&'static str),
}

/// One `key=value` of a connection string and where it lies in it.
struct Pair {
    key: String,
    value: String,
    span: std::ops::Range<usize>,
}

const OURS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// Takes chime's TLS options out of a PostgreSQL connection string: the
/// string without them (for the `postgres` crate) and the options.
pub fn split(url: &str) -> Result<(String, TlsOptions), OptionError> {
    let url_form = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let pairs = if url_form {
        query_pairs(url)
    } else {
        keyword_pairs(url)?
    };
    let mut rest = String::with_capacity(url.len());
    let mut at = 0;
    let mut mode: Option<SslMode> = None;
    let (mut root, mut cert, mut key) = (None, None, None);
    for p in pairs.iter().filter(|p| OURS.contains(&p.key.as_str())) {
        rest.push_str(&url[at..p.span.start]);
        at = p.span.end;
        match p.key.as_str() {
            "sslmode" if p.value == "allow" => return Err(OptionError::Allow),
            "sslmode" => mode = Some(p.value.parse()?),
            "sslrootcert" => root = Some(p.value.clone()),
            "sslcert" => cert = Some(p.value.clone()),
            _ => key = Some(p.value.clone()),
        }
    }
    rest.push_str(&url[at..]);
    let rest = if url_form {
        tidy_query(rest, query_start(url))
    } else {
        rest
    };
    for (name, v) in [("sslrootcert", &root), ("sslcert", &cert), ("sslkey", &key)] {
        if v.as_deref() == Some("") {
            return Err(OptionError::Empty(name));
        }
    }
    let client = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(OptionError::Half {
                given: "sslcert",
                missing: "sslkey",
            });
        }
        (None, Some(_)) => {
            return Err(OptionError::Half {
                given: "sslkey",
                missing: "sslcert",
            });
        }
    };
    let root_cert = root.map(|r| {
        if r == "system" {
            RootCert::System
        } else {
            RootCert::File(r)
        }
    });
    // libpq 16: any CA of the system's store would do for a weaker mode,
    // which is no check at all.
    if let (Some(RootCert::System), Some(m)) = (&root_cert, mode)
        && m != SslMode::VerifyFull
    {
        return Err(OptionError::SystemNeedsFull(m.name()));
    }
    Ok((
        rest,
        TlsOptions {
            mode: mode.unwrap_or(if root_cert == Some(RootCert::System) {
                // libpq 16: the system's CAs mean verify-full by default.
                SslMode::VerifyFull
            } else {
                SslMode::Prefer
            }),
            mode_given: mode.is_some(),
            root_cert,
            client,
        },
    ))
}

/// The `key=value` pairs of a URL's query, each span with the `&` or `?`
/// before it, so that cutting it leaves a well-formed query.
fn query_pairs(url: &str) -> Vec<Pair> {
    let Some(q) = query_start(url) else {
        return Vec::new();
    };
    let mut pairs = Vec::new();
    let mut start = q;
    for piece in url[q + 1..].split('&') {
        let end = start + 1 + piece.len();
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        pairs.push(Pair {
            key: percent_decode(k),
            value: percent_decode(v),
            span: start..end,
        });
        start = end;
    }
    pairs
}

/// Where a URL's query starts (its `?`): after the user and password,
/// which may hold a raw `?`, `&` or `@` (the host follows the last `@`).
fn query_start(url: &str) -> Option<usize> {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let host = url[after_scheme..]
        .rfind('@')
        .map_or(after_scheme, |i| after_scheme + i + 1);
    url[host..].find('?').map(|i| host + i)
}

/// After cutting pairs out of the query that started at `q` (its `?`):
/// the first pair left starts with `?`, and an empty query goes.
fn tidy_query(mut s: String, q: Option<usize>) -> String {
    let Some(q) = q.filter(|&q| q < s.len()) else {
        return s;
    };
    if s[q..].starts_with('&') {
        s.replace_range(q..q + 1, "?");
    } else if &s[q..] == "?" {
        s.truncate(q);
    }
    s
}

/// Percent-decodes `s` (`%41`); invalid escapes are kept as they are.
/// Also what `secrets` decodes passwords with.
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The pairs of libpq's `key = value` form: values bare or in single
/// quotes, with `\'` and `\\` escapes.
fn keyword_pairs(s: &str) -> Result<Vec<Pair>, OptionError> {
    let b = s.as_bytes();
    let mut pairs = Vec::new();
    let mut i = 0;
    let skip_space = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_space(i);
        if i >= b.len() {
            return Ok(pairs);
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = s[start..i].to_string();
        i = skip_space(i);
        if b.get(i) != Some(&b'=') {
            // Not a pair: the `postgres` crate will say what is wrong.
            return Ok(pairs);
        }
        i = skip_space(i + 1);
        let mut value = Vec::new();
        if b.get(i) == Some(&b'\'') {
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(OptionError::Quote),
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < b.len() => {
                        value.push(b[i + 1]);
                        i += 2;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                value.push(b[i]);
                i += 1;
            }
        }
        pairs.push(Pair {
            key,
            value: String::from_utf8_lossy(&value).into_owned(),
            span: start..i,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_ok(url: &str) -> (String, TlsOptions) {
        split(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn a_url_without_options_is_left_as_it_is_and_prefers_tls() {
        let (rest, o) = split_ok("postgres://u:p@h:5432/db?connect_timeout=3");
        assert_eq!(rest, "postgres://u:p@h:5432/db?connect_timeout=3");
        assert_eq!(o, TlsOptions::default());
        assert_eq!(o.mode, SslMode::Prefer);
    }

    #[test]
    fn the_options_come_out_of_a_urls_query_wherever_they_are() {
        let (rest, o) =
            split_ok("postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem");
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(o.mode, SslMode::VerifyFull);
        assert_eq!(o.root_cert, Some(RootCert::File("/etc/ca.pem".into())));

        let (rest, o) = split_ok(
            "postgresql://u@h/db?application_name=x&sslmode=verify-ca&connect_timeout=3&sslcert=c.pem&sslkey=k.pem",
        );
        assert_eq!(
            rest,
            "postgresql://u@h/db?application_name=x&connect_timeout=3"
        );
        assert_eq!(o.mode, SslMode::VerifyCa);
        assert_eq!(o.client, Some(("c.pem".into(), "k.pem".into())));

        let (rest, _) = split_ok("postgres://u@h/db?sslmode=require&connect_timeout=3");
        assert_eq!(rest, "postgres://u@h/db?connect_timeout=3");
    }

    #[test]
    fn the_options_come_out_of_the_keyword_form_quoted_or_not() {
        let (rest, o) = split_ok(
            "host=h dbname=db sslmode = verify-full sslrootcert='/my certs/ca.pem' user=u",
        );
        assert_eq!(rest, "host=h dbname=db   user=u");
        assert_eq!(o.mode, SslMode::VerifyFull);
        assert_eq!(o.root_cert, Some(RootCert::File("/my certs/ca.pem".into())));

        let (_, o) = split_ok("host=h sslrootcert=system");
        assert_eq!(o.root_cert, Some(RootCert::System));
        assert_eq!(
            split("host=h sslrootcert='/a").unwrap_err(),
            OptionError::Quote
        );
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(
            split("postgres://h/db?sslmode=verify")
                .unwrap_err()
                .to_string(),
            "`sslmode=verify` is not a mode chime knows: use disable, prefer, require, verify-ca or verify-full"
        );
        assert_eq!(
            split("host=h sslmode=allow").unwrap_err(),
            OptionError::Allow
        );
        assert_eq!(
            split("postgres://h/db?sslcert=c.pem")
                .unwrap_err()
                .to_string(),
            "`sslcert` needs `sslkey` too: a client certificate goes with its private key"
        );
        assert_eq!(
            split("postgres://h/db?sslrootcert=").unwrap_err(),
            OptionError::Empty("sslrootcert")
        );
    }

    #[test]
    fn a_password_may_hold_a_question_mark_or_an_ampersand() {
        let (rest, o) = split_ok("postgres://etl:a&b@db/s?sslmode=require");
        assert_eq!(rest, "postgres://etl:a&b@db/s");
        assert_eq!(o.mode, SslMode::Require);
        let (rest, o) =
            split_ok("postgres://etl:pa?ss@db/s?sslmode=verify-ca&sslrootcert=ca.pem&x=1");
        assert_eq!(rest, "postgres://etl:pa?ss@db/s?x=1");
        assert_eq!(o.mode, SslMode::VerifyCa);
        assert_eq!(o.root_cert, Some(RootCert::File("ca.pem".into())));
    }

    #[test]
    fn the_systems_cas_mean_verify_full() {
        let (_, o) = split_ok("postgres://u@h/db?sslrootcert=system");
        assert_eq!((o.mode, o.mode_given), (SslMode::VerifyFull, false));
        assert_eq!(
            split("postgres://u@h/db?sslrootcert=system&sslmode=require").unwrap_err(),
            OptionError::SystemNeedsFull("require")
        );
    }

    #[test]
    fn every_mode_reads_back_by_its_name() {
        for (name, mode) in SSL_MODES {
            assert_eq!(name.parse::<SslMode>(), Ok(mode));
            assert_eq!(mode.name(), name);
        }
    }
}
