//! TLS to PostgreSQL: libpq's `sslmode` on rustls (pure Rust, no OpenSSL
//! to install), for every place chime connects: data connections and the
//! PostgreSQL state.
//!
//! | sslmode | TLS | certificate checked |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (default) | if the server offers it | no |
//! | `require` | always | against `sslrootcert` if given, else no |
//! | `verify-ca` | always | signed by a trusted CA |
//! | `verify-full` | always | signed by a trusted CA, for the host connected to |
//!
//! Trusted CAs: `sslrootcert=FILE` (PEM), `sslrootcert=system` (the
//! operating system's store), or by default libpq's
//! `~/.postgresql/root.crt` if it exists, else the system's store.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

pub use crate::pg_options::{RootCert, SslMode, TlsOptions};

/// Why a connection string's TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Option(#[from] crate::pg_options::OptionError),
    #[error(transparent)]
    Parse(postgres::Error),
    #[error("cannot read the {what} {path}: {detail}")]
    File {
        what: &'static str,
        path: String,
        detail: String,
    },
    #[error("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: String },
    #[error("the system's trust store has no certificates: set sslrootcert=FILE")]
    NoSystemRoots,
    #[error("cannot use the client certificate {cert} with the key {key}: {detail}")]
    Client {
        cert: String,
        key: String,
        detail: String,
    },
    #[error("cannot set up TLS: {0}")]
    Setup(String),
}

/// A connection string read for the `postgres` crate, with the TLS
/// connector its options ask for.
pub fn config(url: &str) -> Result<(postgres::Config, MakeRustlsConnect), TlsError> {
    let (rest, options) = crate::pg_options::split(url)?;
    let mut config: postgres::Config = rest.parse().map_err(TlsError::Parse)?;
    config.ssl_mode(match options.mode {
        SslMode::Disable => postgres::config::SslMode::Disable,
        SslMode::Prefer => postgres::config::SslMode::Prefer,
        _ => postgres::config::SslMode::Require,
    });
    Ok((config, connector(&options)?))
}

/// Connects as libpq does: with `prefer`, a TLS handshake that fails (a
/// server whose TLS rustls does not speak, a host given only by address)
/// is followed by a plain attempt.
pub fn connect(
    config: &postgres::Config,
    tls: MakeRustlsConnect,
) -> Result<postgres::Client, postgres::Error> {
    match config.connect(tls) {
        Err(e)
            if config.get_ssl_mode() == postgres::config::SslMode::Prefer
                && e.to_string().contains("TLS handshake") =>
        {
            let mut plain = config.clone();
            plain.ssl_mode(postgres::config::SslMode::Disable);
            plain.connect(postgres::NoTls)
        }
        other => other,
    }
}

/// libpq's default root certificate file.
const LIBPQ_ROOT: &str = "~/.postgresql/root.crt";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client for `options`.
pub fn connector(options: &TlsOptions) -> Result<MakeRustlsConnect, TlsError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = match (options.mode, &options.root_cert) {
        (SslMode::VerifyFull, root) => webpki(roots(root.as_ref())?, &provider)?,
        (SslMode::VerifyCa, root) => Arc::new(AnyName(webpki(roots(root.as_ref())?, &provider)?)),
        // libpq: `require` with a root certificate file (given, or its
        // default ~/.postgresql/root.crt) checks it as verify-ca does.
        (SslMode::Require, Some(root)) => Arc::new(AnyName(webpki(roots(Some(root))?, &provider)?)),
        (SslMode::Require, None) if expand(LIBPQ_ROOT).is_file() => {
            Arc::new(AnyName(webpki(roots(None)?, &provider)?))
        }
        _ => Arc::new(Unchecked(provider.signature_verification_algorithms)),
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match &options.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = certificates(cert, "client certificate")?;
            let private =
                PrivateKeyDer::from_pem_file(expand(key)).map_err(|e| TlsError::File {
                    what: "client key",
                    path: key.clone(),
                    detail: pem_error(e),
                })?;
            builder
                .with_client_auth_cert(chain, private)
                .map_err(|e| TlsError::Client {
                    cert: cert.clone(),
                    key: key.clone(),
                    detail: e.to_string(),
                })?
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

fn webpki(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, TlsError> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::Setup(e.to_string()))
}

