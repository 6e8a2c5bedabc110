//! Every check of docs/checks.md, one file each, registered in [`CHECKS`].
//!
//! A file goes through three phases: the YAML loader (E001), the
//! structural walk against `language.rs` (E002-E004), then the semantic
//! checks below, which see the file's [`Analysis`]: the lowered pipeline,
//! the resolved dependency graph and the operator crates. Every check runs on every file and reports every
//! problem it finds; a check whose input is broken by an earlier problem
//! stays quiet rather than reporting a cascade (no cycle search while a
//! dependency is unresolved, no `tasks.X` check while X is unknown).

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostics};
use crate::discover::Crates;
use crate::language;
use crate::source::{FileId, SourceFile};
use crate::syntax::{self, yaml::Document};

pub mod condition;
pub mod custom_crate;
pub mod dates;
pub mod deadline;
pub mod dependency_cycle;
pub mod duplicate_task;
pub mod dynamic_for_each;
pub mod missing_key;
pub mod notify;
pub mod operator_params;
pub mod pool;
pub mod predict_model;
pub mod schedule;
pub mod structure;
pub mod template;
pub mod template_injection;
pub mod template_reference;
pub mod template_syntax;
pub mod template_upstream;
pub mod template_variable;
pub mod timezone;
pub mod unknown_connection;
pub mod unknown_dependency;
pub mod unknown_key;
pub mod unknown_operator;
pub mod unreachable_task;
pub mod url;
pub mod value_type;
pub mod walk;

/// A semantic check: the code it reports (names and severities are in
/// [`Code`]'s table) and the function that runs it. E001-E004 are reported
/// while loading and walking the structure; E022, E023, E041, E042, E061
/// and E062 by the function of a related code (E021, E040, E060).
pub type Check = (Code, fn(&Analysis<'_>, &mut Diagnostics));

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
    (Code::E044, url::run),
    (Code::E045, notify::run),
    (Code::E046, deadline::run),
    (Code::E047, condition::run),
    (Code::E048, pool::run),
    (Code::E049, dynamic_for_each::run),
    (Code::E050, custom_crate::run),
    (Code::E060, predict_model::run),
    (Code::W001, unreachable_task::run),
    (Code::W002, template_injection::run),
];

/// Parses and checks one file; every problem goes to `diags`.
pub fn check_file(file: FileId, source: &SourceFile, diags: &mut Diagnostics) {
    let doc = syntax::yaml::parse(file, &source.text, diags);
    analyse(file, source, &doc, &mut Crates::default(), diags);
}

/// Checks a parsed file: the structural walk (E002-E004), then every
/// semantic check on its [`Analysis`], which it hands back for the
/// commands that go on (`build`, `graph`, `--next`). `None` when the file
/// has no mapping at its top to analyse.
pub fn analyse<'a>(
    file: FileId,
    source: &'a SourceFile,
    doc: &'a Document,
    crates: &mut Crates,
    diags: &mut Diagnostics,
) -> Option<Analysis<'a>> {
    let Some(root) = &doc.root else {
        if !diags.has(Code::E001) {
            missing_key::report_empty_file(file, diags);
        }
        return None;
    };
    let root_span = root.span.start_point();
    let walk = walk::Walk {
        codes: walk::PIPELINE_CODES,
        templated: false,
        context: "the pipeline",
    };
    structure::check_object(root, &language::PIPELINE, root_span, walk, diags);
    root.as_map()?;
    let analysis = Analysis::new(file, source, doc, root, crates);
    for (_, run) in CHECKS {
        run(&analysis, diags);
    }
    Some(analysis)
}
