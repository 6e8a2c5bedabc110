//! The run page's drawings, as inline SVG written through maud (every
//! name escaped): the DAG in layers, and a Gantt of the attempts.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset};
use maud::{Markup, html};

use crate::compiled::PipelineDef;
use crate::state::TaskState;
use crate::store::{AttemptRecord, TaskRecord};

/// Past this many tasks the graph is not drawn (`graph` prints it).
const MAX_NODES: usize = 300;
/// Past this many attempts the Gantt shows the first ones only.
const MAX_BARS: usize = 500;

const NODE_W: usize = 180;
const NODE_H: usize = 26;
const COL: usize = NODE_W + 50;
const ROW: usize = NODE_H + 10;

/// The DAG, left to right: each task in the column after its deepest
/// upstream, coloured by its state in this run, linking to its row.
pub(crate) fn graph(def: &PipelineDef, states: &HashMap<&str, &TaskRecord>) -> Markup {
    let n = def.tasks.len();
    if n > MAX_NODES {
        return html! {
            p.note { "The pipeline has " (n) " tasks, too many to draw here: the binary's `graph` command prints it as Mermaid or dot." }
        };
    }
    // Tasks are in topological order: one pass gives each its column.
    let mut layer = vec![0usize; n];
    let mut row = vec![0usize; n];
    let mut rows_in: Vec<usize> = Vec::new();
    for (i, t) in def.tasks.iter().enumerate() {
        layer[i] = t
            .upstream
            .iter()
            .filter(|&&u| u < i)
            .map(|&u| layer[u] + 1)
            .max()
            .unwrap_or(0);
        if rows_in.len() <= layer[i] {
            rows_in.resize(layer[i] + 1, 0);
        }
        row[i] = rows_in[layer[i]];
        rows_in[layer[i]] += 1;
    }
    let width = rows_in.len() * COL + 10;
    let height = rows_in.iter().max().copied().unwrap_or(0) * ROW + 10;
    let pos = |i: usize| (10 + layer[i] * COL, 10 + row[i] * ROW);
    html! {
        div.scroll {
            svg.graph xmlns="http://www.w3.org/2000/svg" width=(width) height=(height) viewBox={"0 0 " (width) " " (height)} role="img" aria-label="the pipeline's tasks and their dependencies" {
                @for (i, t) in def.tasks.iter().enumerate() {
                    @for &u in t.upstream.iter().filter(|&&u| u < i) {
                        @let ((ux, uy), (x, y)) = (pos(u), pos(i));
                        @let (x1, y1, x2, y2) = (ux + NODE_W, uy + NODE_H / 2, x, y + NODE_H / 2);
                        @let mid = (x1 + x2) / 2;
                        path.edge d={"M" (x1) " " (y1) " C" (mid) " " (y1) " " (mid) " " (y2) " " (x2) " " (y2)} {}
                    }
                }
                @for (i, t) in def.tasks.iter().enumerate() {
                    @let (x, y) = pos(i);
                    @let state = states.get(t.id).map_or(TaskState::None, |r| r.state);
                    a href={"#t-" (t.id)} {
                        title { (t.id) ": " (state.as_str()) }
                        rect class={"node s-" (state.as_str())} x=(x) y=(y) width=(NODE_W) height=(NODE_H) rx="4" {}
                        text x=(x + 8) y=(y + 17) { (shorten(t.id, 24)) }
                    }
                }
            }
        }
    }
}

/// `text` cut to `max` characters, with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max - 1).collect();
    s.push('…');
    s
}

const LABEL_W: f64 = 200.0;
const CHART_W: f64 = 760.0;
const BAR_H: usize = 18;

/// The attempts on a time line, one row each, in the order they started;
/// a running attempt reaches to now.
pub(crate) fn gantt(attempts: &[AttemptRecord]) -> Markup {
    let parse = |t: &str| DateTime::parse_from_rfc3339(t).ok();
    let now: DateTime<FixedOffset> = chrono::Utc::now().fixed_offset();
    let mut bars: Vec<(&AttemptRecord, DateTime<FixedOffset>, DateTime<FixedOffset>)> = attempts
        .iter()
        .filter_map(|a| {
            let start = parse(&a.started_at)?;
            let end = a.ended_at.as_deref().and_then(parse).unwrap_or(now);
            Some((a, start, end.max(start)))
        })
        .collect();
    if bars.is_empty() {
        return html! { p.note { "No attempt has started." } };
    }
    bars.sort_by_key(|b| b.1);
    let total = bars.len();
    bars.truncate(MAX_BARS);
    let t0 = bars.iter().map(|b| b.1).min().unwrap_or(now);
    let t1 = bars.iter().map(|b| b.2).max().unwrap_or(now);
    let span = ((t1 - t0).num_milliseconds() as f64).max(1.0);
    let x =
        |t: DateTime<FixedOffset>| LABEL_W + (t - t0).num_milliseconds() as f64 / span * CHART_W;
    let height = bars.len() * (BAR_H + 4) + 24;
    let width = LABEL_W + CHART_W + 10.0;
    html! {
        div.scroll {
            svg.gantt xmlns="http://www.w3.org/2000/svg" width=(width) height=(height) viewBox={"0 0 " (width) " " (height)} role="img" aria-label="the attempts over time" {
                text.axis x=(LABEL_W) y="12" { (t0.to_utc().format("%H:%M:%S")) }
                text.axis x=(LABEL_W + CHART_W) y="12" text-anchor="end" { (t1.to_utc().format("%H:%M:%S")) " (" (format!("{:.1}", span / 1000.0)) "s)" }
                @for (i, (a, start, end)) in bars.iter().enumerate() {
                    @let y = 20 + i * (BAR_H + 4);
                    @let outcome = a.outcome.map_or("running", |o| o.as_str());
                    text x="4" y=(y + 13) { (shorten(&format!("{} #{}", a.task_id, a.attempt), 26)) }
                    rect class={"bar o-" (outcome)} x=(format!("{:.1}", x(*start))) y=(y) width=(format!("{:.1}", (x(*end) - x(*start)).max(2.0))) height=(BAR_H) {
                        title { (a.task_id) " #" (a.attempt) ": " (outcome) ", " (format!("{:.1}", (*end - *start).num_milliseconds() as f64 / 1000.0)) "s" }
                    }
                }
            }
        }
        @if total > MAX_BARS { p.note { "The first " (MAX_BARS) " of " (total) " attempts." } }
    }
}
