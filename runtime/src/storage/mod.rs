//! Object storage (feature `s3`): `s3://bucket/key` wherever a file path
//! goes, on Amazon S3 or an S3-compatible service (MinIO, Cloudflare R2,
//! SeaweedFS) by endpoint, through the object_store crate.
//!
//! Settings, highest first:
//! 1. the pipeline's `storage:` (endpoint, region, keys; templates
//!    rendered once per run, as `connections:` are);
//! 2. the standard AWS environment (`AWS_ACCESS_KEY_ID`,
//!    `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//!    `AWS_ENDPOINT_URL`, ...; web identity and container credentials);
//! 3. the shared files `~/.aws/credentials` and `~/.aws/config`, profile
//!    `AWS_PROFILE` or `default`;
//! 4. the instance's metadata service (EC2, ECS).
//!
//! The work runs on a small runtime of its own, so that a task's blocking
//! thread can read and write objects as it reads and writes files
//! ([`ObjectReader`], [`ObjectWriter`]) while an upload's parts go out in
//! parallel.

mod io;
mod profile;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;

pub use crate::object_url::{ObjectUrl, ObjectUrlError};
pub use io::{ChunkRead, ObjectChunks, ObjectReader, ObjectWriter};

/// The keys `storage:` takes.
pub const SETTINGS: [&str; 6] = [
    "endpoint",
    "region",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "allow_http",
];

/// Why an object could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0}")]
    Url(#[from] ObjectUrlError),
    #[error("{url}: not an object key chime can use: {detail}")]
    Key { url: String, detail: String },
    #[error("storage: {0}")]
    Settings(String),
    #[error("{url}: no such object")]
    NotFound { url: String },
    #[error("{url}: {detail}")]
    Object { url: String, detail: String },
    #[error("storage: cannot start its runtime: {0}")]
    Runtime(std::io::Error),
    #[error(
        "{url}: this binary was built without object storage; chime build enables it when pipeline.yaml names an s3:// URL or has `storage:`"
    )]
    NotBuiltIn { url: String },
}

impl StorageError {
    /// Whether asking again cannot help: refused credentials, a missing
    /// bucket, bad settings or URLs (a sensor stops at once on these).
    pub fn is_permanent(&self) -> bool {
        match self {
            StorageError::Url(_)
            | StorageError::Key { .. }
            | StorageError::Settings(_)
            | StorageError::NotBuiltIn { .. } => true,
            StorageError::Object { detail, .. } => [
                "NoSuchBucket",
                "InvalidAccessKeyId",
                "SignatureDoesNotMatch",
                "AccessDenied",
                "no credentials found",
            ]
            .iter()
            .any(|code| detail.contains(code)),
            _ => false,
        }
    }

    /// An object_store error on `url`, said briefly: S3's own code and
    /// message rather than its XML, and what to do about credentials.
    pub(crate) fn object(url: &ObjectUrl, e: object_store::Error) -> StorageError {
        let url = url.to_string();
        match e {
            object_store::Error::NotFound { .. } if !e.to_string().contains("NoSuchBucket") => {
                StorageError::NotFound { url }
            }
            e => StorageError::Object {
                url,
                detail: describe(&e),
            },
        }
    }
}

/// S3's `<Code>` and `<Message>` out of an error's text, with a hint.
fn describe(e: &object_store::Error) -> String {
    // The causes too: "error sending request" says less than the
    // "Connection refused" under it.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find("</")? + start;
        Some(text[start..end].to_string())
    };
    let said = match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => format!("the storage said {code}: {message}"),
        (Some(code), None) => format!("the storage said {code}"),
        _ => text.clone(),
    };
    let hint = match tag("Code").as_deref() {
        // object_store asks the instance's metadata service when nothing
        // else gave credentials: off a cloud instance that is the error.
        _ if text.contains("169.254.169.254") => Some(
            "no credentials found: set storage.access_key_id and secret_access_key, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an AWS profile",
        ),
        Some("NoSuchBucket") => Some("create the bucket, or fix its name"),
        Some("InvalidAccessKeyId") | Some("SignatureDoesNotMatch") | Some("AccessDenied") => Some(
            "check the credentials: storage.access_key_id and secret_access_key, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the AWS profile",
        ),
        _ if text.contains("Connect") || text.contains("connect") => {
            Some("is the endpoint right and the service up? (storage.endpoint or AWS_ENDPOINT_URL)")
        }
        _ => None,
    };
    match hint {
        Some(h) => format!("{said} ({h})"),
        None => said,
    }
}

/// The pipeline's object storage: settings rendered for the run, clients
/// made on first use (one per bucket).
pub struct Storage {
    settings: BTreeMap<String, String>,
    /// Settings of `storage:` whose templates did not render: with them
    /// missing, the requests would go elsewhere, signed otherwise.
    unrendered: Vec<String>,
    runtime: OnceLock<Result<tokio::runtime::Runtime, String>>,
    buckets: Mutex<HashMap<String, Arc<AmazonS3>>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<&String> = self.settings.keys().collect();
        f.debug_struct("Storage").field("settings", &shown).finish()
    }
}

