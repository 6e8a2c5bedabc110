//! `chime build`: check, generate the crate, compile it, place the binary.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::BuildArgs;

pub fn run(args: BuildArgs) -> ExitCode {
    let checked = match crate::checked::load(&args.file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let pipeline = crate::ast::Pipeline::lower(checked.id, &checked.root);
    let mut ir = crate::ir::Ir::build(&pipeline);
    // Operator crates, as `check` read them (it reported any that failed).
    let yaml_dir = Path::new(&args.file).parent().unwrap_or(Path::new("."));
    for node in &pipeline.operator_crates {
        let Some(rel) = node.as_str() else { continue };
        if let Ok(c) = crate::discover::discover(&yaml_dir.join(rel)).as_ref() {
            ir.operator_crates.push(crate::ir::LinkedCrate {
                package: c.package.clone(),
                lib_name: c.lib_name.clone(),
                path: c.dir.clone(),
                descriptors: c.operators.iter().map(|o| o.descriptor.clone()).collect(),
            });
        }
    }
    let runtime = args
        .runtime
        .clone()
        .unwrap_or_else(crate::cargo_build::default_runtime_dir);
    if !runtime.join("Cargo.toml").is_file() {
        eprintln!(
            "error: no chime runtime at {} (set --runtime or CHIME_RUNTIME to the runtime/ directory of chime's sources)",
            runtime.display()
        );
        return ExitCode::from(2);
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
    if let Err(e) = crate::codegen::write(&crate_dir, &files) {
        eprintln!("error: writing the crate to {}: {e}", crate_dir.display());
        return ExitCode::from(2);
    }
    if args.emit_crate_only {
        eprintln!(
            "wrote the crate of `{}` to {}",
            ir.name,
            crate_dir.display()
        );
        return ExitCode::SUCCESS;
    }
    let target = args
        .target_dir
        .clone()
        .unwrap_or_else(crate::cargo_build::default_target_dir);
    let built = match crate::cargo_build::build(&crate_dir, &ir.name, &target) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("error: {}: {e}", args.out.display());
        return ExitCode::from(2);
    }
    let dest = args.out.join(&ir.name);
    // Copy to a temporary name and rename, so a running binary is never half-written.
    let tmp = args
        .out
        .join(format!(".{}.{}.tmp", ir.name, std::process::id()));
    if let Err(e) = std::fs::copy(&built, &tmp).and_then(|_| std::fs::rename(&tmp, &dest)) {
        eprintln!(
            "error: copying {} to {}: {e}",
            built.display(),
            dest.display()
        );
        return ExitCode::from(2);
    }
    let size = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "       Built {} ({:.1} MB): `{} run` runs the pipeline once",
        dest.display(),
        size as f64 / 1e6,
        dest.display()
    );
    if let Some(target) = args.deploy {
        match crate::deploy::write(
            target,
            &args.out,
            &ir.name,
            ir.schedule.as_deref(),
            &ir.timezone,
        ) {
            Ok(files) => eprintln!("       Wrote {}", files.join(", ")),
            Err(e) => {
                eprintln!("error: writing deployment files: {e}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}
