use chime::prelude::*;

#[chime::operator]
pub async fn generic<P: serde::de::DeserializeOwned>(_ctx: &TaskContext, _p: P) -> chime::Result<Output> {
    Ok(Output::none())
}

fn main() {}
