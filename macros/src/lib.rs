//! chime macros.
