//! Every check of docs/checks.md, one file each, registered in [`CHECKS`].
//!
//! A file goes through three phases: the YAML loader (E001), the
//! structural walk against `schema.rs` (E002-E004), then the semantic
//! checks below, which see the lowered [`Pipeline`] and the resolved
//! dependency graph. Every check runs on every file and reports every
//! problem it finds; a check whose input is broken by an earlier problem
//! stays quiet rather than reporting a cascade (no cycle search while a
//! dependency is unresolved, no `tasks.X` check while X is unknown).

use std::path::Path;

use crate::ast::Pipeline;
use crate::diagnostic::{Code, Diagnostics};
use crate::schema;
use crate::source::SourceFile;
use crate::syntax::{self, yaml::Duplicate};

pub mod custom_crate;
pub mod dates;
pub mod dependency_cycle;
pub mod duplicate_task;
pub mod missing_key;
pub mod operator_params;
pub mod predict_model;
pub mod schedule;
pub mod structure;
pub mod template;
pub mod template_injection;
pub mod template_syntax;
pub mod template_upstream;
pub mod template_variable;
pub mod timezone;
pub mod unknown_connection;
pub mod unknown_dependency;
pub mod unknown_key;
pub mod unknown_operator;
pub mod unreachable_task;
pub mod value_type;

/// What a semantic check sees.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub pipeline: Pipeline<'a>,
    pub source: &'a SourceFile,
    /// The directory of the pipeline file (custom operator paths are relative to it).
    pub dir: &'a Path,
    pub duplicates: &'a [Duplicate],
    pub graph: Graph,
    /// The crates under `operators:`, read from their sources, in order.
    pub custom: Vec<std::sync::Arc<crate::discover::CrateResult>>,
}

impl Ctx<'_> {
    /// Whether every operator crate could be read (else operator names and
    /// parameters are not checked, to avoid a cascade after E050).
    pub fn custom_ok(&self) -> bool {
        self.custom.iter().all(|c| c.is_ok())
    }

    /// Custom operators of every readable crate.
    pub fn custom_operators(&self) -> impl Iterator<Item = &crate::discover::CustomOperator> {
        self.custom
            .iter()
            .filter_map(|c| c.as_ref().as_ref().ok())
            .flat_map(|c| c.operators.iter())
    }

    /// The parameter contract of operator `name`, built-in or custom.
    pub fn operator_params(&self, name: &str) -> Option<&'static runtime::spec::Object> {
        runtime::operators::builtin(name)
            .map(|o| o.params)
            .or_else(|| {
                self.custom_operators()
                    .find(|o| o.name == name)
                    .map(|o| o.params)
            })
    }
}

/// The dependency graph, by index into `pipeline.tasks`.
#[derive(Debug, Default)]
pub struct Graph {
    /// `upstream[t]`: the tasks `t` depends on that exist, in the order written.
    pub upstream: Vec<Vec<usize>>,
    /// `downstream[t]`: the tasks that depend on `t`, in file order.
    pub downstream: Vec<Vec<usize>>,
    /// Some `depends_on` names no task (cycles are then not searched).
    pub unresolved: bool,
}

impl Graph {
    fn build(pipeline: &Pipeline<'_>) -> Graph {
        let n = pipeline.tasks.len();
        let mut g = Graph {
            upstream: vec![Vec::new(); n],
            downstream: vec![Vec::new(); n],
            unresolved: false,
        };
        // `added[u] == t`: u is already an upstream of t (a linear scan of
        // `upstream[t]` was quadratic for a task with thousands of deps).
        let mut added = vec![usize::MAX; n];
        for (t, task) in pipeline.tasks.iter().enumerate() {
            for dep in &task.depends_on {
                match dep.as_str().and_then(|d| pipeline.task_index.get(d)) {
                    Some(&u) if added[u] != t => {
                        added[u] = t;
                        g.upstream[t].push(u);
                        g.downstream[u].push(t);
                    }
                    Some(_) => {}
                    None => g.unresolved = true,
                }
            }
        }
        g
    }
}

/// A semantic check: the code it reports (names and severities are in
/// [`Code`]'s table) and the function that runs it. E001-E004 are reported
/// while loading and walking the structure; E022, E023, E041, E042, E061
/// and E062 by the function of a related code (E021, E040, E060).
pub type Check = (Code, fn(&Ctx<'_>, &mut Diagnostics));

/// Every semantic check, in the order they run.
pub const CHECKS: &[Check] = &[
    (Code::E003, value_type::task_ids),
    (Code::E003, value_type::for_each_items),
    (Code::E010, duplicate_task::run),
    (Code::E011, unknown_dependency::run),
    (Code::E012, dependency_cycle::run),
    (Code::E020, unknown_operator::run),
    (Code::E021, operator_params::run),
    (Code::E030, schedule::run),
    (Code::E031, timezone::run),
    (Code::E032, dates::run),
    (Code::E040, template::run),
    (Code::E043, unknown_connection::run),
    (Code::E050, custom_crate::run),
    (Code::E060, predict_model::run),
    (Code::W001, unreachable_task::run),
    (Code::W002, template_injection::run),
];

/// Checks one file; every problem goes to `diags`.
pub fn check_file(file: crate::source::FileId, source: &SourceFile, diags: &mut Diagnostics) {
    let doc = syntax::yaml::parse(file, &source.text, diags);
    let Some(root) = &doc.root else {
        if !diags.has(Code::E001) {
            let at = crate::source::Span::new(file, 0..0);
            diags.push(
                crate::diagnostic::Diagnostic::new(Code::E004, at, "the file is empty: missing `pipeline` and `tasks`")
                    .help("start with `pipeline: my_pipeline` and a `tasks:` mapping of at least one task"),
            );
        }
        return;
    };
    let root_span = root.span.start_point();
    let walk = structure::Walk {
        codes: structure::PIPELINE_CODES,
        templated: false,
        context: "the pipeline",
    };
    structure::check_object(root, &schema::PIPELINE, root_span, walk, diags);
    if root.as_map().is_none() {
        return;
    }
    let pipeline = Pipeline::lower(file, root);
    let graph = Graph::build(&pipeline);
    let dir = Path::new(&source.path).parent().unwrap_or(Path::new("."));
    let custom = pipeline
        .operator_crates
        .iter()
        .filter_map(|n| n.as_str())
        .map(|path| crate::discover::discover(&dir.join(path)))
        .collect();
    let ctx = Ctx {
        pipeline,
        source,
        dir,
        duplicates: &doc.duplicates,
        graph,
        custom,
    };
    for (_, run) in CHECKS {
        run(&ctx, diags);
    }
}
