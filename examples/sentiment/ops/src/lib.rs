//! Custom operators of the daily sentiment batch.

use chime::prelude::*;

pub mod lexicon;

/// Parameters of `score_reviews`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreParams {
    /// CSV of reviews, with a header: `id,day,text`.
    pub input: String,
    /// Score only the reviews of this day (usually `{{ ds }}`).
    pub day: String,
    /// The connection of the table the scores go to.
    pub connection: String,
    /// The table: `ds, id, score, label`, one row per review; the day's
    /// rows are replaced, so re-running a day never duplicates them.
    pub table: String,
    /// Scores at or above this are `positive`, at or below its negation `negative`.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// Stop after this many reviews (all when absent).
    pub limit: Option<u32>,
}

fn default_threshold() -> f64 {
    0.25
}

/// Scores each review of the day with a sentiment lexicon (negations flip
/// the next word) and writes one row per review to a table, with chime's
/// row writer (one transaction: a failure leaves the table as it was).
#[chime::operator]
pub fn score_reviews(ctx: &TaskContext, p: ScoreParams) -> chime::Result<Output> {
    use chime::rows::{Cell, Destination, Mode, Writer};
    let text = std::fs::read_to_string(&p.input).map_err(|e| format!("reading {}: {e}", p.input))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        if p.limit.is_some_and(|l| rows.len() as u32 >= l) {
            break;
        }
        let mut fields = line.splitn(3, ',');
        let (Some(id), Some(day), Some(review)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(format!("{} line {}: expected `id,day,text`", p.input, n + 1).into());
        };
        if day != p.day {
            continue;
        }
        let score = lexicon::score(review.trim_matches('"'));
        let label = if score >= p.threshold {
            "positive"
        } else if score <= -p.threshold {
            "negative"
        } else {
            "neutral"
        };
        rows.push((id.to_string(), score, label));
    }
    let target = Destination::Table { connection: p.connection.clone(), table: p.table.clone(), mode: Mode::ReplacePartition };
    let columns = vec!["id".to_string(), "score".to_string(), "label".to_string()];
    let mut writer = Writer::open(&target, &ctx.pool, columns, &p.day)?;
    let cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|(id, score, label)| {
            let id = id.parse().map_or_else(|_| Cell::Text(id.clone()), Cell::Int);
            vec![id, Cell::Float((score * 1000.0).round() / 1000.0), Cell::Text(label.to_string())]
        })
        .collect();
    writer.write(&cells)?;
    writer.finish()?;
    let count = rows.len();
    let positive = rows.iter().filter(|r| r.2 == "positive").count();
    let negative = rows.iter().filter(|r| r.2 == "negative").count();
    let mean = if count == 0 { 0.0 } else { rows.iter().map(|r| r.1).sum::<f64>() / count as f64 };
    ctx.log(format!("scored {count} reviews: {positive} positive, {negative} negative, mean {mean:.3}"));
    Ok(Output::json(json!({
        "count": count,
        "positive": positive,
        "negative": negative,
        "mean": (mean * 1000.0).round() / 1000.0,
    })))
}

/// Parameters of `check_quality`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityParams {
    /// Fail when fewer reviews than this were scored.
    pub min_count: u32,
    /// The number scored (usually `{{ tasks.score.output.count }}`).
    pub count: String,
}

/// Fails the run when the day's batch is too small to trust.
#[chime::operator]
pub async fn check_quality(_ctx: &TaskContext, p: QualityParams) -> chime::Result<Output> {
    let count: u32 = p.count.trim().parse().map_err(|_| format!("`count` is not a number: {}", p.count))?;
    if count < p.min_count {
        return Err(format!("only {count} reviews scored, fewer than {}", p.min_count).into());
    }
    Ok(Output::json(json!({ "ok": true })))
}
