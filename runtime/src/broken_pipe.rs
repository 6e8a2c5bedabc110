//! `chime explain | head -3` or `dist/p runs | head`: when the reader of
//! stdout goes away, the command stops quietly, as Unix tools do, instead
//! of panicking in `println!` ("failed printing to stdout: Broken pipe").
//! Rust ignores SIGPIPE, so the write fails with EPIPE and `println!`
//! panics; a panic hook turns that one panic into exit status 141 (what a
//! shell reports for a process killed by SIGPIPE). Every other panic goes
//! to the default hook.

/// Installs the hook (once, at the start of `main`).
pub fn exit_quietly() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
