//! Mutated pipelines never make `check` panic or hang: whatever the bytes,
//! the result is a list of diagnostics (or none).

use chime_compiler::check::check_file;
use chime_compiler::diagnostic::Diagnostics;
use chime_compiler::render;
use chime_compiler::source::{SourceFile, Sources};
use proptest::prelude::*;

const VALID: &str = include_str!("../../tests/ui/ok_spec_example.yaml");

fn check(text: String) -> usize {
    let mut sources = Sources::default();
    let id = sources.add(SourceFile::new("p.yaml".into(), text));
    let file = sources.get(id);
    let mut diags = Diagnostics::default();
    check_file(id, file, &mut diags);
    let diags = diags.into_sorted();
    // Every diagnostic points inside the file, and renders in every format.
    for d in &diags {
        assert!(
            d.span.end as usize <= file.text.len() && d.span.start <= d.span.end,
            "{d:?}"
        );
        assert!(render::human(d, &sources, false).contains(d.code.as_str()));
        assert!(render::github(d, &sources).starts_with("::"));
    }
    let summary = render::Summary::of(&diags, 1);
    assert!(render::json(&diags, &sources, summary).starts_with("{\"diagnostics\""));
    diags.len()
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    SwapLines(usize, usize),
    ReplaceScalar(usize, String),
    Truncate(usize),
    InsertBytes(usize, Vec<u8>),
    DuplicateLine(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let scalar = prop_oneof![
        Just("".to_string()),
        Just("-1".to_string()),
        Just("[".to_string()),
        Just("{{ tasks.x.output }}".to_string()),
        Just("*alias".to_string()),
        Just("&a [*a]".to_string()),
        Just("\"\\u00e9\"".to_string()),
        "[a-z_{}%|:\\[\\] ]{0,20}",
        any::<i64>().prop_map(|i| i.to_string()),
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), scalar).prop_map(|(l, s)| Mutation::ReplaceScalar(l, s)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(a, b)| Mutation::InsertBytes(a, b)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len();
    if n == 0 {
        return text.to_string();
    }
    match m {
        Mutation::DeleteLine(i) => {
            lines.remove(i % n);
        }
        Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
        Mutation::ReplaceScalar(i, s) => {
            let line = &mut lines[i % n];
            if let Some(colon) = line.find(": ") {
                line.truncate(colon + 2);
                line.push_str(s);
            } else {
                line.push_str(s);
            }
        }
        Mutation::Truncate(at) => {
            let mut t = lines.join("\n");
            let mut cut = at % (t.len() + 1);
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            t.truncate(cut);
            return t;
        }
        Mutation::InsertBytes(at, bytes) => {
            let mut b = lines.join("\n").into_bytes();
            let at = at % (b.len() + 1);
            b.splice(at..at, bytes.iter().copied());
            // check works on text; invalid UTF-8 is refused before parsing.
            return String::from_utf8_lossy(&b).into_owned();
        }
        Mutation::DuplicateLine(i) => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
        }
    }
    lines.join("\n")
}

proptest! {
    // A fixed seed keeps CI deterministic; PROPTEST_CASES=100000 (and a
    // changed seed) hunts further by hand.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400),
        rng_seed: proptest::test_runner::RngSeed::Fixed(
            std::env::var("PROPTEST_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(20261124),
        ),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_pipelines_never_panic(mutations in proptest::collection::vec(mutation(), 1..5)) {
        let mut text = VALID.to_string();
        for m in &mutations {
            text = apply(&text, m);
        }
        check(text);
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,300}") {
        check(text);
    }
}

#[test]
fn the_valid_pipeline_is_valid() {
    assert_eq!(check(VALID.to_string()), 0);
}
