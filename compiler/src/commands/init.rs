//! `chime init [DIR] [--ops]`: a new project, ready to `chime build`.

use std::path::{Path, PathBuf};

use super::Error;

fn identifier(dir: &Path) -> String {
    let raw = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut id: String = raw
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) {
        id = format!("p_{id}");
    }
    id.truncate(50);
    id
}

fn pipeline_yaml(name: &str, ops: bool) -> String {
    let mut s = format!(
        r#"# yaml-language-server: $schema=./pipeline.schema.json
# A new chime pipeline. `chime check pipeline.yaml` validates it;
# `chime build pipeline.yaml && dist/{name} run` builds and runs it.
pipeline: {name}
description: A daily batch
schedule: "0 2 * * *"          # 02:00 every day
timezone: UTC
start_date: 2026-01-01
params:
  greeting: hello
defaults:
  retries: 2
  retry_delay: 30s
  timeout: 1h
"#
    );
    if ops {
        s += "operators:\n  - path: ./ops\n";
    }
    s += r#"tasks:
  extract:
    operator: shell
    with:
      command: |
        echo '{"rows": 3, "day": "{{ ds }}"}'
"#;
    if ops {
        s += r#"  count_words:
    operator: count_words
    depends_on: [extract]
    with:
      text: "{{ params.greeting }} from {{ ds }}, {{ tasks.extract.output.rows }} rows"
  report:
    operator: shell
    depends_on: [count_words]
    with:
      command: echo "{{ tasks.count_words.output.words }} words"
"#;
    } else {
        s += r#"  report:
    operator: shell
    depends_on: [extract]
    with:
      command: echo "{{ params.greeting }}: {{ tasks.extract.output.rows }} rows on {{ ds }}"
"#;
    }
    s
}

fn ops_cargo_toml(name: &str, runtime: &Path) -> String {
    format!(
        r#"[package]
name = "{name}-ops"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
# The chime runtime, imported as `chime`.
chime = {{ package = "chime-runtime", path = "{}", features = ["rt"] }}
serde = {{ version = "1", features = ["derive"] }}

# A crate of its own, not part of an enclosing workspace.
[workspace]
"#,
        runtime.display()
    )
}

const OPS_LIB: &str = r#"//! Custom operators for this pipeline. `chime check` reads the parameter
//! structs below, so a typo in the pipeline's `with:` is caught before
//! anything compiles.

use chime::prelude::*;

/// Parameters of `count_words`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountWords {
    /// The text to count.
    pub text: String,
    /// Count only words at least this long.
    #[serde(default)]
    pub min_len: usize,
}

/// Counts the words of a text; downstream tasks read
/// `{{ tasks.<id>.output.words }}`.
#[chime::operator]
pub async fn count_words(ctx: &TaskContext, p: CountWords) -> chime::Result<Output> {
    let words = p.text.split_whitespace().filter(|w| w.chars().count() >= p.min_len).count();
    ctx.log(format!("{words} words"));
    Ok(Output::json(json!({ "words": words })))
}
"#;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write (default: the current directory).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Also write ops/, a crate with one example #[chime::operator].
    #[arg(long)]
    ops: bool,
}

pub fn run(args: Args) -> Result<(), Error> {
    let (dir, ops) = (args.dir.as_path(), args.ops);
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    std::fs::create_dir_all(dir).map_err(|err| Error::Write {
        path: dir.to_path_buf(),
        err,
    })?;
    let name = identifier(dir);
    files.push((dir.join("pipeline.yaml"), pipeline_yaml(&name, ops)));
    // For editors: completion and typo squiggles (yaml-language-server).
    files.push((
        dir.join("pipeline.schema.json"),
        super::schema::pipeline_schema() + "\n",
    ));
    if ops {
        let runtime = crate::cargo_build::default_runtime_dir();
        files.push((
            dir.join("ops/Cargo.toml"),
            ops_cargo_toml(&name.replace('_', "-"), &runtime),
        ));
        files.push((dir.join("ops/src/lib.rs"), OPS_LIB.to_string()));
    }
    if let Some((existing, _)) = files.iter().find(|(p, _)| p.exists()) {
        return Err(Error::Usage(format!(
            "{} exists already; `chime init` writes only new files",
            existing.display()
        )));
    }
    for (path, text) in &files {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(path, text).map_err(|err| Error::Write {
            path: path.clone(),
            err,
        })?;
        eprintln!("     Created {}", path.display());
    }
    let yaml = dir.join("pipeline.yaml");
    eprintln!("Next: chime build {} && dist/{name} run", yaml.display());
    Ok(())
}
