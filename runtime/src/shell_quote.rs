//! POSIX shell quoting for the `sh_quote` template filter (alias `quote`),
//! shared by the runtime's template environment and `chime check`, so the
//! check knows the filter the binary renders with.
//!
//! A value is wrapped in single quotes, inside which `sh` gives no
//! character a meaning (no `$`, no backquote, no backslash escapes); the
//! only character that cannot appear there, `'` itself, is written as
//! `'\''` (close the quotes, an escaped quote, reopen). The result is one
//! word whatever the value holds: `$(touch pwned)`, `;`, newlines, `*`.

/// The names the filter is registered under (both mean the same).
pub const FILTER_NAMES: &[&str] = &["sh_quote", "quote"];

/// `value` as one single-quoted `sh` word.
pub fn sh_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_single_and_embedded_quotes_are_escaped() {
        assert_eq!(sh_quote("kr"), "'kr'");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote("$(touch pwned)"), "'$(touch pwned)'");
    }

    /// Each hostile value, quoted into `printf %s <value>` and run by a real
    /// `sh -c`, comes back byte for byte and runs nothing.
    #[test]
    fn quoted_value_reaches_sh_as_one_literal_word_and_runs_nothing() {
        let dir = std::env::temp_dir().join(format!("chime-sh-quote-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pwned = dir.join("pwned");
        for value in [
            "$(touch pwned)",
            "`touch pwned`",
            "'; touch pwned; '",
            "a'b\"c\\d $HOME * ? \n; touch pwned",
            "'",
            "",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", sh_quote(value)))
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(out.status.success(), "{value:?}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), value);
            assert!(!pwned.exists(), "{value:?} ran a command");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
