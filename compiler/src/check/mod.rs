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

/// A check: its code, a short name (as in `chime explain`), and when it runs.
#[derive(Debug)]
pub struct CheckInfo {
    pub code: Code,
    pub name: &'static str,
    /// `None` for the checks done while loading (E001) and walking the
    /// structure (E002-E004).
    pub run: Option<fn(&Ctx<'_>, &mut Diagnostics)>,
}

/// Every check, in the order they run.
pub const CHECKS: &[CheckInfo] = &[
    CheckInfo {
        code: Code::E001,
        name: "yaml-syntax",
        run: None,
    },
    CheckInfo {
        code: Code::E002,
        name: "unknown-key",
        run: None,
    },
    CheckInfo {
        code: Code::E003,
        name: "wrong-type",
        run: None,
    },
    CheckInfo {
        code: Code::E004,
        name: "missing-key",
        run: None,
    },
    CheckInfo {
        code: Code::E003,
        name: "task-id",
        run: Some(value_type::task_ids),
    },
    CheckInfo {
        code: Code::E003,
        name: "for-each-item",
        run: Some(value_type::for_each_items),
    },
    CheckInfo {
        code: Code::E010,
        name: "duplicate-task",
        run: Some(duplicate_task::run),
    },
    CheckInfo {
        code: Code::E011,
        name: "unknown-dependency",
        run: Some(unknown_dependency::run),
    },
    CheckInfo {
        code: Code::E012,
        name: "dependency-cycle",
        run: Some(dependency_cycle::run),
    },
    CheckInfo {
        code: Code::E020,
        name: "unknown-operator",
        run: Some(unknown_operator::run),
    },
    CheckInfo {
        code: Code::E021,
        name: "operator-params",
        run: Some(operator_params::run),
    },
    CheckInfo {
        code: Code::E030,
        name: "invalid-schedule",
        run: Some(schedule::run),
    },
    CheckInfo {
        code: Code::E031,
        name: "unknown-timezone",
        run: Some(timezone::run),
    },
    CheckInfo {
        code: Code::E032,
        name: "bad-dates",
        run: Some(dates::run),
    },
    CheckInfo {
        code: Code::E040,
        name: "templates",
        run: Some(template::run),
    },
    CheckInfo {
        code: Code::E043,
        name: "unknown-connection",
        run: Some(unknown_connection::run),
    },
    CheckInfo {
        code: Code::E050,
        name: "custom-operator-crate",
        run: Some(custom_crate::run),
    },
    CheckInfo {
        code: Code::E060,
        name: "model-file",
        run: Some(predict_model::run),
    },
    CheckInfo {
        code: Code::E061,
        name: "model-operator",
        run: None,
    },
    CheckInfo {
        code: Code::E062,
        name: "model-inputs",
        run: None,
    },
    CheckInfo {
        code: Code::W001,
        name: "unreachable-task",
        run: Some(unreachable_task::run),
    },
    CheckInfo {
        code: Code::W002,
        name: "template-injection",
        run: Some(template_injection::run),
    },
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
    for check in CHECKS {
        if let Some(run) = check.run {
            run(&ctx, diags);
        }
    }
}
