//! chime, the compiler: `chime check`, `build`, `schema`, `graph`, `explain`.

pub mod diagnostic;
pub mod source;
pub mod syntax;
