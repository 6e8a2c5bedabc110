//! chime, the compiler: `chime check`, `build`, `schema`, `graph`, `explain`.

pub mod ast;
pub mod build_cmd;
pub mod cargo_build;
pub mod check;
pub mod checked;
pub mod cli;
pub mod codegen;
pub mod cron;
pub mod deploy;
pub mod diagnostic;
pub mod discover;
pub mod explain;
pub mod graph;
pub mod init;
pub mod ir;
pub mod json_schema;
pub mod load;
pub mod next;
pub mod render;
pub mod schema;
pub mod source;
pub mod syntax;
