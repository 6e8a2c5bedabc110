use chime::prelude::*;

#[chime::operator(label = "x")]
pub async fn labelled(_ctx: &TaskContext) -> chime::Result<Output> {
    Ok(Output::none())
}

fn main() {}
