//! `graph` and `describe`: the compiled pipeline, as a picture or as JSON.

use std::process::ExitCode;

use clap::ValueEnum;

use super::error::CliResult;
use crate::compiled::PipelineDef;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

/// `graph [--format mermaid|dot]`: the DAG.
pub fn graph(def: &PipelineDef, format: GraphFormat) -> CliResult {
    let mut out = String::new();
    match format {
        GraphFormat::Mermaid => {
            out += "flowchart LR\n";
            for (i, t) in def.tasks.iter().enumerate() {
                out += &format!("    t{i}[\"{}<br/><i>{}</i>\"]\n", t.id, t.operator);
            }
            for (i, t) in def.tasks.iter().enumerate() {
                for u in t.upstream {
                    out += &format!("    t{u} --> t{i}\n");
                }
            }
        }
        GraphFormat::Dot => {
            out += &format!(
                "digraph {} {{\n    rankdir=LR;\n    node [shape=box];\n",
                def.name
            );
            for t in def.tasks {
                out += &format!("    \"{}\" [label=\"{}\\n{}\"];\n", t.id, t.id, t.operator);
            }
            for t in def.tasks {
                for &u in t.upstream {
                    out += &format!("    \"{}\" -> \"{}\";\n", def.tasks[u].id, t.id);
                }
            }
            out += "}\n";
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// `describe`: the compiled pipeline as JSON.
pub fn describe(def: &PipelineDef) -> CliResult {
    let tasks: Vec<serde_json::Value> = def
        .tasks
        .iter()
        .map(|t| {
            let mut task = serde_json::json!({
                "id": t.id,
                "group": t.group,
                "operator": t.operator,
                "upstream": t.upstream.iter().map(|&u| def.tasks[u].id).collect::<Vec<_>>(),
                "trigger_rule": t.trigger_rule.as_str(),
                "retries": t.retries,
                "retry_delay_ms": t.retry_delay_ms,
                "timeout_ms": t.timeout_ms,
                "params": serde_json::from_str::<serde_json::Value>(t.params).unwrap_or_default(),
                "item": t.item.and_then(|i| serde_json::from_str::<serde_json::Value>(i).ok()),
            });
            // Issue 17's keys, where a task has them.
            if let Some(when) = t.when {
                task["when"] = serde_json::json!(when);
            }
            if let Some((pool, size)) = t.pool {
                task["pool"] = serde_json::json!({ "name": pool, "size": size });
            }
            if let Some(ex) = &t.expand {
                task["for_each"] = serde_json::json!({
                    "over": ex.over,
                    "instance_key": ex.key,
                    "max_instances": ex.max_instances,
                });
            }
            task
        })
        .collect();
    let v = serde_json::json!({
        "pipeline": def.name,
        "description": def.description,
        "schedule": def.schedule,
        "timezone": def.timezone,
        "start_date": def.start_date,
        "end_date": def.end_date,
        "catchup": def.catchup,
        "max_active_runs": def.max_active_runs,
        "max_active_tasks": def.max_active_tasks,
        "params": serde_json::from_str::<serde_json::Value>(def.params).unwrap_or_default(),
        "tasks": tasks,
    });
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}
