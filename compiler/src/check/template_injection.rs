//! W002 template-injection: a value chime does not control is rendered into
//! the text of a shell command or of SQL (GitHub's "script injection",
//! actionlint's `expression` rule).
//!
//! Trusted: the YAML itself and what the runtime computes from the
//! schedule (`ds`, `ds_nodash`, `ts`, `logical_date`, the data interval,
//! `run_id`). Untrusted: `params.*` (set with `--param`), `tasks.X.output`
//! (whatever an upstream task printed), `env.*`, and `item`. Rendered raw
//! into `sh -c` text, `$(...)` or `'; ...` in such a value runs; rendered
//! into SQL text, a `'` ends the literal.
//!
//! The sinks: `shell`'s `command`, `sql`'s `query`, `wait_for`'s `sql` and
//! `predict`'s `input.sql` (in tasks and `on_failure` actions). For a
//! shell command, an expression whose last filter is `sh_quote` (or
//! `quote`) is safe; SQL must bind values with `args:` instead.
//!
//! Not reported in a file that has errors. Templates are read lexically, tag by tag: a variable bound by `{% set %}`,
//! `{% with %}` or `{% for %}` from an untrusted value is untrusted too
//! (quoted if its value was quoted), in file order, without scopes.

use rustc_hash::FxHashMap as HashMap;

use crate::analysis::Analysis;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::syntax::locate::locate;
use crate::syntax::{Entry, Node};

/// Where a rendered value ends up: what the operator's contract says its
/// text is run as (`OperatorSpec::code`).
type Sink = runtime::operators::Language;

/// The untrusted roots of the template context, and what to call them.
const UNTRUSTED: &[(&str, &str)] = &[
    ("params", "a run parameter, set with `--param`"),
    ("tasks", "an upstream task's output"),
    ("env", "an environment variable"),
    ("item", "a `for_each` item"),
];

pub fn run(ctx: &Analysis<'_>, diags: &mut Diagnostics) {
    let p = &ctx.pipeline;
    // Like W001, quiet until the file's errors are fixed: a misspelt
    // variable (E041) or a broken template (E040) would be reported twice.
    if diags.has_errors_in(p.file) {
        return;
    }
    let tasks = p.tasks.iter().map(|t| (t.operator, t.with));
    let actions = p.on_failure.iter().map(|a| (a.operator, a.with));
    for (operator, with) in tasks.chain(actions) {
        let (Some(operator), Some(with)) = (operator.and_then(Node::as_str), with) else {
            continue;
        };
        let code = runtime::operators::builtin(operator).map_or(&[][..], |o| o.code);
        for &(path, sink) in code {
            if let Some(node) = lookup(with, path) {
                check_template(ctx, operator, path, node, sink, diags);
            }
        }
    }
}

fn lookup<'a>(with: &'a Entry, path: &[&str]) -> Option<&'a Node> {
    let mut node = &with.value;
    for key in path {
        node = &node.get(key)?.value;
    }
    node.as_str().is_some().then_some(node)
}

