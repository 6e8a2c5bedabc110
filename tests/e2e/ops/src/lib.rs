//! Operators that misbehave on purpose, for the end-to-end tests.

use chime::prelude::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Greet {
    pub who: String,
    pub times: u32,
}

/// Returns a greeting as its output.
#[chime::operator]
pub async fn greet(ctx: &TaskContext, p: Greet) -> chime::Result<Output> {
    ctx.log(format!("greeting {} x{}", p.who, p.times));
    Ok(Output::json(json!({ "text": format!("hello {}", p.who).repeat(p.times as usize) })))
}

/// Always fails, with a message.
#[chime::operator]
pub async fn always_fails(ctx: &TaskContext) -> chime::Result<Output> {
    ctx.log(format!("try {}", ctx.try_number));
    Err(format!("the warehouse refused the load (try {})", ctx.try_number).into())
}

/// Panics.
#[chime::operator]
pub fn panics(_ctx: &TaskContext) -> chime::Result<Output> {
    panic!("index out of range in the scorer")
}

/// Sleeps without looking at its cancellation signal.
#[chime::operator]
pub async fn ignores_cancel(_ctx: &TaskContext) -> chime::Result<Output> {
    tokio_sleep().await;
    Ok(Output::none())
}

/// A plain function blocking its thread, deaf to cancellation too.
#[chime::operator]
pub fn blocks(_ctx: &TaskContext) -> chime::Result<Output> {
    std::thread::sleep(std::time::Duration::from_secs(60));
    Ok(Output::none())
}

async fn tokio_sleep() {
    // A future that never completes on its own, without depending on tokio.
    std::future::pending::<()>().await;
}
