//! docs/checks.md shows, for every code, an example and chime's exact
//! output. This test runs every example again and compares, so the page
//! cannot go stale (regenerate it with `python3 docs/gen_checks.py`).

use std::path::Path;
use std::process::Command;

use chime_compiler::diagnostic::Code;

fn blocks<'a>(section: &'a str, lang: &str) -> Option<&'a str> {
    let open = format!("```{lang}\n");
    let start = section.find(&open)? + open.len();
    let end = section[start..].find("\n```")? + start;
    Some(&section[start..end])
}

#[test]
fn every_example_in_checks_md_gives_the_output_shown() {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/checks.md"))
            .expect("docs/checks.md");
    let dir = std::env::temp_dir().join(format!("chime-docs-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("models")).expect("tmp");
    // The models the E06x examples read (as docs/gen_checks.py's FIXTURES).
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data");
    for (dest, src) in [
        ("churn.onnx", "logreg16.onnx"),
        ("hardmax.onnx", "hardmax.onnx"),
    ] {
        std::fs::copy(data.join(src), dir.join("models").join(dest)).expect("copy a model");
    }
    let mut seen = Vec::new();
    for section in page.split("\n## ").skip(1) {
        let code = &section[..4];
        let heading = section.lines().next().unwrap_or_default();
        let known = Code::parse(code).unwrap_or_else(|| panic!("{code}: not a code"));
        assert_eq!(
            heading,
            format!("{code} {}", known.name()),
            "{code}: the heading's name is not the code's (run python3 docs/gen_checks.py)"
        );
        let yaml = blocks(section, "yaml").unwrap_or_else(|| panic!("{code}: no yaml example"));
        let want = blocks(section, "text").unwrap_or_else(|| panic!("{code}: no output"));
        std::fs::write(dir.join("pipeline.yaml"), format!("{yaml}\n")).expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_chime"))
            .current_dir(&dir)
            .args(["check", "pipeline.yaml", "--color", "never"])
            .output()
            .expect("run chime");
        let got = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            got.trim_end(),
            want,
            "{code}: docs/checks.md is stale; run python3 docs/gen_checks.py"
        );
        assert!(
            got.contains(&format!("[{code}]")),
            "{code}: the example does not show its code"
        );
        seen.push(code.to_string());
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        seen.len(),
        Code::ALL.len(),
        "one section per code: {seen:?}"
    );
}