fn check_template(
    ctx: &Analysis<'_>,
    operator: &str,
    path: &[&str],
    node: &Node,
    sink: Sink,
    diags: &mut Diagnostics,
) {
    let Some(text) = node.as_str() else { return };
    if !(text.contains("{{") || text.contains("{%")) {
        return;
    }
    // A template that does not parse is E040's.
    if minijinja::Environment::new()
        .template_from_str(text)
        .is_err()
    {
        return;
    }
    let param = path.join(".");
    for found in scan(text) {
        if sink == Sink::Shell && found.quoted {
            continue;
        }
        let origin = UNTRUSTED
            .iter()
            .find(|(root, _)| *root == found.root)
            .map_or("a value set outside the pipeline", |(_, what)| *what);
        let var = &text[found.range.clone()];
        let what = if var.split('.').next() == Some(found.root.as_str()) {
            origin.to_string()
        } else {
            format!("bound from `{}`: {origin}", found.root)
        };
        // An environment variable is in the command's environment already.
        let shell_env = match var.strip_prefix("env.") {
            Some(name) if !name.contains('.') => format!(
                "write \"${name}\" in the command instead (the variable is in its environment already)"
            ),
            _ => format!(
                "pass it through the task's environment (`env: {{ VALUE: \"{{{{ {var} }}}}\" }}` and \"$VALUE\" in the command)"
            ),
        };
        let span = locate(&ctx.source.text, node, found.range.clone());
        let d = match sink {
            Sink::Shell => Diagnostic::new(
                Code::W002,
                span,
                format!("`{var}` ({what}) is rendered unquoted into a shell command"),
            )
            .label("runs as shell code if it holds `$(...)`, `;` or a quote")
            .help(format!(
                "{shell_env}, or pass it as an argument with `argv: [...]` instead of `command:` (no shell), or quote it: `{{{{ {var} | sh_quote }}}}`"
            )),
            Sink::SqlWithArgs => Diagnostic::new(
                Code::W002,
                span,
                format!("`{var}` ({what}) is rendered into SQL text"),
            )
            .label("a `'` in it ends the string and the rest runs as SQL")
            .help(format!(
                "bind it instead: write `?` (SQLite) or `$1` (PostgreSQL) in the query and `args: [\"{{{{ {var} }}}}\"]`; quoting does not make SQL text safe"
            )),
            Sink::Sql => Diagnostic::new(
                Code::W002,
                span,
                format!("`{var}` ({what}) is rendered into SQL text"),
            )
            .label("a `'` in it ends the string and the rest runs as SQL")
            .help(format!(
                "`{operator}` cannot bind values: use only the YAML's own text and dates (`ds`, ...) in `{param}`, or select the rows in a `sql` task that binds the value with `args:`"
            )),
        };
        diags.push(d);
    }
}

/// An untrusted reference rendered by a `{{ ... }}` expression.
#[derive(Debug, PartialEq, Eq)]
struct Found {
    /// `params.x`, `tasks.a.output.rows`: from the root to its last `.name`.
    range: std::ops::Range<usize>,
    /// The untrusted root it comes from (`params`, ... or a bound variable's root).
    root: String,
    /// The expression's last filter is `sh_quote`/`quote` (or the variable
    /// was bound to such an expression).
    quoted: bool,
}

/// Every untrusted reference that `{{ ... }}` expressions of `text` render.
fn scan(text: &str) -> Vec<Found> {
    // bound variable -> (its untrusted root, whether its value was quoted)
    let mut tainted: HashMap<String, (String, bool)> = HashMap::default();
    for &(root, _) in UNTRUSTED {
        tainted.insert(root.to_string(), (root.to_string(), false));
    }
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(open) = text[at..].find('{').map(|i| at + i) {
        let kind = text.as_bytes().get(open + 1).copied();
        let close_mark = match kind {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            Some(b'#') => {
                at = text[open + 2..]
                    .find("#}")
                    .map_or(text.len(), |i| open + 2 + i + 2);
                continue;
            }
            _ => {
                at = open + 1;
                continue;
            }
        };
        let body_start = open + 2;
        let tokens = tokenize(text, body_start, close_mark);
        let body_end = tokens.end;
        at = (body_end + 2).min(text.len());
        let toks = &tokens.list;
        if kind == Some(b'{') {
            let quoted = ends_quoted(text, toks);
            for (range, root) in references(text, toks, &tainted) {
                let (origin, var_quoted) = &tainted[&root];
                found.push(Found {
                    range,
                    root: origin.clone(),
                    quoted: quoted || *var_quoted,
                });
            }
        } else {
            let word = |t: &Tok| match t.kind {
                Kind::Ident => Some(&text[t.range.clone()]),
                _ => None,
            };
            match toks.first().and_then(word) {
                Some("raw") => {
                    at = text[at..].find("endraw").map_or(text.len(), |i| at + i);
                }
                Some("for") => {
                    let in_at = toks
                        .iter()
                        .position(|t| t.depth == 0 && word(t) == Some("in"));
                    if let Some(in_at) = in_at {
                        let iterable = &toks[in_at + 1..];
                        bind(text, &toks[1..in_at], iterable, &mut tainted);
                    }
                }
                Some("set") | Some("with") => {
                    // `set a = expr`, `with a = expr, b = expr`: every
                    // target takes the taint of the whole tag.
                    let targets: Vec<Tok> = toks
                        .windows(2)
                        .filter(|w| w[0].kind == Kind::Ident && w[1].kind == Kind::Assign)
                        .map(|w| w[0].clone())
                        .collect();
                    let value_from = toks
                        .iter()
                        .position(|t| t.kind == Kind::Assign)
                        .map_or(toks.len(), |i| i + 1);
                    bind(text, &targets, &toks[value_from..], &mut tainted);
                }
                _ => {}
            }
        }
    }
    found
}

