//! chime, the compiler: `chime check`, `build`, `schema`, `graph`, `explain`.

pub mod diagnostic;
pub mod source;
pub mod syntax;
pub mod ast;
pub mod check;
pub mod cron;
pub mod schema;
pub mod render;
pub mod load;
pub mod cli;
pub mod explain;
pub mod graph;
pub mod json_schema;
pub mod next;
