//! `chime schema`: JSON Schema (draft-07, what yaml-language-server reads)
//! generated from the same tables the checks use (`language.rs` and the
//! runtime's operator contracts), so editors flag what `check` flags.

use runtime::vocabulary::{Object, Ty};
use serde_json::{Map, Value, json};

use crate::language::{PIPELINE, TASK};

const TEMPLATE_PATTERN: &str = "\\{\\{";

pub fn run() -> Result<(), super::Error> {
    println!("{}", pipeline_schema());
    Ok(())
}

/// The JSON Schema of pipeline.yaml, pretty-printed.
pub fn pipeline_schema() -> String {
    let mut root = object(&PIPELINE, false);
    root["$schema"] = json!("http://json-schema.org/draft-07/schema#");
    root["$id"] = json!("https://chime.dev/schema/pipeline.json");
    root["title"] = json!("chime pipeline.yaml");
    // `tasks`: ids as property names, each task checked against its operator.
    let mut task = object(&TASK, false);
    let mut by_operator = Vec::new();
    for op in runtime::operators::BUILTINS {
        by_operator.push(json!({
            "if": { "properties": { "operator": { "const": op.name } }, "required": ["operator"] },
            "then": { "properties": { "with": object(op.params, true) } }
        }));
    }
    task["allOf"] = Value::Array(by_operator);
    root["properties"]["tasks"] = json!({
        "type": "object",
        "description": "The tasks, by id ([a-z][a-z0-9_]{0,62}).",
        "propertyNames": { "pattern": "^[a-z][a-z0-9_]{0,62}$" },
        "additionalProperties": task,
        "minProperties": 1
    });
    // Serialising a serde_json::Value cannot fail.
    serde_json::to_string_pretty(&root).unwrap_or_default()
}

fn object(obj: &Object, templated: bool) -> Value {
    let mut properties = Map::new();
    for f in obj.fields {
        let mut schema = ty(&f.ty, templated);
        if let Some(m) = schema.as_object_mut() {
            m.insert("description".into(), json!(f.doc));
        }
        properties.insert(f.name.into(), schema);
    }
    let required: Vec<_> = obj
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    let mut schema =
        json!({ "type": "object", "properties": properties, "additionalProperties": obj.open });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    if !obj.exactly_one_of.is_empty() {
        let groups: Vec<Value> = obj
            .exactly_one_of
            .iter()
            .map(|g| json!({ "oneOf": g.iter().map(|k| json!({ "required": [k] })).collect::<Vec<_>>() }))
            .collect();
        schema["allOf"] = Value::Array(groups);
    }
    schema
}

fn ty(t: &Ty, templated: bool) -> Value {
    let scalar = |s: Value| {
        if templated {
            json!({ "anyOf": [s, { "type": "string", "pattern": TEMPLATE_PATTERN }] })
        } else {
            s
        }
    };
    match t {
        Ty::String | Ty::Cron | Ty::Timezone | Ty::Date => json!({ "type": "string" }),
        Ty::Identifier => json!({ "type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$" }),
        Ty::TableName => {
            json!({ "type": "string", "pattern": if templated { "^[A-Za-z_][A-Za-z0-9_]{0,62}(\\.[A-Za-z_][A-Za-z0-9_]{0,62})?$|\\{\\{" } else { "^[A-Za-z_][A-Za-z0-9_]{0,62}(\\.[A-Za-z_][A-Za-z0-9_]{0,62})?$" } })
        }
        Ty::Integer { min } => scalar(json!({ "type": "integer", "minimum": min })),
        Ty::Number => scalar(json!({ "type": "number" })),
        Ty::Bool => scalar(json!({ "type": "boolean" })),
        Ty::Duration => {
            json!({ "type": "string", "pattern": if templated { "^([0-9]+(ms|s|m|h|d))+$|\\{\\{" } else { "^([0-9]+(ms|s|m|h|d))+$" } })
        }
        Ty::Enum(values) => scalar(json!({ "enum": values })),
        Ty::List(inner) => json!({ "type": "array", "items": ty(inner, templated) }),
        Ty::Map(inner) => json!({ "type": "object", "additionalProperties": ty(inner, templated) }),
        Ty::Object(obj) => object(obj, templated),
        Ty::Json => json!({}),
        Ty::Nullable(inner) => json!({ "anyOf": [ty(inner, templated), { "type": "null" }] }),
        Ty::Either(a, b) => json!({ "anyOf": [ty(a, templated), ty(b, templated)] }),
    }
}