/// Marks `targets` untrusted when `value` reads an untrusted variable.
fn bind(text: &str, targets: &[Tok], value: &[Tok], tainted: &mut HashMap<String, (String, bool)>) {
    let refs = references(text, value, tainted);
    let Some((_, root)) = refs.first() else {
        return;
    };
    let (origin, var_quoted) = tainted[root].clone();
    let quoted = var_quoted || ends_quoted(text, value);
    for t in targets.iter().filter(|t| t.kind == Kind::Ident) {
        tainted.insert(text[t.range.clone()].to_string(), (origin.clone(), quoted));
    }
}

/// References to untrusted variables: a name not after `.` (an attribute),
/// `|` (a filter), `is` (a test), nor before `=` (a keyword argument).
/// Each comes with the name of the variable.
fn references(
    text: &str,
    toks: &[Tok],
    tainted: &HashMap<String, (String, bool)>,
) -> Vec<(std::ops::Range<usize>, String)> {
    let mut refs = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if t.kind != Kind::Ident {
            continue;
        }
        let name = &text[t.range.clone()];
        if !tainted.contains_key(name) {
            continue;
        }
        let prev = i.checked_sub(1).map(|p| &toks[p]);
        if prev.is_some_and(|p| {
            matches!(p.kind, Kind::Dot | Kind::Pipe)
                || (p.kind == Kind::Ident && &text[p.range.clone()] == "is")
        }) || toks.get(i + 1).is_some_and(|n| n.kind == Kind::Assign)
        {
            continue;
        }
        // Extend over `.name` attributes.
        let mut end = t.range.end;
        let mut j = i + 1;
        while j + 1 < toks.len() && toks[j].kind == Kind::Dot && toks[j + 1].kind == Kind::Ident {
            end = toks[j + 1].range.end;
            j += 2;
        }
        refs.push((t.range.start..end, name.to_string()));
    }
    refs
}

/// Whether the expression's value is the output of `sh_quote`/`quote`:
/// its last top-level filter is one of them and nothing outside brackets
/// (an operator, `~`, `if`) combines it with another value.
fn ends_quoted(text: &str, toks: &[Tok]) -> bool {
    let top: Vec<&Tok> = toks.iter().filter(|t| t.depth == 0).collect();
    let Some(last_pipe) = top.iter().rposition(|t| t.kind == Kind::Pipe) else {
        return false;
    };
    let filter = top.get(last_pipe + 1);
    let is_quote = filter.is_some_and(|f| {
        f.kind == Kind::Ident
            && runtime::shell_quote::FILTER_NAMES.contains(&&text[f.range.clone()])
    });
    let after = top.get(last_pipe + 2..).unwrap_or(&[]);
    let args_only = after
        .iter()
        .all(|t| matches!(t.kind, Kind::Open | Kind::Close));
    let plain = top.iter().all(|t| match t.kind {
        Kind::Op | Kind::Assign | Kind::Comma => false,
        Kind::Ident => !matches!(
            &text[t.range.clone()],
            "if" | "else" | "and" | "or" | "not" | "in" | "is"
        ),
        _ => true,
    });
    is_quote && args_only && plain
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    Literal,
    Dot,
    Pipe,
    Assign,
    Comma,
    Open,
    Close,
    Op,
}

#[derive(Debug, Clone)]
struct Tok {
    kind: Kind,
    range: std::ops::Range<usize>,
    /// Bracket depth (an opening bracket has its outer depth).
    depth: usize,
}

struct Tokens {
    list: Vec<Tok>,
    /// Where the closing mark starts (or the end of the text).
    end: usize,
}

