use chime::prelude::*;

#[chime::operator]
pub async fn no_context(p: u32) -> chime::Result<Output> {
    let _ = p;
    Ok(Output::none())
}

fn main() {
    // The function is still emitted: this call type-checks.
    let _ = no_context(1);
}
