//! Custom operators, learned from an operators crate's sources with syn:
//! no cargo run, no build. `chime check` reads every `#[chime::operator]`
//! function (following `mod` declarations from src/lib.rs) and the fields
//! of its parameters struct, so a pipeline's `with:` is checked on its YAML
//! lines before anything compiles.
//!
//! What is understood of a parameters struct: field types (strings,
//! integers, floats, booleans, `Vec`, maps, `Option`, nested structs of the
//! crate, `serde_json::Value`), `Option` and `#[serde(default)]` as
//! optional, `rename`, `rename_all`, `skip` and `flatten` (the struct then
//! accepts any key: the flattened field captures them). A key the struct
//! does not have is reported (E022) whether or not it says
//! `deny_unknown_fields`: serde would drop it silently, and a misspelt
//! optional parameter would be lost without a word. Anything else is
//! accepted as any value. Specs are leaked into `'static` tables: they
//! live as long as the process, which checks and exits.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use runtime::vocabulary::{Field, Object, Ty};
use syn::{Attribute, Expr, Fields, Item, Lit, Meta, Type};

/// One `#[chime::operator]` function.
#[derive(Debug, Clone)]
pub struct CustomOperator {
    /// The operator's name in pipelines.
    pub name: String,
    /// The Rust path of its descriptor, from the crate root:
    /// `features::__chime_operator_build_features`.
    pub descriptor: String,
    pub doc: String,
    pub params: &'static Object,
    /// Where it is defined: `ops/src/lib.rs:12`.
    pub location: String,
}

/// An operators crate.
#[derive(Debug, Clone)]
pub struct OperatorCrate {
    pub dir: PathBuf,
    /// The library's name as Rust code names it (`sentiment_ops`).
    pub lib_name: String,
    pub package: String,
    pub operators: Vec<CustomOperator>,
}

pub use error::{CrateError, SourceError};

mod error;

/// A crate read, or why it could not be.
pub type CrateResult = Result<OperatorCrate, CrateError>;

/// The operator crates one command has read: a crate named by several
/// pipelines (`chime check examples/`) is read once.
#[derive(Debug, Default)]
pub struct Crates(HashMap<PathBuf, Arc<CrateResult>>);

impl Crates {
    /// The crate at `dir`, read on first use.
    pub fn read(&mut self, dir: &Path) -> Arc<CrateResult> {
        let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        self.0
            .entry(key)
            .or_insert_with_key(|key| Arc::new(read_crate(key, dir)))
            .clone()
    }
}

fn read_crate(dir: &Path, shown: &Path) -> CrateResult {
    if !dir.is_dir() {
        return Err(CrateError::NoDirectory(shown.display().to_string()));
    }
    let cargo_toml = dir.join("Cargo.toml");
    let manifest = read_source(&cargo_toml).map_err(|why| {
        if cargo_toml.is_file() {
            CrateError::Unreadable {
                file: shown.join("Cargo.toml").display().to_string(),
                why,
            }
        } else {
            CrateError::NoManifest(shown.display().to_string())
        }
    })?;
    let package = toml_value(&manifest, "package", "name")
        .ok_or_else(|| CrateError::NoPackageName(shown.join("Cargo.toml").display().to_string()))?;
    let lib_name =
        toml_value(&manifest, "lib", "name").unwrap_or_else(|| package.replace('-', "_"));
    let lib = dir.join("src/lib.rs");
    if !lib.is_file() {
        return Err(CrateError::NoLib(shown.display().to_string()));
    }
    let mut reader = Reader {
        shown_root: shown.to_path_buf(),
        root: dir.to_path_buf(),
        structs: HashMap::new(),
        found: Vec::new(),
    };
    reader.read_file(&lib, &[], true)?;
    let mut operators = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for f in std::mem::take(&mut reader.found) {
        if let Some(first) = seen.get(&f.name) {
            return Err(CrateError::DuplicateName {
                name: f.name.clone(),
                first: first.clone(),
                again: f.location.clone(),
            });
        }
        if runtime::operators::builtin(&f.name).is_some() {
            return Err(CrateError::BuiltinName {
                at: f.location.clone(),
                name: f.name.clone(),
            });
        }
        seen.insert(f.name.clone(), f.location.clone());
        let params = match &f.params_type {
            Some(ty) => reader.object_for(ty, &format!("`{}` parameters", f.name), 0),
            None => leak(Object {
                what: leak_str(format!("`{}` parameters", f.name)),
                fields: &[],
                exactly_one_of: &[],
                open: false,
            }),
        };
        operators.push(CustomOperator {
            name: f.name,
            descriptor: f.descriptor,
            doc: f.doc,
            params,
            location: f.location,
        });
    }
    Ok(OperatorCrate {
        dir: dir.to_path_buf(),
        lib_name,
        package,
        operators,
    })
}

