//! The AWS shared files, as the AWS CLI and SDKs read them:
//! `~/.aws/credentials` (or `AWS_SHARED_CREDENTIALS_FILE`) for keys and
//! `~/.aws/config` (or `AWS_CONFIG_FILE`) for the region and endpoint, in
//! the profile `AWS_PROFILE` (else `default`; `[profile NAME]` in the
//! config file). Static keys only: SSO and `credential_process` profiles
//! are not run.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Profile {
    credentials: HashMap<String, String>,
    config: HashMap<String, String>,
}

impl Profile {
    /// The profile's settings; empty when the files or the profile do not
    /// exist.
    pub fn load() -> Profile {
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        let path = |var: &str, default: &str| {
            std::env::var_os(var)
                .map(std::path::PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
        };
        let name = std::env::var("AWS_PROFILE")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "default".into());
        let read = |p: Option<std::path::PathBuf>| {
            p.and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default()
        };
        let config_section = if name == "default" {
            "default".to_string()
        } else {
            format!("profile {name}")
        };
        Profile {
            credentials: section(
                &read(path("AWS_SHARED_CREDENTIALS_FILE", "credentials")),
                &name,
            ),
            config: section(&read(path("AWS_CONFIG_FILE", "config")), &config_section),
        }
    }

    /// Access key, secret key and session token, from the credentials
    /// file or else the config file.
    pub fn credentials(&self) -> Option<(String, String, Option<String>)> {
        [&self.credentials, &self.config].into_iter().find_map(|s| {
            let id = s.get("aws_access_key_id")?;
            let secret = s.get("aws_secret_access_key")?;
            Some((
                id.clone(),
                secret.clone(),
                s.get("aws_session_token").cloned(),
            ))
        })
    }

    pub fn region(&self) -> Option<String> {
        self.config.get("region").cloned()
    }

    pub fn endpoint(&self) -> Option<String> {
        self.config.get("endpoint_url").cloned()
    }
}

/// The `key = value` lines of `[name]` in an INI text.
fn section(text: &str, name: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = header.trim() == name;
            continue;
        }
        if inside && let Some((k, v)) = line.split_once('=') {
            out.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_read_and_others_are_not() {
        let text = "[default]\naws_access_key_id = A\n# note\n[profile ci]\nregion=eu-west-3\n[ci]\naws_access_key_id=C\naws_secret_access_key = S\n";
        let d = section(text, "default");
        assert_eq!(d.get("aws_access_key_id").map(String::as_str), Some("A"));
        assert_eq!(d.len(), 1);
        let c = section(text, "ci");
        assert_eq!(
            c.get("aws_secret_access_key").map(String::as_str),
            Some("S")
        );
        let p = Profile {
            credentials: c,
            config: section(text, "profile ci"),
        };
        assert_eq!(p.credentials(), Some(("C".into(), "S".into(), None)));
        assert_eq!(p.region().as_deref(), Some("eu-west-3"));
    }
}
