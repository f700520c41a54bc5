//! A real S3-compatible server for tests: moto's (`moto_server`, PyPI's `moto[server]`) on a
//! free loopback port, with an empty bucket per test. Killed on `Drop`.
//!
//! moto keeps everything in memory and accepts any credentials ([`ACCESS_KEY_ID`],
//! [`SECRET_ACCESS_KEY`]). `scripts/test` installs it and names the executable in
//! `TENANTRY_TEST_MOTO_SERVER`; otherwise `moto_server` on `PATH` or `python3 -m moto.server`
//! is used. Without any of them the test fails and says how to run the suite: it never skips.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::NamedTempFile;

/// Any access key id works with moto.
pub const ACCESS_KEY_ID: &str = "testing";
/// Any secret works with moto.
pub const SECRET_ACCESS_KEY: &str = "testing";
/// The region moto's buckets are created in.
pub const REGION: &str = "us-east-1";

/// moto imports a lot of Python: give it time on a loaded two-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server. See the module documentation.
pub struct S3Server {
    child: Child,
    addr: SocketAddr,
    // Its output, for the panic message if it dies; removed on drop.
    _log: NamedTempFile,
}

impl S3Server {
    /// Starts moto on a free loopback port and waits until it answers.
    pub fn start() -> Self {
        let command = moto_command();
        for _ in 0..10 {
            if let Some(server) = Self::start_at(&command, free_tcp_port()) {
                return server;
            }
        }
        panic!("moto_server did not start on any of 10 free ports");
    }

    /// `None` if it exited because the port was taken meanwhile.
    fn start_at(command: &[String], port: u16) -> Option<Self> {
        let log = NamedTempFile::new().expect("a temp file for moto's log");
        let mut child = Command::new(&command[0])
            .args(&command[1..])
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("moto log"))
            .stderr(log.reopen().expect("moto log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", command.join(" ")));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().expect("moto_server status") {
                let output = std::fs::read_to_string(log.path()).unwrap_or_default();
                assert!(
                    output.contains("in use"),
                    "moto_server exited ({status}) on port {port}: {output}"
                );
                return None;
            }
            if matches!(request(addr, "GET", "/"), Ok(200)) {
                return Some(S3Server {
                    child,
                    addr,
                    _log: log,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        child.kill().ok();
        child.wait().ok();
        panic!("moto_server on {addr} did not answer within {START_TIMEOUT:?}");
    }

    /// The endpoint URL for an S3 client (`http://127.0.0.1:<port>`, path-style buckets).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates a new, empty bucket with a random name, and returns the name.
    pub fn create_bucket(&self) -> String {
        let bucket = format!("tenantry-test-{}", uuid::Uuid::new_v4().simple());
        let status = request(self.addr, "PUT", &format!("/{bucket}"))
            .unwrap_or_else(|e| panic!("cannot create bucket {bucket}: {e}"));
        assert_eq!(status, 200, "moto refused to create bucket {bucket}");
        bucket
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The command that runs moto's server, without its host and port arguments.
fn moto_command() -> Vec<String> {
    if let Some(path) = std::env::var_os("TENANTRY_TEST_MOTO_SERVER") {
        return vec![path.to_string_lossy().into_owned()];
    }
    if let Some(path) = on_path("moto_server") {
        return vec![path.to_string_lossy().into_owned()];
    }
    let importable = Command::new("python3")
        .args(["-c", "import moto.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        importable,
        "moto's S3 server is missing (no TENANTRY_TEST_MOTO_SERVER, no moto_server on PATH, \
         python3 cannot import moto.server): run the suite with scripts/test, which installs it"
    );
    ["python3", "-m", "moto.server"].map(String::from).to_vec()
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A loopback TCP port free right now.
fn free_tcp_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
    listener.local_addr().expect("local address").port()
}

/// One bodiless HTTP/1.1 request; returns the response's status code.
fn request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let status_line = response.split(|&b| b == b'\r').next().unwrap_or_default();
    std::str::from_utf8(status_line)
        .ok()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}
