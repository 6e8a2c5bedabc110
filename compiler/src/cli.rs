//! The `chime` command line.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::check;
use crate::diagnostic::Diagnostics;
use crate::load;
use crate::render::{self, Format, Summary};
use crate::source::Sources;

#[derive(Debug, Parser)]
#[command(
    name = "chime",
    version,
    about = "Compile declarative pipeline.yaml files into standalone batch-pipeline binaries"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate pipelines: every problem in every file, with its line (no build, no cargo).
    Check(CheckArgs),
    /// Compile a pipeline into one standalone binary (DIR/<pipeline>, DIR defaults to ./dist).
    Build(BuildArgs),
    /// Start a project: DIR/pipeline.yaml and, with --ops, a crate of custom operators.
    Init {
        /// Where to write (default: the current directory).
        #[arg(default_value = ".")]
        dir: std::path::PathBuf,
        /// Also write ops/, a crate with one example #[chime::operator].
        #[arg(long)]
        ops: bool,
    },
    /// Print the JSON Schema (draft-07) of pipeline.yaml, for editors.
    Schema,
    /// Print a pipeline's task graph as Mermaid or Graphviz dot.
    Graph {
        /// The pipeline file.
        file: String,
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Explain a diagnostic code (E012, W001, ...), or list them all.
    Explain {
        /// The code; omit it to list every code.
        code: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
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

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The pipeline file.
    pub file: String,
    /// Where the binary goes (with --emit-crate-only: where the crate goes).
    #[arg(short = 'o', long = "out", default_value = "dist")]
    pub out: std::path::PathBuf,
    /// Write the generated crate and stop: no cargo.
    #[arg(long)]
    pub emit_crate_only: bool,
    /// The shared target directory (default: $CHIME_TARGET_DIR or ~/.cache/chime/target).
    #[arg(long)]
    pub target_dir: Option<std::path::PathBuf>,
    /// The chime-runtime crate to link (default: $CHIME_RUNTIME or the one beside this chime's sources).
    #[arg(long)]
    pub runtime: Option<std::path::PathBuf>,
    /// Also write deployment files beside the binary: a systemd unit, or Kubernetes manifests.
    #[arg(long, value_enum)]
    pub deploy: Option<crate::deploy::Deploy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

/// Exit statuses (docs/checks.md): 0 no errors, 1 errors found, 2 bad usage or unreadable input.
const EXIT_ERRORS: u8 = 1;
const EXIT_USAGE: u8 = 2;

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    match cli.command {
        Command::Check(args) => run_check(args),
        Command::Build(args) => crate::build_cmd::run(args),
        Command::Init { dir, ops } => crate::init::run(&dir, ops),
        Command::Schema => {
            println!("{}", crate::json_schema::pipeline_schema());
            ExitCode::SUCCESS
        }
        Command::Graph { file, format } => crate::graph::run(&file, format),
        Command::Explain { code } => crate::explain::run(code.as_deref()),
    }
}

fn run_check(args: CheckArgs) -> ExitCode {
    let (paths, mut input_errors) = load::expand(&args.paths);
    let mut sources = Sources::default();
    let mut diags = Diagnostics::default();
    for path in &paths {
        match load::read(path) {
            Ok(file) => {
                let id = sources.add(file);
                check::check_file(id, sources.get(id), &mut diags);
            }
            Err(e) => input_errors.push(e),
        }
    }
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
            Some(Err(e)) => {
                let _ = writeln!(err, "error: --now: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        };
        for i in 0..sources.len() {
            let _ = write!(out, "{}", crate::next::describe(sources.get(i), n, now));
        }
    }
    if !input_errors.is_empty() || paths.is_empty() {
        ExitCode::from(EXIT_USAGE)
    } else if summary.errors > 0 {
        ExitCode::from(EXIT_ERRORS)
    } else {
        ExitCode::SUCCESS
    }
}