/// The tokens of a tag's body, from `start` to the closing `close` mark.
fn tokenize(text: &str, start: usize, close: &str) -> Tokens {
    let b = text.as_bytes();
    let mut list = Vec::new();
    let mut depth = 0usize;
    let mut i = start;
    // Whitespace control: `{{-`, `{%+`.
    if matches!(b.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    while i < b.len() {
        let c = b[i];
        // Inside a `{...}` literal, `}}` closes the literal, not the tag.
        let may_close = depth == 0 || close != "}}";
        if may_close
            && (text[i..].starts_with(close)
                || (matches!(c, b'-' | b'+') && text[i + 1..].starts_with(close)))
        {
            return Tokens {
                list,
                end: if c == b'-' || c == b'+' { i + 1 } else { i },
            };
        }
        let from = i;
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'\'' | b'"' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(b.len());
                Kind::Literal
            }
            b'0'..=b'9' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                {
                    i += 1;
                }
                Kind::Literal
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                Kind::Ident
            }
            b'.' => {
                i += 1;
                Kind::Dot
            }
            b'|' => {
                i += 1;
                Kind::Pipe
            }
            b',' => {
                i += 1;
                Kind::Comma
            }
            b'(' | b'[' | b'{' => {
                i += 1;
                list.push(Tok {
                    kind: Kind::Open,
                    range: from..i,
                    depth,
                });
                depth += 1;
                continue;
            }
            b')' | b']' | b'}' => {
                i += 1;
                depth = depth.saturating_sub(1);
                Kind::Close
            }
            b'=' if b.get(i + 1) != Some(&b'=') => {
                i += 1;
                Kind::Assign
            }
            _ => {
                // Operators, one or two characters; any other byte (UTF-8
                // included) as one operator up to the next char boundary.
                i += 1;
                while i < b.len() && !text.is_char_boundary(i) {
                    i += 1;
                }
                if matches!(b.get(i), Some(b'=' | b'*' | b'/'))
                    && matches!(c, b'=' | b'!' | b'<' | b'>' | b'*' | b'/')
                {
                    i += 1;
                }
                Kind::Op
            }
        };
        list.push(Tok {
            kind,
            range: from..i,
            depth,
        });
    }
    Tokens { list, end: b.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(text: &str) -> Vec<(&str, bool)> {
        scan(text)
            .into_iter()
            .map(|f| (&text[f.range], f.quoted))
            .collect()
    }

    #[test]
    fn untrusted_values_are_found_and_trusted_ones_are_not() {
        assert_eq!(
            seen(
                "echo {{ ds }} {{ params.region }} {{ tasks.a.output.rows }} {{ env.HOME }} {{ item }}"
            ),
            [
                ("params.region", false),
                ("tasks.a.output.rows", false),
                ("env.HOME", false),
                ("item", false)
            ]
        );
        assert_eq!(
            seen("echo {{ ds | ds_add(1) }} {{ run_id }} {{ 'params' }}"),
            []
        );
        assert_eq!(
            seen("{# {{ params.x }} #} {% raw %}{{ params.y }}{% endraw %}"),
            []
        );
    }

    #[test]
    fn sh_quote_as_last_filter_quotes_the_whole_expression() {
        assert_eq!(seen("x {{ params.a | sh_quote }}"), [("params.a", true)]);
        assert_eq!(
            seen("x {{- params.a | default('x') | quote -}}"),
            [("params.a", true)]
        );
        assert_eq!(
            seen("x {{ (params.a ~ item) | sh_quote }}"),
            [("params.a", true), ("item", true)]
        );
        // The filter binds tighter than `~`: only the literal is quoted.
        assert_eq!(
            seen("x {{ params.a ~ 'b' | sh_quote }}"),
            [("params.a", false)]
        );
        assert_eq!(
            seen("x {{ params.a | sh_quote | upper }}"),
            [("params.a", false)]
        );
        assert_eq!(
            seen("x {{ params.a if item else 'b' | sh_quote }}"),
            [("params.a", false), ("item", false)]
        );
    }

    #[test]
    fn variables_bound_from_untrusted_values_are_untrusted() {
        assert_eq!(
            seen("{% for r in params.regions %}{{ r }} {{ loop.index }}{% endfor %}"),
            [("r", false)]
        );
        assert_eq!(
            seen("{% set t = tasks.a.output | sh_quote %}echo {{ t }}"),
            [("t", true)]
        );
        assert_eq!(seen("{% set t = ds %}echo {{ t }}"), []);
        assert_eq!(
            seen("{% with x = env.A %}{{ x.y }}{% endwith %}"),
            [("x.y", false)]
        );
    }

    #[test]
    fn filter_names_tests_and_attributes_are_not_variables() {
        assert_eq!(
            seen("{{ ds | item }} {{ ds is params }} {{ ds.item }} {{ f(item=1) }}"),
            []
        );
        assert_eq!(seen("{{ '}}' ~ item }}"), [("item", false)]);
    }
}
