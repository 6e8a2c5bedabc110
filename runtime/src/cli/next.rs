//! `next`: the next fire times and the data intervals they run.

use std::io::Write;
use std::process::ExitCode;

use chrono::format::StrftimeItems;

use super::error::CliResult;
use super::launch::schedule;
use crate::compiled::PipelineDef;
use crate::scheduler::Clock;

/// `next [--count N]`.
pub fn next(def: &PipelineDef, count: usize, quiet: bool, clock: &dyn Clock) -> CliResult {
    let s = schedule(def)?;
    let intervals = s.upcoming(clock.now(), count);
    if quiet {
        // Compute only (the benchmark of fire times without printing them).
        println!("{} intervals", intervals.len());
        return Ok(ExitCode::SUCCESS);
    }
    // Formats parsed once, output buffered: 100,000 lines stay cheap.
    let fire = StrftimeItems::new("%Y-%m-%d %H:%M %Z").parse()?;
    let minute = StrftimeItems::new("%Y-%m-%d %H:%M").parse()?;
    let day = StrftimeItems::new("%Y-%m-%d").parse()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in intervals {
        let _ = writeln!(
            out,
            "{}  runs the interval {} .. {}  (logical date {})",
            i.end.format_with_items(fire.iter()),
            i.start.format_with_items(minute.iter()),
            i.end.format_with_items(minute.iter()),
            i.start.format_with_items(day.iter())
        );
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}
