//! E040 template-syntax: a template MiniJinja cannot parse, with the caret
//! on the line of the template where it failed (inside block scalars too).

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::syntax::Node;
use crate::syntax::locate::locate;

pub fn report(ctx: &Analysis<'_>, node: &Node, err: &minijinja::Error, diags: &mut Diagnostics) {
    let text = node.as_str().unwrap_or_default();
    let range = err.range().filter(|r| {
        r.end <= text.len() && text.is_char_boundary(r.start) && text.is_char_boundary(r.end)
    });
    let range = range.or_else(|| {
        // No range: point at the start of the reported line.
        let line = err.line()?.checked_sub(1)?;
        let start: usize = text.split('\n').take(line).map(|l| l.len() + 1).sum();
        let len = text.get(start..)?.split('\n').next()?.len();
        Some(start..start + len)
    });
    let span = range.map_or(node.span, |r| locate(&ctx.source.text, node, r));
    let detail = err
        .detail()
        .map_or_else(|| err.kind().to_string(), str::to_string);
    diags.push(
        Diagnostic::new(Code::E040, span, format!("template syntax error: {detail}"))
            .label("MiniJinja could not parse this")
            .help("templates use {{ expression }} and {% statement %}; write {{ '{{' }} for a literal `{{`"),
    );
}
