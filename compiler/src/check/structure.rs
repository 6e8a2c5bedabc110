//! Walks a YAML tree against a type description ([`runtime::vocabulary::Ty`]):
//! closed keys, value types, required keys.
//!
//! The same walk checks the pipeline's own keys (reported as E002, E003,
//! E004) and an operator's `with:` block (reported as E022, E023, E021), so
//! the two sets of messages read alike.

use runtime::vocabulary::{self, Object, Ty};

pub use super::walk::{Codes, PARAM_CODES, PIPELINE_CODES, Walk};
use super::{missing_key, unknown_key, value_type};
use crate::diagnostic::Diagnostics;
use crate::source::Span;
use crate::syntax::{Node, Value};

/// Checks `node` against `obj`. `owner` is the key the mapping hangs from,
/// where a missing key is reported.
pub fn check_object(
    node: &Node,
    obj: &'static Object,
    owner: Span,
    walk: Walk<'_>,
    diags: &mut Diagnostics,
) {
    let Some(entries) = node.as_map() else {
        value_type::report(node, &Ty::Object(obj), obj.what, walk, diags);
        return;
    };
    for entry in entries {
        let Some(key) = entry.key.as_str() else {
            value_type::report_key(&entry.key, walk, diags);
            continue;
        };
        match obj.field(key) {
            Some(field) => check_value(
                &entry.value,
                &field.ty,
                field.name,
                entry.key.span,
                walk,
                diags,
            ),
            None if obj.open => {}
            None => unknown_key::report(entry, obj, walk, diags),
        }
    }
    for field in obj.fields.iter().filter(|f| f.required) {
        if node.get(field.name).is_none() {
            missing_key::report(field.name, obj, owner, walk, diags);
        }
    }
    for group in obj.exactly_one_of {
        let present: Vec<_> = group.iter().filter_map(|name| node.get(name)).collect();
        match present.as_slice() {
            [] => missing_key::report_one_of(group, obj, owner, walk, diags),
            [_] => {}
            [_, second, ..] => value_type::report_conflict(second, group, walk, diags),
        }
    }
}

/// Checks one value against `ty`. `key` is the key the value hangs from.
pub fn check_value(
    node: &Node,
    ty: &Ty,
    name: &str,
    key: Span,
    walk: Walk<'_>,
    diags: &mut Diagnostics,
) {
    let templated_string = walk.templated && node.as_str().is_some_and(|s| s.contains("{{"));
    let ok = match (ty, &node.value) {
        (Ty::Json, _) => true,
        (Ty::Nullable(_), Value::Null) => true,
        (Ty::Nullable(inner), _) => return check_value(node, inner, name, key, walk, diags),
        (Ty::Either(a, b), _) => {
            let shape_matches = |t: &Ty| match (t, &node.value) {
                (Ty::Object(_) | Ty::Map(_), Value::Map(_)) | (Ty::List(_), Value::Seq(_)) => true,
                (Ty::Object(_) | Ty::Map(_) | Ty::List(_), _) => false,
                (_, Value::Map(_) | Value::Seq(_)) => false,
                _ => true,
            };
            if shape_matches(a) {
                return check_value(node, a, name, key, walk, diags);
            }
            if shape_matches(b) {
                return check_value(node, b, name, key, walk, diags);
            }
            false
        }
        (Ty::String | Ty::Cron | Ty::Timezone | Ty::Date, Value::Str { .. }) => true,
        (Ty::Identifier, Value::Str { text, .. }) => {
            vocabulary::is_identifier(text) || templated_string
        }
        (Ty::TableName, Value::Str { text, .. }) => {
            vocabulary::is_table_name(text) || templated_string
        }
        (Ty::Integer { min }, Value::Int(i)) => i >= min,
        (Ty::Number, Value::Int(_) | Value::Float(_)) => true,
        (Ty::Bool, Value::Bool(_)) => true,
        (Ty::Duration, Value::Str { text, .. }) => {
            vocabulary::parse_duration(text).is_some() || templated_string
        }
        (Ty::Enum(values), Value::Str { text, .. }) => {
            values.contains(&text.as_str()) || templated_string
        }
        (Ty::List(inner), Value::Seq(items)) => {
            for item in items {
                // A mapping in a list reports its missing keys on itself.
                let owner = if item.as_map().is_some() {
                    item.span.start_point()
                } else {
                    key
                };
                check_value(item, inner, name, owner, walk, diags);
            }
            true
        }
        (Ty::Map(inner), Value::Map(entries)) => {
            for entry in entries {
                match (entry.key.as_str(), inner) {
                    (Some(k), Ty::Object(obj)) if entry.value.as_map().is_some() => {
                        let context = format!("{} `{k}`", obj.what);
                        let walk = Walk {
                            context: &context,
                            ..walk
                        };
                        check_object(&entry.value, obj, entry.key.span, walk, diags);
                    }
                    // Named with its mapping: "`db` in `pools`".
                    (Some(k), _) => {
                        let context = nested(name, walk.context);
                        let walk = Walk {
                            context: &context,
                            ..walk
                        };
                        check_value(&entry.value, inner, k, entry.key.span, walk, diags)
                    }
                    (None, _) => value_type::report_key(&entry.key, walk, diags),
                }
            }
            true
        }
        (Ty::Object(obj), Value::Map(_)) => {
            let context = nested(name, walk.context);
            check_object(
                node,
                obj,
                key,
                Walk {
                    context: &context,
                    ..walk
                },
                diags,
            );
            true
        }
        _ => templated_string && !matches!(ty, Ty::List(_) | Ty::Map(_) | Ty::Object(_)),
    };
    if !ok {
        value_type::report(node, ty, name, walk, diags);
    }
}

/// The context of a mapping nested under `name`: "`output` of the `predict`
/// parameters of task `score`"; directly under the pipeline, just "`defaults`".
fn nested(name: &str, parent: &str) -> String {
    if parent == "the pipeline" {
        format!("`{name}`")
    } else {
        format!("`{name}` of {parent}")
    }
}
