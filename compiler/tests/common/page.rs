//! A pipeline binary's status page (`ui`), started by a test on a free
//! port of its choosing, stopped when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Page {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Page {
    /// `bin ui ADDR` in `dir` with `env`; ADDR's port 0 lets the page pick
    /// one, which it prints.
    pub fn start(bin: &Path, dir: &Path, addr: &str, env: &[(&str, &str)]) -> Page {
        let mut child = Command::new(bin)
            .current_dir(dir)
            .args(["ui", addr])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the status page");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let port = first
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|hostport| hostport.rsplit(':').next())
            .unwrap_or_else(|| panic!("the page did not say where it listens: {first}"));
        // Keep reading, so that the page never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Page {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
