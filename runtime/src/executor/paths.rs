//! Ids as names of files and folders under `logs/`.

/// A run or task id as one file name under `logs/`: `/`, `\\`, control
/// characters and a leading `.` are written as `%XX`, so no id (a
/// `for_each` item, say) can name a path outside its folder.
pub fn path_component(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for (i, c) in id.chars().enumerate() {
        let unsafe_char = matches!(c, '/' | '\\' | '%') || c.is_control() || (i == 0 && c == '.');
        if unsafe_char {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::path_component;

    /// Issue 11, item 5: ids become one path component under `logs/`.
    #[test]
    fn ids_cannot_name_paths_outside_the_log_folder() {
        assert_eq!(path_component("../../etc/x"), "%2E.%2F..%2Fetc%2Fx");
        assert_eq!(path_component(".."), "%2E.");
        assert_eq!(path_component("a\\b\nc"), "a%5Cb%0Ac");
        assert_eq!(path_component(""), "%00");
        assert_eq!(path_component("per_region[kr]"), "per_region[kr]");
        assert_eq!(
            path_component("manual__2026-11-24T00:00:00+00:00"),
            "manual__2026-11-24T00:00:00+00:00"
        );
    }
}
