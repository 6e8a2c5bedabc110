//! `chime build`: check, generate the crate, compile it, place the binary.

use std::path::{Path, PathBuf};

use super::Error;
use crate::ir::Ir;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pipeline file.
    pub file: String,
    /// Where the binary goes (with --emit-crate-only: where the crate goes).
    #[arg(short = 'o', long = "out", default_value = "dist")]
    pub out: PathBuf,
    /// Write the generated crate and stop: no cargo.
    #[arg(long)]
    pub emit_crate_only: bool,
    /// The shared target directory (default: $CHIME_TARGET_DIR or ~/.cache/chime/target).
    #[arg(long)]
    pub target_dir: Option<PathBuf>,
    /// The chime-runtime crate to link (default: $CHIME_RUNTIME or the one beside this chime's sources).
    #[arg(long)]
    pub runtime: Option<PathBuf>,
    /// Also write deployment files beside the binary: a systemd unit, or Kubernetes manifests.
    #[arg(long, value_enum)]
    pub deploy: Option<crate::deploy::Deploy>,
    /// Let the binary keep its state in PostgreSQL (`--state postgres://...`), as it must to run its tasks on many machines (Airflow, Argo). Pipelines that use `sql` always can.
    #[arg(long)]
    pub postgres_state: bool,
}

pub fn run(args: Args) -> Result<(), Error> {
    let mut ir = super::checked(Path::new(&args.file), |analysis| Ok(Ir::build(analysis)))?;
    ir.postgres_state = args.postgres_state;
    let runtime = args
        .runtime
        .clone()
        .unwrap_or_else(crate::cargo_build::default_runtime_dir);
    if !runtime.join("Cargo.toml").is_file() {
        return Err(Error::NoRuntime(runtime));
    }
    let source_name = Path::new(&args.file)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("pipeline.yaml");
    let files = crate::codegen::generate(&ir, &runtime, source_name);
    let crate_dir = if args.emit_crate_only {
        args.out.clone()
    } else {
        crate::cargo_build::cache_dir()
            .join("crates")
            .join(&ir.name)
    };
    crate::codegen::write(&crate_dir, &files).map_err(|err| Error::WriteCrate {
        dir: crate_dir.clone(),
        err,
    })?;
    if args.emit_crate_only {
        eprintln!(
            "wrote the crate of `{}` to {}",
            ir.name,
            crate_dir.display()
        );
        return Ok(());
    }
    let target = args
        .target_dir
        .clone()
        .unwrap_or_else(crate::cargo_build::default_target_dir);
    let built = crate::cargo_build::build(&crate_dir, &ir.name, &target).map_err(Error::Cargo)?;
    std::fs::create_dir_all(&args.out).map_err(|err| Error::Write {
        path: args.out.clone(),
        err,
    })?;
    let dest = args.out.join(&ir.name);
    // Copy to a temporary name and rename, so a running binary is never half-written.
    let tmp = args
        .out
        .join(format!(".{}.{}.tmp", ir.name, std::process::id()));
    std::fs::copy(&built, &tmp)
        .and_then(|_| std::fs::rename(&tmp, &dest))
        .map_err(|err| Error::Copy {
            from: built.clone(),
            to: dest.clone(),
            err,
        })?;
    let size = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "       Built {} ({:.1} MB): `{} run` runs the pipeline once",
        dest.display(),
        size as f64 / 1e6,
        dest.display()
    );
    if let Some(target) = args.deploy {
        let files = crate::deploy::write(
            target,
            &args.out,
            &ir.name,
            ir.schedule.as_deref(),
            &ir.timezone,
        )
        .map_err(Error::Deploy)?;
        eprintln!("       Wrote {}", files.join(", "));
    }
    Ok(())
}
