//! A real S3-compatible server for tests: `moto_server` from PyPI (the
//! `moto[server]` package), started on a free loopback port and stopped on
//! drop. `scripts/test-deps.sh` installs it into `~/.cache/autopmo/venv`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `moto_server`.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    port: u16,
}

fn binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("AUTOPMO_TEST_MOTO_SERVER") {
        return Some(PathBuf::from(path));
    }
    let home = std::env::var("HOME").ok()?;
    let venv = PathBuf::from(home).join(".cache/autopmo/venv/bin/moto_server");
    venv.exists().then_some(venv)
}

fn require() -> bool {
    std::env::var("AUTOPMO_TEST_REQUIRE_MOTO").is_ok_and(|v| v == "1" || v == "true")
}

impl MotoServer {
    /// Starts one; `None` (with a notice) when moto is not installed.
    pub fn start() -> Option<Self> {
        let Some(bin) = binary() else {
            assert!(
                !require(),
                "AUTOPMO_TEST_REQUIRE_MOTO is set but moto_server is not installed (scripts/test-deps.sh)"
            );
            let _ = writeln!(
                std::io::stderr(),
                "\nNOTICE: S3 archival tests SKIPPED: moto_server not found; run scripts/test-deps.sh to install it.\n"
            );
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).ok()?;
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let server = Self { child, endpoint: format!("http://127.0.0.1:{port}"), port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(server)
    }

    /// Creates a bucket (moto accepts any credentials).
    pub fn create_bucket(&self, name: &str) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        let request = format!(
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        assert!(response.starts_with("HTTP/1.1 200"), "bucket not created: {response}");
    }

    /// Stops the server (to make uploads fail).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.stop();
    }
}
