//! A real Apache Airflow for a test: the pinned version from PyPI in a
//! virtualenv under target/ (installed on first use, once, under a lock;
//! `.ci/run` installs it ahead), and an AIRFLOW_HOME of the test's own with
//! a SQLite metadata database. `airflow dags test` runs a DAG's tasks in
//! process, one after another, as the scheduler would order them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The Airflow the exports are tested against (docs/scale-out.md).
pub const VERSION: &str = "3.3.2";

pub struct Airflow {
    home: tempfile::TempDir,
    venv: PathBuf,
}

/// The Kubernetes provider, for the KubernetesPodOperator form.
pub const K8S_PROVIDER: &str = "10.25.0";

/// The virtualenv with Airflow and its Kubernetes provider, made if
/// missing (`.ci/run` lists the same).
fn venv() -> PathBuf {
    super::python_tool(
        &format!("airflow-{VERSION}-k8s-{K8S_PROVIDER}"),
        &format!(
            "apache-airflow=={VERSION} apache-airflow-providers-cncf-kubernetes=={K8S_PROVIDER}"
        ),
    )
}

impl Airflow {
    /// A fresh AIRFLOW_HOME whose DAG folder is `dags/` in it, with its
    /// metadata database made.
    pub fn new() -> Airflow {
        let venv = venv();
        let home = tempfile::Builder::new()
            .prefix("chime-airflow-")
            .tempdir()
            .expect("tmp");
        std::fs::create_dir_all(home.path().join("dags")).expect("dags/");
        let af = Airflow { home, venv };
        let out = af
            .command()
            .args(["db", "migrate"])
            .output()
            .expect("airflow db migrate");
        assert!(
            out.status.success(),
            "airflow db migrate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        af
    }

    /// Loads a DAG file as the DAG processor would (importing it builds
    /// every operator, which checks its arguments) and runs `check`, a
    /// Python snippet with the module's `dag` in scope; returns stdout.
    pub fn load(&self, dag_file: &Path, check: &str) -> String {
        let script = format!(
            "import importlib.util\n\
             spec = importlib.util.spec_from_file_location('exported', {:?})\n\
             m = importlib.util.module_from_spec(spec)\n\
             spec.loader.exec_module(m)\n\
             dag = m.dag\n{check}\n",
            dag_file.display().to_string()
        );
        let out = Command::new(self.venv.join("bin/python"))
            .env("AIRFLOW_HOME", self.home.path())
            .args(["-c", &script])
            .output()
            .expect("python");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The DAG folder.
    pub fn dags(&self) -> PathBuf {
        self.home.path().join("dags")
    }

    fn command(&self) -> Command {
        let mut c = Command::new(self.venv.join("bin/airflow"));
        c.env("AIRFLOW_HOME", self.home.path())
            .env("AIRFLOW__CORE__DAGS_FOLDER", self.dags())
            .env("AIRFLOW__CORE__LOAD_EXAMPLES", "false")
            .env("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO");
        c
    }

    /// `airflow dags test DAG LOGICAL_DATE [-c CONF]` with `env` set.
    pub fn test(
        &self,
        dag: &str,
        logical: &str,
        conf: Option<&str>,
        env: &[(&str, &str)],
    ) -> Output {
        let mut c = self.command();
        c.args(["dags", "test", dag, logical]);
        if let Some(conf) = conf {
            c.args(["-c", conf]);
        }
        c.envs(env.iter().copied())
            .output()
            .expect("airflow dags test")
    }

    /// Each task instance's final state in the metadata database:
    /// `(task_id, state)`, by task id.
    pub fn states(&self, dag: &str) -> Vec<(String, String)> {
        let rows = self.sql(&format!(
            "SELECT task_id, coalesce(state, 'none') FROM task_instance WHERE dag_id = '{dag}' ORDER BY task_id"
        ));
        rows.into_iter()
            .map(|mut r| (r.remove(0), r.remove(0)))
            .collect()
    }

    /// The states of a DAG's task instances: a mapped task's as
    /// `task[map_index]`, in map index order.
    pub fn mapped_states(&self, dag: &str) -> Vec<(String, String)> {
        let rows = self.sql(&format!(
            "SELECT task_id, map_index, coalesce(state, 'none') FROM task_instance WHERE dag_id = '{dag}' ORDER BY task_id, map_index"
        ));
        rows.into_iter()
            .map(|mut r| {
                let (task, index, state) = (r.remove(0), r.remove(0), r.remove(0));
                let name = if index == "-1" {
                    task
                } else {
                    format!("{task}[{index}]")
                };
                (name, state)
            })
            .collect()
    }

    /// The names Airflow's UI gives a mapped task's instances
    /// (`map_index_template`, rendered), in map index order.
    pub fn map_names(&self, dag: &str, task: &str) -> Vec<String> {
        self.sql(&format!(
            "SELECT coalesce(rendered_map_index, '') FROM task_instance WHERE dag_id = '{dag}' AND task_id = '{task}' ORDER BY map_index"
        ))
        .into_iter()
        .map(|mut r| r.remove(0))
        .collect()
    }

    /// The XCom a task pushed (its `return_value`), as JSON text.
    pub fn xcom(&self, dag: &str, task: &str) -> Option<String> {
        self.sql(&format!(
            "SELECT value FROM xcom WHERE dag_id = '{dag}' AND task_id = '{task}' AND key = 'return_value'"
        ))
        .into_iter()
        .next()
        .map(|mut r| r.remove(0))
    }

    /// Rows of a query on the metadata database, every column as text.
    fn sql(&self, query: &str) -> Vec<Vec<String>> {
        let db: &Path = &self.home.path().join("airflow.db");
        let script = "import json, sqlite3, sys\n\
            rows = sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchall()\n\
            print(json.dumps([[c if isinstance(c, str) else (c.decode() if isinstance(c, bytes) else json.dumps(c)) for c in r] for r in rows]))";
        let out = Command::new(self.venv.join("bin/python"))
            .args(["-c", script])
            .arg(db)
            .arg(query)
            .output()
            .expect("python");
        assert!(
            out.status.success(),
            "{query}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("rows as JSON")
    }
}
