use chime::prelude::*;

pub struct Ops;

impl Ops {
    #[chime::operator]
    pub async fn method(&self, _ctx: &TaskContext) -> chime::Result<Output> {
        Ok(Output::none())
    }
}

fn main() {}
