//! Secrets: what a run must never print or store, and how it hides them.
//!
//! A run's secrets are the values of the environment variables its
//! `connections:`, `on_failure:` and `http`/`wait_for` templates read, and
//! the passwords of its rendered connections (URL `user:password@`,
//! `?password=`, libpq `password=` quoted or not). Each is hidden, in every
//! form it can be printed in, wherever chime prints or stores text: the
//! console, task logs, `show`, error messages and the state file.
//!
//! Forms: the raw value, JSON-escaped (a `"` or `\` in it), percent-encoded
//! (as in a URL, either case of hex digit), form-encoded (`+` for space).
//! Every secret is hidden whatever its length: a one-character password
//! makes logs hard to read, never leaks.
//!
//! Outputs are stored *sealed*: each secret in an output's strings is
//! replaced by a marker naming the secret and its form (`\u{E000}secret:NAME
//! :form\u{E001}`), which `show` prints as `***` and a resumed run (or
//! `task`) turns back into the current value, so downstream tasks receive
//! the real output, never `***`. Markers an untrusted output carries itself
//! are neutralised before sealing, so no task can make chime expand a
//! secret it never had.

use std::sync::Arc;

/// What replaces a secret in printed text.
pub const MASK: &str = "***";

const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// The ways a value is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Raw,
    Json,
    Percent,
    PercentLower,
    Plus,
    PlusLower,
}

impl Form {
    const ALL: [Form; 6] = [
        Form::Raw,
        Form::Json,
        Form::Percent,
        Form::PercentLower,
        Form::Plus,
        Form::PlusLower,
    ];

    fn name(self) -> &'static str {
        match self {
            Form::Raw => "raw",
            Form::Json => "json",
            Form::Percent => "url",
            Form::PercentLower => "url-lower",
            Form::Plus => "form",
            Form::PlusLower => "form-lower",
        }
    }

    fn parse(name: &str) -> Option<Form> {
        Form::ALL.into_iter().find(|f| f.name() == name)
    }

    fn encode(self, v: &str) -> String {
        match self {
            Form::Raw => v.to_string(),
            Form::Json => {
                let quoted = serde_json::to_string(v).unwrap_or_default();
                quoted[1..quoted.len().saturating_sub(1).max(1)].to_string()
            }
            Form::Percent => percent(v, false, true),
            Form::PercentLower => percent(v, false, false),
            Form::Plus => percent(v, true, true),
            Form::PlusLower => percent(v, true, false),
        }
    }
}

fn percent(v: &str, plus: bool, upper: bool) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' if plus => out.push('+'),
            _ if upper => out.push_str(&format!("%{b:02X}")),
            _ => out.push_str(&format!("%{b:02x}")),
        }
    }
    out
}

#[derive(Debug)]
struct Entry {
    /// The environment variable or connection it came from (not secret).
    name: String,
    value: String,
}

/// One printed form of a secret, longest first in [`Secrets`].
#[derive(Debug)]
struct Printed {
    text: String,
    entry: usize,
    form: Form,
}

/// The values a run must not show, with the forms they print in.
#[derive(Debug, Default, Clone)]
pub struct Secrets(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    entries: Vec<Entry>,
    printed: Vec<Printed>,
}

impl Secrets {
    /// Secrets from values alone (named by their position).
    pub fn new(values: Vec<String>) -> Secrets {
        Secrets::named(
            values
                .into_iter()
                .enumerate()
                .map(|(i, v)| (format!("#{i}"), v))
                .collect(),
        )
    }

    /// Secrets with names: `(env var or connection, value)`.
    pub fn named(pairs: Vec<(String, String)>) -> Secrets {
        let mut entries: Vec<Entry> = Vec::new();
        for (name, value) in pairs {
            if value.is_empty() || entries.iter().any(|e| e.value == value) {
                continue;
            }
            entries.push(Entry { name, value });
        }
        let mut printed = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let mut seen: Vec<String> = Vec::new();
            for form in Form::ALL {
                let text = form.encode(&e.value);
                if !text.is_empty() && !seen.contains(&text) {
                    seen.push(text.clone());
                    printed.push(Printed {
                        text,
                        entry: i,
                        form,
                    });
                }
            }
        }
        // Longest first: a secret that contains another is replaced whole.
        printed.sort_by_key(|p| std::cmp::Reverse(p.text.len()));
        Secrets(Arc::new(Inner { entries, printed }))
    }

    /// Whether there is nothing to hide.
    pub fn is_empty(&self) -> bool {
        self.0.entries.is_empty()
    }

    /// The values (for a connection pool that renders messages).
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.0.entries.iter().map(|e| e.value.as_str())
    }

    /// `text` with every secret, in every form, replaced by `***`; sealed
    /// markers print as `***` too.
    pub fn redact<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        let hit = self.0.printed.iter().any(|p| text.contains(&p.text));
        if !hit && !text.contains(OPEN) {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut out = mask_sealed(text).into_owned();
        for p in &self.0.printed {
            if out.contains(&p.text) {
                out = out.replace(&p.text, MASK);
            }
        }
        std::borrow::Cow::Owned(out)
    }

    /// An output for the state: each secret in its strings replaced by a
    /// marker [`Secrets::unseal`] expands again. Markers the output carried
    /// itself are neutralised first.
    pub fn seal(&self, value: &serde_json::Value) -> serde_json::Value {
        map_strings(value, &|s| {
            let mut out = s.replace([OPEN, CLOSE], "\u{FFFD}");
            for p in &self.0.printed {
                if out.contains(&p.text) {
                    let e = &self.0.entries[p.entry];
                    let marker = format!("{OPEN}secret:{}:{}{CLOSE}", e.name, p.form.name());
                    out = out.replace(&p.text, &marker);
                }
            }
            out
        })
    }

    /// A stored output with its markers turned back into the current
    /// values of the secrets (`***` for a secret this run does not have).
    pub fn unseal(&self, value: &serde_json::Value) -> serde_json::Value {
        map_strings(value, &|s| {
            replace_markers(s, |name, form| {
                let e = self.0.entries.iter().find(|e| e.name == name)?;
                Some(Form::parse(form)?.encode(&e.value))
            })
        })
    }
}

