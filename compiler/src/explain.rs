//! `chime explain CODE`: the documentation of a check, taken from
//! `docs/checks.md` (compiled in), so the page and the command agree.

use std::process::ExitCode;

use crate::diagnostic::Code;

const CHECKS_MD: &str = include_str!("../../docs/checks.md");

/// The section of docs/checks.md about `code`: from its `## CODE` heading
/// to the next `## ` heading.
pub fn section(code: Code) -> Option<&'static str> {
    let heading = format!("\n## {}", code.as_str());
    let start = CHECKS_MD.find(&heading)? + 1;
    let end = CHECKS_MD[start + 3..]
        .find("\n## ")
        .map_or(CHECKS_MD.len(), |i| start + 3 + i + 1);
    Some(CHECKS_MD[start..end].trim_end())
}

pub fn run(code: Option<&str>) -> ExitCode {
    let Some(text) = code else {
        for c in Code::ALL {
            println!("{} {}", c.as_str(), c.name());
        }
        return ExitCode::SUCCESS;
    };
    match Code::parse(text).and_then(section) {
        Some(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("error: no check has the code `{text}`; `chime explain` lists them all");
            ExitCode::from(2)
        }
    }
}
