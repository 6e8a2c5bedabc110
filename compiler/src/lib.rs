//! chime, the compiler: `chime check`, `build`, `schema`, `graph`, `explain`.

pub mod ast;
pub mod check;
pub mod cli;
pub mod cron;
pub mod diagnostic;
pub mod explain;
pub mod graph;
pub mod json_schema;
pub mod load;
pub mod next;
pub mod render;
pub mod schema;
pub mod source;
pub mod syntax;