/// `~` at the start of a path is the home directory, as libpq reads it.
fn expand(path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => std::path::Path::new(&home).join(rest),
        _ => path.into(),
    }
}

fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of that kind in it".into(),
        other => format!("not a PEM file chime can read ({other:?})"),
    }
}

fn certificates(path: &str, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_error = |e| TlsError::File {
        what,
        path: path.to_string(),
        detail: pem_error(e),
    };
    let certs = CertificateDer::pem_file_iter(expand(path))
        .map_err(file_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(file_error)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_string(),
        });
    }
    Ok(certs)
}

/// The trusted CAs.
fn roots(root: Option<&RootCert>) -> Result<RootCertStore, TlsError> {
    let libpq_default = expand(LIBPQ_ROOT);
    let file = match root {
        Some(RootCert::File(f)) => Some(f.clone()),
        Some(RootCert::System) => None,
        None if libpq_default.is_file() => Some(libpq_default.display().to_string()),
        None => None,
    };
    let mut store = RootCertStore::empty();
    match file {
        Some(f) => {
            for cert in certificates(&f, "root certificate file (sslrootcert)")? {
                store.add(cert).map_err(|e| TlsError::File {
                    what: "root certificate file (sslrootcert)",
                    path: f.clone(),
                    detail: e.to_string(),
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let _ = store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(TlsError::NoSystemRoots);
            }
        }
    }
    Ok(store)
}

/// verify-ca: the chain must reach a trusted CA; the host name is not
/// checked.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name: a name error means the
        // chain was good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// prefer and require without a root certificate: encrypted, but the
/// certificate is not checked (libpq's meaning of those modes). The
/// handshake's signatures still are.
#[derive(Debug)]
struct Unchecked(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// An error that is not the server's, with its causes (the `postgres`
/// crate's own text says only "error connecting to server") and what to do
/// about it.
pub fn error_chain(e: &postgres::Error) -> String {
    let mut m = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        m.push_str(&format!(": {s}"));
        source = s.source();
    }
    if let Some(hint) = hint(&m) {
        m.push_str(&format!(" ({hint})"));
    }
    m
}

/// What to do about a failed connection, from its error's text: the
/// `postgres` crate's messages and rustls's certificate errors are
/// accurate but terse.
pub fn hint(message: &str) -> Option<&'static str> {
    let m = message;
    if m.contains("UnknownIssuer") || m.contains("UnknownCA") {
        Some(
            "the server's certificate is not signed by a CA chime trusts: set sslrootcert=FILE to the CA that signed it",
        )
    } else if m.contains("NotValidForName") || m.contains("not valid for name") {
        Some(
            "the server's certificate is not made out to the host connected to: connect by a name it lists, or use sslmode=verify-ca",
        )
    } else if m.contains("server does not support TLS") {
        Some(
            "the server does not speak TLS: turn ssl on in its postgresql.conf, or use sslmode=prefer or disable",
        )
    } else if m.contains("no encryption") && m.contains("pg_hba.conf") {
        Some("the server accepts only TLS connections: use sslmode=require or stronger")
    } else if m.contains("UnsupportedCertVersion") {
        Some(
            "a certificate (the server's, or the client's in sslcert) is X.509 v1: rustls takes v3 only; re-issue it with extensions (openssl x509 -req ... -extfile FILE)",
        )
    } else if m.contains("requires a valid client certificate") {
        Some("the server asks this role for a client certificate: set sslcert=FILE and sslkey=FILE")
    } else if m.contains("Expired") {
        Some("the server's certificate has expired")
    } else {
        None
    }
}
