//! The `chime` command line: parses the arguments, runs one command
//! (`commands/`), and alone turns its error into a message and an exit
//! status.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{self, build, check, explain, export, graph, init};

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
    Check(check::Args),
    /// Compile a pipeline into one standalone binary (DIR/<pipeline>, DIR defaults to ./dist).
    Build(build::Args),
    /// Write the pipeline for an existing engine: `export airflow FILE` (an Airflow 3 DAG), `export argo FILE` (an Argo CronWorkflow).
    Export(export::Args),
    /// Start a project: DIR/pipeline.yaml and, with --ops, a crate of custom operators.
    Init(init::Args),
    /// Print the JSON Schema (draft-07) of pipeline.yaml, for editors.
    Schema,
    /// Print a pipeline's task graph as Mermaid or Graphviz dot.
    Graph(graph::Args),
    /// Explain a diagnostic code (E012, W001, ...), or list them all.
    Explain(explain::Args),
}

/// Exit statuses (docs/checks.md): 0 no errors, 1 errors found, 2 bad usage
/// or unreadable input.
const EXIT_USAGE: u8 = 2;

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Build(args) => build::run(args),
        Command::Export(args) => export::run(args),
        Command::Init(args) => init::run(args),
        Command::Schema => commands::schema::run(),
        Command::Graph(args) => graph::run(args),
        Command::Explain(args) => explain::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.reported() {
                eprintln!("error: {e}");
            }
            ExitCode::from(e.exit_status())
        }
    }
}
