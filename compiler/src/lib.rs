//! chime, the compiler: `chime check`, `build`, `schema`, `graph`, `explain`.

pub mod analysis;
pub mod ast;
pub mod cargo_build;
pub mod check;
pub mod cli;
pub mod codegen;
pub mod commands;
pub mod cron;
pub mod deploy;
pub mod diagnostic;
pub mod discover;
pub mod export;
pub mod ir;
pub mod language;
pub mod load;
pub mod render;
pub mod source;
pub mod syntax;
