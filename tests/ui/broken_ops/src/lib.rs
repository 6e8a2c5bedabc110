use chime::prelude::*;

#[chime::operator]
pub async fn fine(ctx: &TaskContext) -> chime::Result<Output> {
    Ok(Output::none())
}

pub fn broken( {
