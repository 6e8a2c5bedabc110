//! The chime runtime: what every emitted pipeline binary links.
//!
//! Today this crate holds the contracts that the compiler and the runtime
//! share: the value types of the pipeline language ([`spec`]) and the
//! parameters of every built-in operator ([`operators`]). The compiler reads
//! them to check `with:` blocks; the executor (a later issue) will read the
//! same tables, so the two can never disagree about an operator's parameters.

pub mod operators;
pub mod spec;
