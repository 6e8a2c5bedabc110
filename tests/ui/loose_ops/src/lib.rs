//! Operators whose parameter structs do not say `deny_unknown_fields`
//! (for tests/ui/e021_e022_loose_operator_params.yaml). Never built.
use chime::prelude::*;

#[derive(Deserialize)]
pub struct ScaleParams {
    pub factor: f64,
    pub offset: Option<f64>,
    #[serde(default)]
    pub verbose: bool,
}

#[chime::operator]
pub async fn scale(ctx: &TaskContext, p: ScaleParams) -> chime::Result<Output> {
    Ok(Output::none())
}

#[derive(Deserialize)]
pub struct TagParams {
    pub name: String,
    /// Every other key is a tag.
    #[serde(flatten)]
    pub tags: std::collections::BTreeMap<String, String>,
}

#[chime::operator]
pub async fn tag(ctx: &TaskContext, p: TagParams) -> chime::Result<Output> {
    Ok(Output::none())
}