/// Text (stored output, a line) with sealed markers shown as `***`.
pub fn mask_sealed(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(OPEN) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(replace_markers(text, |_, _| None))
}

/// Replaces each `OPEN secret:NAME:FORM CLOSE` by `with(NAME, FORM)`, or
/// `***` when that gives `None`.
fn replace_markers(s: &str, with: impl Fn(&str, &str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(OPEN) {
        out.push_str(&rest[..i]);
        let after = &rest[i + OPEN.len_utf8()..];
        let Some(j) = after.find(CLOSE) else {
            out.push_str(MASK);
            rest = "";
            break;
        };
        let body = &after[..j];
        let value = body
            .strip_prefix("secret:")
            .and_then(|b| b.rsplit_once(':'))
            .and_then(|(name, form)| with(name, form));
        out.push_str(value.as_deref().unwrap_or(MASK));
        rest = &after[j + CLOSE.len_utf8()..];
    }
    out.push_str(rest);
    out
}

fn map_strings(v: &serde_json::Value, f: &dyn Fn(&str) -> String) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(f(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| map_strings(x, f)).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| (f(k), map_strings(x, f))).collect())
        }
        other => other.clone(),
    }
}

/// The URL (or libpq key=value string) with its password hidden (for
/// messages): the userinfo's password up to the last `@`, `password=`
/// query parameters, libpq's `password=` value quoted or not.
pub fn redact_url(url: &str) -> String {
    let mut hide: Vec<std::ops::Range<usize>> = Vec::new();
    if let Some(i) = url.find("://") {
        let start = i + 3;
        let rest = &url[start..];
        if let (Some(colon), Some(at)) = (rest.find(':'), rest.rfind('@'))
            && colon < at
            && !rest[..colon].contains('/')
        {
            hide.push(start + colon + 1..start + at);
        }
        if let Some(q) = rest.find('?') {
            let mut pos = start + q + 1;
            for kv in url[pos..].split('&') {
                if let Some(v) = kv.strip_prefix("password=") {
                    let v = v.split('#').next().unwrap_or(v);
                    hide.push(pos + 9..pos + 9 + v.len());
                }
                pos += kv.len() + 1;
            }
        }
    } else {
        hide.extend(
            libpq_pairs(url)
                .into_iter()
                .filter(|(k, _, _)| k == "password")
                .map(|(_, _, r)| r),
        );
    }
    hide.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(url.len());
    let mut at = 0;
    for r in hide {
        if r.start < at || r.end > url.len() || r.start > r.end {
            continue;
        }
        out.push_str(&url[at..r.start]);
        out.push_str(MASK);
        at = r.end;
    }
    out.push_str(&url[at..]);
    out
}

/// The password of a connection URL, if it has one.
pub fn password_of(url: &str) -> Option<String> {
    passwords_of(url).into_iter().next()
}

/// Every value that may be a connection string's password: in a URL, the
/// userinfo's password (for each `@` a raw `@` in it might end at, since
/// such a URL is ambiguous), percent-decoded too, and `password=` query
/// parameters; in a libpq key=value string, `password` bare or quoted.
pub fn passwords_of(url: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |p: &str| {
        for v in [p.to_string(), crate::pg_options::percent_decode(p)] {
            if !v.is_empty() && !out.contains(&v) {
                out.push(v);
            }
        }
    };
    if let Some((_, rest)) = url.split_once("://") {
        // user:password@host, where the password may hold raw `@`s.
        if let Some(colon) = rest.find(':') {
            let first_at = rest.find('@');
            if first_at.is_some_and(|a| colon < a) {
                let ats: Vec<usize> = rest
                    .match_indices('@')
                    .map(|(i, _)| i)
                    .filter(|&i| i > colon)
                    .collect();
                // The last `@` first: the likeliest end of the password.
                for &at in ats.iter().rev() {
                    add(&rest[colon + 1..at]);
                }
            }
        }
        // ?password=... / &password=...
        if let Some((_, query)) = rest.split_once('?') {
            for kv in query.split('&') {
                if let Some(("password", v)) = kv.split_once('=') {
                    add(v.split('#').next().unwrap_or(v));
                }
            }
        }
        return out;
    }
    for (k, v, _) in libpq_pairs(url) {
        if k == "password" {
            add(&v);
        }
    }
    out
}

