//! How a structural walk reports: which codes its three kinds of problem
//! go under, and the words it names the owner with. Shared by the walk
//! (`structure.rs`) and the reports of E002-E004 and E021-E023.

use crate::diagnostic::Code;

/// Which codes a walk reports its three kinds of problem under.
#[derive(Debug, Clone, Copy)]
pub struct Codes {
    pub unknown: Code,
    pub wrong_type: Code,
    pub missing: Code,
}

pub const PIPELINE_CODES: Codes = Codes {
    unknown: Code::E002,
    wrong_type: Code::E003,
    missing: Code::E004,
};
pub const PARAM_CODES: Codes = Codes {
    unknown: Code::E022,
    wrong_type: Code::E023,
    missing: Code::E021,
};

/// One walk's settings.
#[derive(Debug, Clone, Copy)]
pub struct Walk<'d> {
    pub codes: Codes,
    /// Strings here are templates: a string with `{{` may stand for a
    /// number, boolean or duration, since it is only known after rendering.
    pub templated: bool,
    /// A word for the owner in messages ("task `extract`", "`shell` parameters").
    pub context: &'d str,
}
