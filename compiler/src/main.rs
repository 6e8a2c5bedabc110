//! `chime`: parse the command line, run, map the outcome to an exit status.
//! Everything else lives in the library (`cli.rs`).

fn main() -> std::process::ExitCode {
    runtime::broken_pipe::exit_quietly();
    chime_compiler::cli::main()
}
