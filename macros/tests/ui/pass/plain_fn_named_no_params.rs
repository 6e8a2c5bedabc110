use chime::prelude::*;

#[chime::operator(name = "ping")]
pub fn ping_operator(_ctx: &TaskContext) -> chime::Result<Output> {
    Ok(Output::none())
}

#[chime::operator]
fn private_blocking(_ctx: &chime::TaskContext, p: std::collections::BTreeMap<String, String>) -> Result<Output> {
    if p.is_empty() { Err("no parameters".into()) } else { Ok(Output::none()) }
}

fn main() {
    assert_eq!(__chime_operator_ping_operator().name, "ping");
    assert_eq!(__chime_operator_private_blocking().name, "private_blocking");
}