impl Default for Storage {
    fn default() -> Storage {
        Storage::new(BTreeMap::new())
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        // Dropped wherever the run ends, maybe on an async thread, where a
        // runtime may not block to shut down.
        if let Some(Ok(rt)) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Storage {
    /// Storage with `storage:`'s rendered settings (empty: the AWS
    /// environment and profile alone).
    pub fn new(settings: BTreeMap<String, String>) -> Storage {
        Storage {
            settings,
            unrendered: Vec::new(),
            runtime: OnceLock::new(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Storage whose settings `names` did not render: every use fails.
    pub fn with_unrendered(mut self, names: Vec<String>) -> Storage {
        self.unrendered = names;
        self
    }

    /// The values that must never be shown: the secret key and session
    /// token, from `storage:` or the environment.
    pub fn secrets(settings: &BTreeMap<String, String>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for key in ["secret_access_key", "session_token"] {
            if let Some(v) = settings.get(key).filter(|v| !v.is_empty()) {
                out.push((format!("storage.{key}"), v.clone()));
            }
        }
        for key in ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
            if let Ok(v) = std::env::var(key)
                && !v.is_empty()
            {
                out.push((format!("env.{key}"), v));
            }
        }
        out
    }

    pub(crate) fn runtime(&self) -> Result<&tokio::runtime::Runtime, StorageError> {
        let rt = self.runtime.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("chime-storage")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        });
        rt.as_ref()
            .map_err(|e| StorageError::Runtime(std::io::Error::other(e.clone())))
    }

    /// The client for `bucket`.
    pub(crate) fn bucket(&self, bucket: &str) -> Result<Arc<AmazonS3>, StorageError> {
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| StorageError::Settings("a task panicked holding the clients".into()))?;
        if let Some(b) = buckets.get(bucket) {
            return Ok(b.clone());
        }
        let built = Arc::new(
            self.builder()?
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| {
                    StorageError::Settings(format!("cannot reach the bucket {bucket}: {e}"))
                })?,
        );
        buckets.insert(bucket.to_string(), built.clone());
        Ok(built)
    }

    /// The settings merged from `storage:`, the environment and the
    /// profile files.
    fn builder(&self) -> Result<AmazonS3Builder, StorageError> {
        if !self.unrendered.is_empty() {
            return Err(StorageError::Settings(format!(
                "`{}` did not render (the run's first lines say why); chime does not fall back to other settings without it",
                self.unrendered.join("`, `")
            )));
        }
        // reqwest is built without a crypto provider of its own: it uses
        // rustls's process-wide default, ring (as TLS to PostgreSQL does).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let env_has = |key: &str| std::env::var(key).is_ok_and(|v| !v.is_empty());
        let s = &self.settings;
        let given = |key: &str| s.get(key).filter(|v| !v.is_empty());
        let explicit_keys =
            given("access_key_id").is_some() || given("secret_access_key").is_some();
        // The environment's AWS_* settings (as object_store's from_env
        // reads them), but not its keys when `storage:` gives keys: a
        // session token from the environment would not go with them.
        let mut b = AmazonS3Builder::new();
        for (key, value) in std::env::vars() {
            let own_keys = matches!(
                key.as_str(),
                "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" | "AWS_SESSION_TOKEN"
            );
            // object_store prefers AWS_ENDPOINT_URL_S3 to an endpoint set
            // later: not when `storage:` names one.
            let own_endpoint = key.starts_with("AWS_ENDPOINT");
            if key.starts_with("AWS_")
                && !(explicit_keys && own_keys)
                && !(own_endpoint && given("endpoint").is_some())
                && let Ok(config) = key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>()
            {
                b = b.with_config(config, value);
            }
        }
        if explicit_keys {
            match (given("access_key_id"), given("secret_access_key")) {
                (Some(id), Some(secret)) => {
                    b = b.with_access_key_id(id).with_secret_access_key(secret);
                    if let Some(token) = given("session_token") {
                        b = b.with_token(token);
                    }
                }
                _ => {
                    return Err(StorageError::Settings(
                        "access_key_id and secret_access_key go together: give both".into(),
                    ));
                }
            }
        }
        let profile = profile::Profile::load();
        if !explicit_keys
            && !env_has("AWS_ACCESS_KEY_ID")
            && !env_has("AWS_WEB_IDENTITY_TOKEN_FILE")
            && !env_has("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            && !env_has("AWS_CONTAINER_CREDENTIALS_FULL_URI")
            && let Some((id, secret, token)) = profile.credentials()
        {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
            if let Some(token) = token {
                b = b.with_token(token);
            }
        }
        match given("region") {
            Some(r) => b = b.with_region(r),
            None if !env_has("AWS_REGION") && !env_has("AWS_DEFAULT_REGION") => {
                if let Some(r) = profile.region() {
                    b = b.with_region(r);
                }
            }
            None => {}
        }
        let endpoint = given("endpoint").cloned().or_else(|| {
            (!env_has("AWS_ENDPOINT_URL") && !env_has("AWS_ENDPOINT"))
                .then(|| profile.endpoint())
                .flatten()
        });
        if let Some(e) = &endpoint {
            b = b.with_endpoint(e);
        }
        let endpoint = endpoint
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .or_else(|| std::env::var("AWS_ENDPOINT").ok());
        let allow_http = match given("allow_http").map(|v| v.as_str()) {
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(StorageError::Settings(format!(
                    "allow_http is `{other}`: write true or false"
                )));
            }
            // An endpoint written with http:// means it.
            None => endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://")),
        };
        // Said either way when it is said: false overrides AWS_ALLOW_HTTP.
        if allow_http || given("allow_http").is_some() {
            b = b.with_allow_http(allow_http);
        }
        if let Some(unknown) = s.keys().find(|k| !SETTINGS.contains(&k.as_str())) {
            return Err(StorageError::Settings(format!(
                "`{unknown}` is not a storage setting ({})",
                SETTINGS.join(", ")
            )));
        }
        Ok(b)
    }