/// `key = "value"` under `[table]` of a Cargo.toml (enough for names).
fn toml_value(manifest: &str, table: &str, key: &str) -> Option<String> {
    let mut in_table = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_table = line == format!("[{table}]");
            continue;
        }
        if in_table
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

struct Found {
    name: String,
    descriptor: String,
    doc: String,
    params_type: Option<Type>,
    location: String,
}

struct Reader {
    shown_root: PathBuf,
    root: PathBuf,
    /// Structs of the crate by name (the first one wins on a clash).
    structs: HashMap<String, syn::ItemStruct>,
    found: Vec<Found>,
}

/// A source file of the operators crate, bounded like a pipeline file (a
/// `Cargo.toml` that is a pipe or `/dev/zero` must not hang `check`).
fn read_source(path: &Path) -> Result<String, SourceError> {
    let limit = crate::load::MAX_FILE_SIZE;
    let bytes = crate::load::read_limited(path, limit)
        .map_err(|e| SourceError::Io(e.to_string()))?
        .ok_or(SourceError::TooLarge {
            mib: limit / (1024 * 1024),
        })?;
    String::from_utf8(bytes).map_err(|_| SourceError::NotUtf8)
}

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

fn leak_str(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

impl Reader {
    fn shown(&self, file: &Path) -> String {
        let rel = file.strip_prefix(&self.root).unwrap_or(file);
        self.shown_root.join(rel).display().to_string()
    }

    /// Reads one source file of module `path`; `dir_owner`: a lib.rs or
    /// mod.rs, whose submodules live beside it rather than in a folder.
    fn read_file(
        &mut self,
        file: &Path,
        path: &[String],
        dir_owner: bool,
    ) -> Result<(), CrateError> {
        let text = read_source(file).map_err(|why| CrateError::Unreadable {
            file: self.shown(file),
            why,
        })?;
        let ast = syn::parse_file(&text).map_err(|e| {
            let start = e.span().start();
            let what = if e
                .to_string()
                .contains("cannot parse string into token stream")
            {
                "unbalanced delimiters (a `(`, `[` or `{` without its closing match)".to_string()
            } else {
                e.to_string()
            };
            CrateError::Syntax {
                at: format!("{}:{}:{}", self.shown(file), start.line, start.column + 1),
                what,
            }
        })?;
        let dir = if dir_owner {
            file.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            let stem = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            file.parent().map(|p| p.join(stem)).unwrap_or_default()
        };
        self.read_items(&ast.items, file, &dir, path)
    }

    fn read_items(
        &mut self,
        items: &[Item],
        file: &Path,
        dir: &Path,
        path: &[String],
    ) -> Result<(), CrateError> {
        for item in items {
            match item {
                Item::Struct(s) => {
                    self.structs
                        .entry(s.ident.to_string())
                        .or_insert_with(|| s.clone());
                }
                Item::Fn(f) if f.attrs.iter().any(is_operator_attr) => {
                    let line = f.sig.ident.span().start().line;
                    let location = format!("{}:{line}", self.shown(file));
                    if !matches!(f.vis, syn::Visibility::Public(_)) {
                        return Err(CrateError::PrivateOperator {
                            at: location,
                            ident: f.sig.ident.to_string(),
                        });
                    }
                    let ident = f.sig.ident.to_string();
                    let name = f
                        .attrs
                        .iter()
                        .find_map(operator_name)
                        .unwrap_or_else(|| ident.clone());
                    let mut descriptor = path.to_vec();
                    descriptor.push(format!("__chime_operator_{ident}"));
                    let params_type = f.sig.inputs.iter().nth(1).and_then(|a| match a {
                        syn::FnArg::Typed(t) => Some((*t.ty).clone()),
                        syn::FnArg::Receiver(_) => None,
                    });
                    self.found.push(Found {
                        name,
                        descriptor: descriptor.join("::"),
                        doc: doc_of(&f.attrs),
                        params_type,
                        location,
                    });
                }
                Item::Mod(m) => {
                    let mut sub = path.to_vec();
                    sub.push(m.ident.to_string());
                    let public = matches!(m.vis, syn::Visibility::Public(_));
                    let before = self.found.len();
                    match &m.content {
                        Some((_, inner)) => {
                            self.read_items(inner, file, &dir.join(m.ident.to_string()), &sub)?
                        }
                        None => {
                            let name = m.ident.to_string();
                            let flat = dir.join(format!("{name}.rs"));
                            let nested = dir.join(&name).join("mod.rs");
                            if flat.is_file() {
                                self.read_file(&flat, &sub, false)?;
                            } else if nested.is_file() {
                                self.read_file(&nested, &sub, true)?;
                            } else {
                                let line = m.ident.span().start().line;
                                return Err(CrateError::MissingModule {
                                    at: format!("{}:{line}", self.shown(file)),
                                    name,
                                    flat: self.shown(&flat),
                                    nested: self.shown(&nested),
                                });
                            }
                        }
                    }
                    if !public && self.found.len() > before {
                        let line = m.ident.span().start().line;
                        return Err(CrateError::PrivateModule {
                            at: format!("{}:{line}", self.shown(file)),
                            ident: m.ident.to_string(),
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The parameter contract of a struct type (depth-limited for nesting).
    fn object_for(&self, ty: &Type, what: &str, depth: usize) -> &'static Object {
        let open_any = || {
            leak(Object {
                what: leak_str(what.to_string()),
                fields: &[],
                exactly_one_of: &[],
                open: true,
            })
        };
        let Some(name) = last_ident(ty) else {
            return open_any();
        };
        let Some(s) = self.structs.get(&name) else {
            return open_any();
        };
        let serde = serde_args(&s.attrs);
        let struct_default = serde.iter().any(|(k, _)| k == "default");
        let rename_all = serde
            .iter()
            .find(|(k, _)| k == "rename_all")
            .and_then(|(_, v)| v.clone());
        let mut fields = Vec::new();
        // Closed whatever serde says, unless a flattened field takes the rest.
        let mut open = false;
        if let Fields::Named(named) = &s.fields {
            for f in &named.named {
                let args = serde_args(&f.attrs);
                let has = |k: &str| args.iter().any(|(a, _)| a == k);
                if has("skip") || has("skip_deserializing") {
                    continue;
                }
                if has("flatten") {
                    open = true;
                    continue;
                }
                let rust_name = f
                    .ident
                    .as_ref()
                    .map(|i| i.to_string().trim_start_matches("r#").to_string())
                    .unwrap_or_default();
                let key = args
                    .iter()
                    .find(|(k, _)| k == "rename")
                    .and_then(|(_, v)| v.clone())
                    .unwrap_or_else(|| rename(&rust_name, rename_all.as_deref()));
                let (ty, optional) = self.ty_of(&f.ty, &format!("`{key}`"), depth);
                fields.push(Field {
                    name: leak_str(key),
                    ty,
                    required: !(optional || struct_default || has("default")),
                    doc: leak_str(doc_of(&f.attrs)),
                });
            }
        }
        leak(Object {
            what: leak_str(what.to_string()),
            fields: Vec::leak(fields),
            exactly_one_of: &[],
            open,
        })
    }

    /// The spec type of a Rust type, and whether it is an `Option`.
    fn ty_of(&self, ty: &Type, what: &str, depth: usize) -> (Ty, bool) {
        let Type::Path(p) = ty else {
            return match ty {
                Type::Reference(r) => self.ty_of(&r.elem, what, depth),
                _ => (Ty::Json, false),
            };
        };
        let Some(seg) = p.path.segments.last() else {
            return (Ty::Json, false);
        };
        let args: Vec<&Type> = match &seg.arguments {
            syn::PathArguments::AngleBracketed(a) => a
                .args
                .iter()
                .filter_map(|g| match g {
                    syn::GenericArgument::Type(t) => Some(t),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let inner = |i: usize| {
            args.get(i)
                .map(|t| self.ty_of(t, what, depth).0)
                .unwrap_or(Ty::Json)
        };
        let ty = match seg.ident.to_string().as_str() {
            "Option" => return (inner(0), true),
            "String" | "str" | "PathBuf" | "Path" | "char" => Ty::String,
            "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => Ty::Integer { min: 0 },
            "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => Ty::Integer { min: i64::MIN },
            "f32" | "f64" => Ty::Number,
            "bool" => Ty::Bool,
            "Vec" | "HashSet" | "BTreeSet" | "VecDeque" => Ty::List(leak(inner(0))),
            "HashMap" | "BTreeMap" | "IndexMap" => Ty::Map(leak(inner(1))),
            "Box" | "Arc" | "Rc" => {
                return self.ty_of(args.first().copied().unwrap_or(ty), what, depth);
            }
            name if depth < 8 && self.structs.contains_key(name) => {
                Ty::Object(self.object_for(ty, what, depth + 1))
            }
            _ => Ty::Json,
        };
        (ty, false)
    }
}

fn last_ident(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

fn is_operator_attr(a: &Attribute) -> bool {
    a.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "operator")
}

/// `name = "..."` of `#[chime::operator(name = "...")]`.
fn operator_name(a: &Attribute) -> Option<String> {
    if !is_operator_attr(a) {
        return None;
    }
    let Meta::List(list) = &a.meta else {
        return None;
    };
    let nv: syn::MetaNameValue = syn::parse2(list.tokens.clone()).ok()?;
    if !nv.path.is_ident("name") {
        return None;
    }
    match nv.value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s.value()),
        _ => None,
    }
}

fn doc_of(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) if nv.path.is_ident("doc") => match &nv.value {
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value().trim().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    lines.join(" ").trim().to_string()
}

/// The `#[serde(...)]` arguments: `(key, Some(value))` or `(key, None)`.
fn serde_args(attrs: &[Attribute]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for a in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = a.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            let value = match meta.value() {
                Ok(v) => match v.parse::<Expr>() {
                    Ok(Expr::Lit(syn::ExprLit {
                        lit: Lit::Str(s), ..
                    })) => Some(s.value()),
                    _ => Some(String::new()),
                },
                Err(_) => None,
            };
            out.push((key, value));
            Ok(())
        });
    }
    out
}

/// serde's `rename_all` conventions.
fn rename(field: &str, rule: Option<&str>) -> String {
    let words: Vec<&str> = field.split('_').filter(|w| !w.is_empty()).collect();
    let cap = |w: &str| {
        let mut c = w.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    match rule {
        Some("lowercase") => field.to_lowercase(),
        Some("UPPERCASE") => field.to_uppercase(),
        Some("camelCase") => words
            .iter()
            .enumerate()
            .map(|(i, w)| if i == 0 { w.to_string() } else { cap(w) })
            .collect(),
        Some("PascalCase") => words.iter().map(|w| cap(w)).collect(),
        Some("SCREAMING_SNAKE_CASE") => field.to_uppercase(),
        Some("kebab-case") => field.replace('_', "-"),
        Some("SCREAMING-KEBAB-CASE") => field.replace('_', "-").to_uppercase(),
        _ => field.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_rules() {
        assert_eq!(rename("window_days", Some("camelCase")), "windowDays");
        assert_eq!(rename("window_days", Some("PascalCase")), "WindowDays");
        assert_eq!(rename("window_days", Some("kebab-case")), "window-days");
        assert_eq!(rename("window_days", None), "window_days");
    }

    #[test]
    fn reads_operators_structs_and_modules() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/nested")).unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"my-ops\"\nversion = \"0.1.0\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("src/lib.rs"),
            "pub mod nested;\n#[derive(Deserialize)]\n#[serde(deny_unknown_fields, rename_all = \"camelCase\")]\npub struct P { pub window_days: u32, pub label: Option<String>, #[serde(default)] pub weights: Vec<f64>, #[serde(rename = \"in\")] pub input: String }\n/// Scores things.\n#[chime::operator(name = \"score\")]\npub async fn score_it(ctx: &TaskContext, p: P) -> chime::Result<Output> { todo!() }\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("src/nested/mod.rs"),
            "#[chime::operator]\npub fn ping(ctx: &TaskContext) -> Result<Output> { todo!() }\n",
        )
        .unwrap();
        let c = read_crate(dir.path(), Path::new("ops")).unwrap();
        assert_eq!(c.lib_name, "my_ops");
        let names: Vec<_> = c
            .operators
            .iter()
            .map(|o| (o.name.as_str(), o.descriptor.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("ping", "nested::__chime_operator_ping"),
                ("score", "__chime_operator_score_it")
            ]
        );
        let score = &c.operators[1];
        assert_eq!(score.doc, "Scores things.");
        assert!(!score.params.open);
        let f: Vec<_> = score
            .params
            .fields
            .iter()
            .map(|f| (f.name, f.required))
            .collect();
        assert_eq!(
            f,
            [
                ("windowDays", true),
                ("label", false),
                ("weights", false),
                ("in", true)
            ]
        );
        assert_eq!(score.params.fields[0].ty, Ty::Integer { min: 0 });
    }

    #[test]
    fn two_operators_with_one_name_are_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        let op = |name: &str| {
            format!(
                "#[chime::operator(name = \"dup\")]\npub async fn {name}(ctx: &TaskContext) -> Result<Output> {{ todo!() }}\n"
            )
        };
        std::fs::write(dir.path().join("src/lib.rs"), op("one") + &op("two")).unwrap();
        let e = read_crate(dir.path(), Path::new("ops")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "two operators are named `dup`: ops/src/lib.rs:2 and ops/src/lib.rs:4"
        );
    }

    #[test]
    fn syntax_errors_name_the_rust_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        std::fs::write(
            dir.path().join("src/lib.rs"),
            "pub fn ok() {}\n\npub fn broken( {\n",
        )
        .unwrap();
        let e = read_crate(dir.path(), Path::new("ops"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("ops/src/lib.rs:3:"), "{e}");
    }
}
