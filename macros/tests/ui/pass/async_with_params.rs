use chime::prelude::*;

#[derive(Deserialize)]
pub struct Params {
    pub window_days: u32,
}

/// Builds features.
#[chime::operator]
pub async fn build_features(ctx: &TaskContext, p: Params) -> chime::Result<Output> {
    ctx.log(format!("window {}", p.window_days));
    Ok(Output::json(json!({ "days": p.window_days })))
}

fn main() {
    let op = __chime_operator_build_features();
    assert_eq!(op.name, "build_features");
}
