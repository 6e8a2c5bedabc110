//! E031 unknown-timezone: `timezone` must be an IANA name (chrono-tz's
//! database), with the nearest name as help.

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    let Some(entry) = ctx.pipeline.timezone else {
        return;
    };
    let Some(name) = entry.value.as_str() else {
        return;
    };
    if name.parse::<chrono_tz::Tz>().is_ok() {
        return;
    }
    let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    let exact_case = names.clone().find(|n| n.eq_ignore_ascii_case(name));
    let help = exact_case
        .map(|n| format!("time zone names are case-sensitive: `{n}`"))
        .or_else(|| crate::diagnostic::nearest(name, names).map(|n| format!("did you mean `{n}`?")))
        .unwrap_or_else(|| "use an IANA name such as `UTC`, `Europe/Paris` or `Asia/Seoul`".into());
    diags.push(
        Diagnostic::new(
            Code::E031,
            entry.value.span,
            format!("unknown time zone `{name}`"),
        )
        .label("not an IANA time zone name")
        .help(help),
    );
}
