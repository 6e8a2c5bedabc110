//! Compile-time behaviour of `#[chime::operator]`: valid signatures expand
//! and register; wrong ones fail with the error on the offending tokens.
//! The `.stderr` files are rustc's output for this machine's toolchain;
//! `TRYBUILD=overwrite cargo test -p chime-macros` refreshes them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
