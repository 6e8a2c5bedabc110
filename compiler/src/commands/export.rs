//! `chime export ENGINE FILE`: the pipeline as a workflow of an existing
//! engine (`export/`), each task running the pipeline's binary.

use std::path::{Path, PathBuf};

use super::Error;
use crate::export::{airflow, argo};
use crate::ir::Ir;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    engine: Engine,
}

#[derive(Debug, clap::Subcommand)]
enum Engine {
    /// An Airflow 3 DAG file: one Airflow task per chime task, Airflow's retries and trigger rules, state in PostgreSQL.
    Airflow(AirflowArgs),
    /// An Argo Workflows CronWorkflow: one DAG step per chime task, Argo's retries and `depends`, state in PostgreSQL.
    Argo(ArgoArgs),
}

#[derive(Debug, clap::Args)]
struct ArgoArgs {
    /// The pipeline file.
    file: String,
    /// The manifest to write (default: dist/<pipeline>.cronworkflow.yaml).
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
    /// The image with the pipeline's binary at /app/<pipeline>.
    #[arg(long)]
    image: String,
}

#[derive(Debug, clap::Args)]
struct AirflowArgs {
    /// The pipeline file.
    file: String,
    /// The DAG file to write (default: dist/<pipeline>_dag.py).
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
    /// Run tasks with BashOperator: the binary's path on the workers (default: /opt/chime/<pipeline>/<pipeline>).
    #[arg(long, conflicts_with = "image")]
    binary: Option<String>,
    /// The directory every BashOperator task runs in (default: the binary's): the pipeline's relative paths and logs/ resolve there.
    #[arg(long, conflicts_with = "image")]
    workdir: Option<String>,
    /// Run tasks with KubernetesPodOperator in this image (the binary at /app/<pipeline>).
    #[arg(long)]
    image: Option<String>,
}

pub fn run(args: Args) -> Result<(), Error> {
    match args.engine {
        Engine::Airflow(a) => {
            let ir = super::checked(Path::new(&a.file), |analysis| Ok(Ir::build(analysis)))?;
            let target = match (a.image, a.binary) {
                (Some(image), _) => airflow::Target::Image(image),
                (None, binary) => {
                    let binary = binary.unwrap_or_else(|| format!("/opt/chime/{0}/{0}", ir.name));
                    let workdir = a.workdir.unwrap_or_else(|| {
                        Path::new(&binary)
                            .parent()
                            .filter(|d| !d.as_os_str().is_empty())
                            .map_or(".".into(), |d| d.display().to_string())
                    });
                    airflow::Target::Binary { binary, workdir }
                }
            };
            let text = airflow::render(&ir, &a.file, &target);
            let out = a
                .out
                .unwrap_or_else(|| PathBuf::from("dist").join(format!("{}_dag.py", ir.name)));
            write(&out, &text)?;
            println!("wrote {}", out.display());
            Ok(())
        }
        Engine::Argo(a) => {
            let ir = super::checked(Path::new(&a.file), |analysis| Ok(Ir::build(analysis)))?;
            let text =
                argo::render(&ir, &a.file, &a.image).map_err(|e| Error::Usage(e.to_string()))?;
            let out = a.out.unwrap_or_else(|| {
                PathBuf::from("dist").join(format!("{}.cronworkflow.yaml", ir.name))
            });
            write(&out, &text)?;
            println!("wrote {}", out.display());
            Ok(())
        }
    }
}

/// Writes `text` to `path`, making its folder.
fn write(path: &Path, text: &str) -> Result<(), Error> {
    let err = |err| Error::Write {
        path: path.to_path_buf(),
        err,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::write(path, text).map_err(err)
}
