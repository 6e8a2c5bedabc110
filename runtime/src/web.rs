//! URL pieces shared by the status page and the notifications that link
//! to it.

/// The environment variable holding the status page's token (read by the
/// page; a secret of every run the serving process executes).
pub const TOKEN_ENV: &str = "CHIME_UI_TOKEN";

/// A path segment, percent-encoded: everything but RFC 3986's unreserved
/// characters (run ids hold `:` and `+`, task ids `[` and `]`).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_in_paths_are_encoded() {
        assert_eq!(
            super::segment("manual__2026-01-01T00:00:00+01:00"),
            "manual__2026-01-01T00%3A00%3A00%2B01%3A00"
        );
        assert_eq!(super::segment("report[eu]"), "report%5Beu%5D");
    }
}
