use chime::prelude::*;

#[chime::operator]
pub async fn returns_unit(_ctx: &TaskContext) -> Output {
    Output::none()
}

fn main() {}
