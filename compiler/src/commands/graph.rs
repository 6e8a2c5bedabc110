//! `chime graph FILE`: the task graph as Mermaid (renders in GitHub
//! markdown) or Graphviz dot. The pipeline is checked first; a graph is
//! only drawn for a valid pipeline.

use std::path::Path;

use super::Error;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pipeline file.
    file: String,
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    format: GraphFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

pub fn run(args: Args) -> Result<(), Error> {
    super::checked(Path::new(&args.file), |analysis| {
        print!("{}", render(&analysis.pipeline, args.format));
        Ok(())
    })
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
