//! `chime graph FILE`: the task graph as Mermaid (renders in GitHub
//! markdown) or Graphviz dot. The pipeline is checked first; a graph is
//! only drawn for a valid pipeline.

use std::process::ExitCode;

use crate::cli::GraphFormat;
use crate::diagnostic::Diagnostics;
use crate::source::Sources;

pub fn run(file: &str, format: GraphFormat) -> ExitCode {
    let source = match crate::load::read(std::path::Path::new(file)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut sources = Sources::default();
    let id = sources.add(source);
    let mut diags = Diagnostics::default();
    crate::check::check_file(id, sources.get(id), &mut diags);
    if diags.has_errors() {
        let diags = diags.into_sorted();
        for d in &diags {
            eprintln!("{}\n", crate::render::human(d, &sources, false));
        }
        eprintln!(
            "{}",
            crate::render::human_summary(crate::render::Summary::of(&diags, 1))
        );
        return ExitCode::from(1);
    }
    let mut scratch = Diagnostics::default();
    let text = &sources.get(id).text;
    let Some(root) = crate::syntax::yaml::parse(id, text, &mut scratch).root else {
        return ExitCode::from(1);
    };
    let p = crate::ast::Pipeline::lower(id, &root);
    print!("{}", render(&p, format));
    ExitCode::SUCCESS
}

/// The graph as text; nodes in file order, edges in `depends_on` order.
pub fn render(p: &crate::ast::Pipeline<'_>, format: GraphFormat) -> String {
    let name = p.name.and_then(|n| n.as_str()).unwrap_or("pipeline");
    let label = |t: &crate::ast::Task<'_>| {
        let op = t.operator.and_then(|o| o.as_str()).unwrap_or("?");
        match t.for_each.and_then(|f| f.as_seq()) {
            Some(items) => format!("{} ×{}", op, items.len()),
            None => op.to_string(),
        }
    };
    let mut out = String::new();
    match format {
        GraphFormat::Mermaid => {
            out += &format!("---\ntitle: {name}\n---\nflowchart LR\n");
            for t in &p.tasks {
                out += &format!("    {}[\"{}<br/><i>{}</i>\"]\n", t.id, t.id, label(t));
            }
            for t in &p.tasks {
                for d in &t.depends_on {
                    out += &format!("    {} --> {}\n", d.as_str().unwrap_or_default(), t.id);
                }
            }
        }
        GraphFormat::Dot => {
            out += &format!("digraph {name} {{\n    rankdir=LR;\n    node [shape=box];\n");
            for t in &p.tasks {
                out += &format!("    {} [label=\"{}\\n{}\"];\n", t.id, t.id, label(t));
            }
            for t in &p.tasks {
                for d in &t.depends_on {
                    out += &format!("    {} -> {};\n", d.as_str().unwrap_or_default(), t.id);
                }
            }
            out += "}\n";
        }
    }
    out
}