/// The `key=value` pairs of a libpq connection string, with the byte
/// range of each value as written; values bare or in single quotes with
/// `\'` and `\\` escapes.
fn libpq_pairs(s: &str) -> Vec<(String, String, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    let skip_ws = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
    };
    loop {
        skip_ws(&mut chars);
        let mut key = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        skip_ws(&mut chars);
        match chars.peek() {
            None => return out,
            Some(&(_, '=')) => {
                chars.next();
            }
            Some(_) => continue,
        }
        skip_ws(&mut chars);
        let start = chars.peek().map_or(s.len(), |&(i, _)| i);
        let mut value = String::new();
        let quoted = chars.peek().is_some_and(|&(_, c)| c == '\'');
        if quoted {
            chars.next();
        }
        while let Some(&(_, c)) = chars.peek() {
            if !quoted && c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(n);
                    }
                }
                '\'' if quoted => break,
                c => value.push(c),
            }
        }
        let end = chars.peek().map_or(s.len(), |&(i, _)| i);
        out.push((key, value, start..end));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(values: &[&str]) -> Secrets {
        Secrets::named(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("S{i}"), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn secrets_are_hidden_in_every_form_they_print_in() {
        let sec = s(&[r#"p"a\ss w@rd"#]);
        let json = serde_json::to_string(&json!({"token": r#"p"a\ss w@rd"#})).unwrap();
        assert_eq!(sec.redact(&json), r#"{"token":"***"}"#, "JSON-escaped");
        assert_eq!(sec.redact(r#"raw p"a\ss w@rd end"#), "raw *** end");
        assert_eq!(
            sec.redact("url ?t=p%22a%5Css%20w%40rd&x=1"),
            "url ?t=***&x=1",
            "percent-encoded"
        );
        assert_eq!(sec.redact("form p%22a%5css+w%40rd"), "form ***");
        assert_eq!(sec.redact("p%22a%5Css+w%40rd"), "***");
    }

    #[test]
    fn short_secrets_are_hidden_too() {
        assert_eq!(s(&["ab"]).redact("xaby"), "x***y");
        assert_eq!(s(&["z"]).redact("z"), "***");
    }

    #[test]
    fn connection_passwords_are_found_in_every_spelling() {
        let pw = |u: &str| passwords_of(u);
        assert!(pw("postgres://u:hunter22@h/db").contains(&"hunter22".to_string()));
        // A raw `@` in the password: the part after it is still hidden.
        let raw_at = "postgres://u:p@ss!word@h:5432/db";
        assert!(
            pw(raw_at).contains(&"p@ss!word".to_string()),
            "{:?}",
            pw(raw_at)
        );
        assert_eq!(redact_url(raw_at), "postgres://u:***@h:5432/db");
        // ?password=
        let q = "postgresql://u@h/db?sslmode=disable&password=s3cr%3Dt";
        assert!(pw(q).contains(&"s3cr=t".to_string()), "{:?}", pw(q));
        assert_eq!(
            redact_url(q),
            "postgresql://u@h/db?sslmode=disable&password=***"
        );
        // libpq, quoted with a space and escapes.
        let kv = r"host=h password='a b\'c' user=u";
        assert_eq!(pw(kv), ["a b'c"]);
        assert_eq!(redact_url(kv), "host=h password=*** user=u");
        assert_eq!(
            s(&["a b'c"]).redact("error: password a b'c rejected"),
            "error: password *** rejected"
        );
        assert_eq!(pw("host=h password=x user=u"), ["x"]);
        assert!(pw("host=h user=u").is_empty());
    }

    #[test]
    fn sealed_outputs_show_masked_and_unseal_to_the_real_value() {
        let sec = s(&["tok\"en"]);
        let out = json!({"url": "https://x/?k=tok%22en", "raw": "tok\"en", "n": 3});
        let sealed = sec.seal(&out);
        let text = sealed.to_string();
        assert!(!text.contains("tok"), "{text}");
        assert_eq!(
            mask_sealed(&text),
            r#"{"n":3,"raw":"***","url":"https://x/?k=***"}"#
        );
        assert_eq!(sec.unseal(&sealed), out, "downstream gets the real output");
        // A run without the secret shows *** rather than the marker.
        assert_eq!(Secrets::default().unseal(&sealed)["raw"], json!("***"));
    }

    #[test]
    fn an_output_cannot_forge_a_marker_to_read_a_secret() {
        let sec = s(&["hunter22"]);
        let forged = json!(format!("{OPEN}secret:S0:raw{CLOSE}"));
        let sealed = sec.seal(&forged);
        assert_eq!(sec.unseal(&sealed), json!("\u{FFFD}secret:S0:raw\u{FFFD}"));
    }
}