    /// The object at `url` (a key, not a prefix) and its bucket's client.
    pub(crate) fn locate(&self, url: &ObjectUrl) -> Result<(Arc<AmazonS3>, Path), StorageError> {
        let path = Path::parse(&url.key).map_err(|e| StorageError::Key {
            url: url.to_string(),
            detail: e.to_string(),
        })?;
        Ok((self.bucket(&url.bucket)?, path))
    }

    /// Runs `f` on the storage's runtime and waits for it: for a task's
    /// blocking thread, never for async code (see [`Storage::run`]).
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> Result<F::Output, StorageError> {
        Ok(self.runtime()?.block_on(f))
    }

    /// Whether `url` exists: the object, or for a prefix (ending with `/`)
    /// at least one object under it.
    pub fn exists(&self, url: &ObjectUrl) -> Result<bool, StorageError> {
        use futures_util::StreamExt;
        use object_store::{ObjectStore, ObjectStoreExt};
        if url.is_prefix() {
            let store = self.bucket(&url.bucket)?;
            let prefix = (!url.key.is_empty())
                .then(|| Path::parse(&url.key))
                .transpose()
                .map_err(|e| StorageError::Key {
                    url: url.to_string(),
                    detail: e.to_string(),
                })?;
            let first = self.block_on(async move { store.list(prefix.as_ref()).next().await })?;
            return match first {
                None => Ok(false),
                Some(Ok(_)) => Ok(true),
                Some(Err(e)) => Err(StorageError::object(url, e)),
            };
        }
        let (store, path) = self.locate(url)?;
        match self.block_on(async move { store.head(&path).await })? {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(StorageError::object(url, e)),
        }
    }

    /// The objects directly under the prefix `url` (not under its
    /// sub-prefixes): their URLs and sizes.
    pub fn list(&self, url: &ObjectUrl) -> Result<Vec<(String, u64)>, StorageError> {
        use object_store::ObjectStore;
        let store = self.bucket(&url.bucket)?;
        let prefix = (!url.key.is_empty())
            .then(|| Path::parse(url.key.trim_end_matches('/')))
            .transpose()
            .map_err(|e| StorageError::Key {
                url: url.to_string(),
                detail: e.to_string(),
            })?;
        let listed = self
            .block_on(async move { store.list_with_delimiter(prefix.as_ref()).await })?
            .map_err(|e| StorageError::object(url, e))?;
        Ok(listed
            .objects
            .into_iter()
            .map(|o| (format!("s3://{}/{}", url.bucket, o.location), o.size))
            .collect())
    }

    /// The whole object at `url`, if it is at most `limit` bytes.
    pub fn read_all(&self, url: &ObjectUrl, limit: u64) -> Result<Vec<u8>, StorageError> {
        use std::io::Read;
        let mut r = self.open(url)?;
        if r.size() > limit {
            return Err(StorageError::Object {
                url: url.to_string(),
                detail: format!("{} bytes, more than the {limit} chime reads", r.size()),
            });
        }
        let mut out = Vec::with_capacity(r.size() as usize);
        r.read_to_end(&mut out).map_err(|e| StorageError::Object {
            url: url.to_string(),
            detail: e.to_string(),
        })?;
        Ok(out)
    }
}

/// Reads `path` as an object URL: `None` for a local path. Without the
/// `s3` feature the caller says the binary lacks it.
pub fn object_url(path: &str) -> Option<Result<ObjectUrl, StorageError>> {
    crate::object_url::parse_object(path).map(|r| r.map_err(StorageError::from))
}
