//! Object-store URLs: `s3://bucket/key`, accepted wherever a file path is
//! (`predict`'s input, output and model, `sql`'s output, `wait_for`'s
//! file). Pure string work, shared by `chime check` (which reports a bad
//! URL on its line) and the runtime's `storage` module.

/// A parsed `s3://bucket/key`. `key` may be empty (the whole bucket) or
/// end with `/` (a prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    pub bucket: String,
    pub key: String,
}

impl std::fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl ObjectUrl {
    /// Whether the URL names a prefix (ends with `/`, or is a bucket).
    pub fn is_prefix(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/')
    }
}

/// Why a string that looks like an object-store URL is not one chime can
/// use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectUrlError {
    #[error("`{0}://` is not a storage chime reaches: use a local path or s3://BUCKET/KEY")]
    Scheme(String),
    #[error("write the scheme in lower case: s3://")]
    Case,
    #[error("`s3:/` needs two slashes: s3://BUCKET/KEY")]
    Slashes,
    #[error("the URL names no bucket: s3://BUCKET/KEY")]
    NoBucket,
    #[error("the bucket name `{bucket}` {rule}")]
    Bucket { bucket: String, rule: &'static str },
    #[error("the URL names a bucket or a prefix (ending in /), not an object: s3://{0}/KEY")]
    NoKey(String),
    #[error("the object key is longer than S3's 1,024 bytes")]
    LongKey,
}

/// Whether `s` is meant as an object-store URL rather than a local path
/// (a scheme followed by `:/`).
pub fn looks_like_url(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(":/") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !scheme.starts_with(|c: char| c.is_ascii_digit())
}

/// Reads `s`: `None` when it is a local path, else the URL or what is
/// wrong with it.
pub fn parse(s: &str) -> Option<Result<ObjectUrl, ObjectUrlError>> {
    if !looks_like_url(s) {
        return None;
    }
    Some(parse_url(s))
}

fn parse_url(s: &str) -> Result<ObjectUrl, ObjectUrlError> {
    let (scheme, rest) = s.split_once(":/").unwrap_or((s, ""));
    if scheme.eq_ignore_ascii_case("s3") && scheme != "s3" {
        return Err(ObjectUrlError::Case);
    }
    if scheme != "s3" {
        return Err(ObjectUrlError::Scheme(scheme.to_string()));
    }
    let Some(rest) = rest.strip_prefix('/') else {
        return Err(ObjectUrlError::Slashes);
    };
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(ObjectUrlError::NoBucket);
    }
    if let Some(rule) = bucket_rule(bucket) {
        return Err(ObjectUrlError::Bucket {
            bucket: bucket.to_string(),
            rule,
        });
    }
    if key.len() > 1024 {
        return Err(ObjectUrlError::LongKey);
    }
    Ok(ObjectUrl {
        bucket: bucket.to_string(),
        key: key.to_string(),
    })
}

/// The rule of S3's bucket naming that `b` breaks, if any.
pub fn bucket_rule(b: &str) -> Option<&'static str> {
    let bytes = b.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return Some("must be 3 to 63 characters long");
    }
    if !b
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Some("may hold only lower-case letters, digits, dots and hyphens");
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[b.len() - 1]) {
        return Some("must begin and end with a letter or a digit");
    }
    if b.contains("..") {
        return Some("may not hold two dots in a row");
    }
    if b.split('.').count() == 4 && b.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Some("may not be an IP address");
    }
    if b.starts_with("xn--") || b.starts_with("sthree-") {
        return Some("may not begin with xn-- or sthree-");
    }
    if b.ends_with("-s3alias") || b.ends_with("--ol-s3") {
        return Some("may not end with -s3alias or --ol-s3");
    }
    None
}

/// Reads `s` as an object to read or write: a key is required.
pub fn parse_object(s: &str) -> Option<Result<ObjectUrl, ObjectUrlError>> {
    parse(s).map(|r| {
        r.and_then(|u| {
            if u.is_prefix() {
                Err(ObjectUrlError::NoKey(u.bucket))
            } else {
                Ok(u)
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_not_urls() {
        for p in [
            "data/x.csv",
            "/abs/x.parquet",
            "C_drive.csv",
            "a:b.csv",
            "./s3/x",
        ] {
            assert_eq!(parse(p), None, "{p}");
        }
    }

    #[test]
    fn an_s3_url_splits_into_bucket_and_key() {
        let u = parse("s3://my-bucket/images/2026-11-30/").unwrap().unwrap();
        assert_eq!(u.bucket, "my-bucket");
        assert_eq!(u.key, "images/2026-11-30/");
        assert!(u.is_prefix());
        assert_eq!(u.to_string(), "s3://my-bucket/images/2026-11-30/");
        let u = parse_object("s3://b.example.com/a/b.csv").unwrap().unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.key.as_str()),
            ("b.example.com", "a/b.csv")
        );
    }

    #[test]
    fn each_mistake_is_named() {
        let e = |s: &str| parse(s).unwrap().unwrap_err();
        assert_eq!(e("S3://bucket/k"), ObjectUrlError::Case);
        assert_eq!(e("s3:/bucket/k"), ObjectUrlError::Slashes);
        assert_eq!(e("gs://bucket/k"), ObjectUrlError::Scheme("gs".into()));
        assert_eq!(e("s3:///k"), ObjectUrlError::NoBucket);
        assert_eq!(
            e("s3://My_Bucket/k").to_string(),
            "the bucket name `My_Bucket` may hold only lower-case letters, digits, dots and hyphens"
        );
        for bad in [
            "ab",
            "-abc",
            "abc-",
            "a..b",
            "192.168.1.2",
            "xn--abc",
            "abc-s3alias",
        ] {
            assert!(
                matches!(e(&format!("s3://{bad}/k")), ObjectUrlError::Bucket { .. }),
                "{bad}"
            );
        }
        assert_eq!(
            parse_object("s3://bucket/dir/").unwrap().unwrap_err(),
            ObjectUrlError::NoKey("bucket".into())
        );
        assert_eq!(
            e(&format!("s3://bucket/{}", "k".repeat(1025))),
            ObjectUrlError::LongKey
        );
    }
}
