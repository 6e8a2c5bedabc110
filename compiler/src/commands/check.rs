//! `chime check`: every problem in every file, with its line; no build, no
//! cargo. With `--next N`, also the next fire times of each valid schedule.

use std::io::{IsTerminal, Write};

use super::Error;
use crate::diagnostic::Diagnostics;
use crate::discover::Crates;
use crate::load;
use crate::render::{self, Format, Summary};
use crate::source::Sources;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files, directories (every *.yaml/*.yml under them) or glob patterns.
    #[arg(default_value = "pipeline.yaml")]
    paths: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Colour the human format: auto (when stderr is a terminal), always, never.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
    /// Also print the next N fire times of each valid schedule, in its time zone.
    #[arg(long, value_name = "N")]
    next: Option<usize>,
    /// The instant `--next` counts from (RFC 3339); default now. For tests.
    #[arg(long, hide = true)]
    now: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

pub fn run(args: Args) -> Result<(), Error> {
    let (paths, mut input_errors) = load::expand(&args.paths);
    let mut sources = Sources::default();
    for path in &paths {
        match load::read(path) {
            Ok(file) => {
                sources.add(file);
            }
            Err(e) => input_errors.push(e),
        }
    }
    let mut diags = Diagnostics::default();
    let docs: Vec<_> = (0..sources.len())
        .map(|id| crate::syntax::yaml::parse(id, &sources.get(id).text, &mut diags))
        .collect();
    let mut crates = Crates::default();
    let analyses: Vec<_> = docs
        .iter()
        .enumerate()
        .map(|(id, doc)| crate::check::analyse(id, sources.get(id), doc, &mut crates, &mut diags))
        .collect();
    let diags = diags.into_sorted();
    let summary = Summary::of(&diags, sources.len());
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for e in &input_errors {
        let _ = writeln!(err, "error: {e}");
    }
    match args.format {
        Format::Human => {
            for d in &diags {
                let _ = writeln!(err, "{}\n", render::human(d, &sources, color));
            }
            let _ = writeln!(err, "{}", render::human_summary(summary));
        }
        Format::Json => {
            let _ = writeln!(out, "{}", render::json(&diags, &sources, summary));
        }
        Format::Github => {
            for d in &diags {
                let _ = writeln!(out, "{}", render::github(d, &sources));
            }
        }
    }
    if let Some(n) = args.next {
        let now = match args
            .now
            .as_deref()
            .map(chrono::DateTime::parse_from_rfc3339)
        {
            None => chrono::Utc::now(),
            Some(Ok(t)) => t.with_timezone(&chrono::Utc),
            Some(Err(e)) => return Err(Error::Usage(format!("--now: {e}"))),
        };
        for analysis in analyses.iter().flatten() {
            let _ = write!(out, "{}", super::next::describe(analysis, n, now));
        }
    }
    if !input_errors.is_empty() || paths.is_empty() {
        Err(Error::Unreadable)
    } else if summary.errors > 0 {
        Err(Error::Invalid)
    } else {
        Ok(())
    }
}
