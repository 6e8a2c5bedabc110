//! The generated crate's src/main.rs: the pipeline as `static` data handed
//! to the runtime. Generated with `quote` and formatted with prettyplease.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote};

use crate::ir::{Ir, Task};

fn opt_str(s: &Option<String>) -> TokenStream {
    match s {
        Some(s) => {
            let s = raw(s);
            quote!(Some(#s))
        }
        None => quote!(None),
    }
}

fn opt_u64(v: Option<u64>) -> TokenStream {
    match v {
        Some(v) => {
            let v = Literal::u64_unsuffixed(v);
            quote!(Some(#v))
        }
        None => quote!(None),
    }
}

/// A string literal, raw (`r#"..."#`) when it holds quotes or backslashes,
/// so JSON parameters read as they are.
fn raw(s: &str) -> Literal {
    if !s.contains(['"', '\\']) || s.contains('\r') {
        return Literal::string(s);
    }
    let mut hashes = String::from("#");
    while s.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    format!("r{hashes}\"{s}\"{hashes}")
        .parse()
        .unwrap_or_else(|_| Literal::string(s))
}

/// One `#[doc]` attribute per line, which prettyplease prints as `///` lines.
fn doc_lines(text: &str, inner: bool) -> TokenStream {
    let lines = text.lines().map(|l| format!(" {l}").trim_end().to_string());
    if inner {
        quote!(#(#![doc = #lines])*)
    } else {
        quote!(#(#[doc = #lines])*)
    }
}

/// A variant's name as the generated code spells it (`AllSuccess`).
fn variant(value: impl std::fmt::Debug) -> Ident {
    Ident::new(&format!("{value:?}"), Span::call_site())
}

/// `extract` -> `T0_EXTRACT`; `per_region[kr]` -> `T4_PER_REGION_KR`.
fn const_name(index: usize, task: &Task) -> Ident {
    let mut s: String = task
        .id
        .to_uppercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    format_ident!("T{}_{}", index, s.trim_end_matches('_'))
}

/// `notify:` entries as `rt::NotifyDef` literals.
fn notify_defs(entries: &[crate::ir::Notify]) -> TokenStream {
    let defs = entries.iter().map(|n| {
        let on = n.on.iter().map(|e| variant(*e));
        let channel = variant(n.channel);
        let params = raw(&n.params.to_string());
        quote!(rt::NotifyDef {
            on: &[#(rt::NotifyEvent::#on),*],
            channel: rt::Channel::#channel,
            params: #params,
        })
    });
    quote!(&[#(#defs),*])
}

fn task_const(index: usize, t: &Task, ir: &Ir) -> TokenStream {
    let name = const_name(index, t);
    let mut doc = format!("`{}`: {}", t.id, t.operator);
    if !t.upstream.is_empty() {
        let ups: Vec<&str> = t
            .upstream
            .iter()
            .map(|&u| ir.tasks[u].id.as_str())
            .collect();
        doc += &format!(", after {}", ups.join(", "));
    }
    doc += ".";
    if !t.description.is_empty() {
        doc += &format!("\n\n{}", t.description);
    }
    let (id, group, operator) = (&t.id, &t.group, &t.operator);
    let upstream = t.upstream.iter().map(|&u| Literal::usize_unsuffixed(u));
    let doc = doc_lines(&doc, false);
    let rule = variant(t.trigger_rule);
    let retries = Literal::u32_unsuffixed(t.retries);
    let delay = Literal::u64_unsuffixed(t.retry_delay_ms);
    let backoff = variant(t.retry_backoff);
    let max_delay = opt_u64(t.max_retry_delay_ms);
    let timeout = opt_u64(t.timeout_ms);
    let params = raw(&t.params.to_string());
    let item = opt_str(&t.item.as_ref().map(|i| i.to_string()));
    let notify = notify_defs(&t.notify);
    let when = opt_str(&t.when);
    let expand = match &t.expand {
        Some(e) => {
            let (over, key) = (raw(&e.over), opt_str(&e.key));
            let max = Literal::u32_unsuffixed(e.max_instances);
            quote!(Some(rt::ExpandDef { over: #over, key: #key, max_instances: #max }))
        }
        None => quote!(None),
    };
    let pool = match &t.pool {
        Some((name, size)) => {
            let size = Literal::u32_unsuffixed(*size);
            quote!(Some((#name, #size)))
        }
        None => quote!(None),
    };
    quote! {
        #doc
        const #name: rt::TaskDef = rt::TaskDef {
            id: #id,
            group: #group,
            operator: #operator,
            upstream: &[#(#upstream),*],
            trigger_rule: rt::TriggerRule::#rule,
            retries: #retries,
            retry_delay_ms: #delay,
            retry_backoff: rt::Backoff::#backoff,
            max_retry_delay_ms: #max_delay,
            timeout_ms: #timeout,
            params: #params,
            item: #item,
            when: #when,
            pool: #pool,
            expand: #expand,
            notify: #notify,
        };
    }
}

pub fn render(ir: &Ir, source_name: &str) -> String {
    let consts: Vec<TokenStream> = ir
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| task_const(i, t, ir))
        .collect();
    let names: Vec<Ident> = ir
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| const_name(i, t))
        .collect();
    let (name, description, timezone) = (&ir.name, &ir.description, &ir.timezone);
    let schedule = opt_str(&ir.schedule);
    let start = opt_str(&ir.start_date);
    let end = opt_str(&ir.end_date);
    let catchup = ir.catchup;
    let max_runs = Literal::u32_unsuffixed(ir.max_active_runs);
    let max_tasks = match ir.max_active_tasks {
        Some(m) => {
            let m = Literal::u32_unsuffixed(m);
            quote!(Some(#m))
        }
        None => quote!(None),
    };
    let params = raw(&ir.params.to_string());
    let connections = ir.connections.iter().map(|(k, v)| {
        let v = raw(v);
        quote!((#k, #v))
    });
    let storage = ir.storage.iter().flatten().map(|(k, v)| {
        let v = raw(v);
        quote!((#k, #v))
    });
    let actions = ir.on_failure.iter().map(|(op, p)| {
        let p = raw(&p.to_string());
        quote!(rt::ActionDef { operator: #op, params: #p })
    });
    let notify = notify_defs(&ir.notify);
    let ui_url = opt_str(&ir.ui_url);
    let run_timeout = opt_u64(ir.timeout_ms);
    let sla = match &ir.sla {
        Some((max, finish_by)) => {
            let (max, by) = (opt_u64(*max), opt_str(finish_by));
            quote!(Some(rt::SlaDef { max_duration_ms: #max, finish_by: #by }))
        }
        None => quote!(None),
    };
    let header = doc_lines(
        &format!(
            "The pipeline `{name}`, generated by `chime build` from `{source_name}`.\n\nDo not edit: change the YAML and build again. The binary carries the\nwhole pipeline; run `{name} --help` for its commands.\n\nTasks are listed in dependency order; `upstream` holds the indices of\na task's upstream tasks, `params` its operator's parameters as JSON,\nwhose strings are templates rendered when the task starts."
        ),
        true,
    );
    let pipeline_doc = doc_lines(&format!("`{name}`: {} task(s).", ir.tasks.len()), false);
    let main_fn = if ir.operator_crates.is_empty() {
        quote! {
            fn main() -> std::process::ExitCode {
                rt::main(&PIPELINE, rt::builtins())
            }
        }
    } else {
        // Each custom operator is registered by name, explicitly: no linker tricks.
        let pushes = ir.operator_crates.iter().flat_map(|c| {
            c.descriptors.iter().map(move |d| {
                let path: syn::Path = syn::parse_str(&format!("{}::{d}", c.lib_name))
                    .unwrap_or_else(|_| syn::parse_quote!(invalid_descriptor_path));
                quote!(operators.push(#path());)
            })
        });
        quote! {
            fn main() -> std::process::ExitCode {
                let mut operators = rt::builtins();
                #(#pushes)*
                rt::main(&PIPELINE, operators)
            }
        }
    };
    let file = quote! {
        #header

        use chime::__private as rt;

        #pipeline_doc
        static PIPELINE: rt::PipelineDef = rt::PipelineDef {
            name: #name,
            description: #description,
            schedule: #schedule,
            timezone: #timezone,
            start_date: #start,
            end_date: #end,
            catchup: #catchup,
            max_active_runs: #max_runs,
            max_active_tasks: #max_tasks,
            params: #params,
            connections: &[#(#connections),*],
            storage: &[#(#storage),*],
            on_failure: &[#(#actions),*],
            notify: #notify,
            ui_url: #ui_url,
            timeout_ms: #run_timeout,
            sla: #sla,
            tasks: &[#(#names),*],
        };

        #(#consts)*

        #main_fn
    };
    match syn::parse2::<syn::File>(file.clone()) {
        Ok(f) => spaced(&prettyplease::unparse(&f)),
        // Our own tokens always parse; if not, emit them unformatted so the
        // bug shows in cargo's error rather than as a panic here.
        Err(_) => file.to_string(),
    }
}

/// prettyplease prints items back to back; a blank line after each
/// top-level item reads better.
fn spaced(code: &str) -> String {
    let mut out = String::with_capacity(code.len() + code.len() / 20);
    let mut lines = code.lines().peekable();
    while let Some(line) = lines.next() {
        out.push_str(line);
        out.push('\n');
        let item_end = line == "};" || line == "}" || line.starts_with("use ");
        let header_end =
            line.starts_with("//!") && lines.peek().is_some_and(|n| !n.starts_with("//!"));
        if (item_end || header_end) && lines.peek().is_some() {
            out.push('\n');
        }
    }
    out
}
