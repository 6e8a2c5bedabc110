//! `chime explain CODE`: the documentation of a check, taken from
//! `docs/checks.md` (compiled in), so the page and the command agree.

use super::Error;
use crate::diagnostic::Code;

const CHECKS_MD: &str = include_str!("../../../docs/checks.md");

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

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The code; omit it to list every code.
    code: Option<String>,
}

pub fn run(args: Args) -> Result<(), Error> {
    let Some(text) = args.code else {
        for c in Code::ALL {
            println!("{} {}", c.as_str(), c.name());
        }
        return Ok(());
    };
    let s = Code::parse(&text).and_then(section).ok_or_else(|| {
        Error::Usage(format!(
            "no check has the code `{text}`; `chime explain` lists them all"
        ))
    })?;
    println!("{s}");
    Ok(())
}
