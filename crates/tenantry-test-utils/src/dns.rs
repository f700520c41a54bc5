//! A real DNS server for tests: `dnsmasq` on a free loopback port, answering the TXT records it
//! was started with. Names under its zone that have no record answer NXDOMAIN (as a real
//! authoritative server would); names outside it are refused (it has no upstream). Killed on
//! `Drop`.
//!
//! dnsmasq needs no root: started as root it drops to `nobody` by itself, started by anyone else
//! it keeps their user. `--pid-file=` (empty) keeps it from writing `/run/dnsmasq.pid`, and
//! `--conf-file=/dev/null` from reading the system's configuration. Debian ships it as
//! `dnsmasq-base`; `scripts/test` installs it.

use std::io::Read as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = "/usr/sbin/dnsmasq";

/// A running dnsmasq. See the module documentation.
pub struct DnsServer {
    child: Child,
    addr: SocketAddr,
    zone: String,
}

impl DnsServer {
    /// Serves `zone` (e.g. `acme.test`) with `records` as TXT records (name, value; a value
    /// holds no comma: dnsmasq would split it into several strings).
    pub fn start(zone: &str, records: &[(&str, &str)]) -> Self {
        for _ in 0..10 {
            let port = free_udp_port();
            if let Some(server) = Self::start_at(port, zone, records) {
                return server;
            }
        }
        panic!("dnsmasq did not start on any of 10 free ports");
    }

    /// Restarts the server on the same address with other records (dnsmasq reads
    /// `--txt-record` once, at start).
    pub fn restart(&mut self, records: &[(&str, &str)]) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(server) = Self::start_at(self.addr.port(), &self.zone, records) {
                *self = server;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dnsmasq could not restart on {}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where it listens (UDP and TCP), for `domains.nameservers`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `None` if it exited at once (the port was taken).
    fn start_at(port: u16, zone: &str, records: &[(&str, &str)]) -> Option<Self> {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is missing: install the `dnsmasq-base` package (scripts/test does)"
        );
        let mut command = Command::new(BINARY);
        command.args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--log-facility=-",
        ]);
        command.arg(format!("--port={port}"));
        command.arg(format!("--local=/{zone}/"));
        for (name, value) in records {
            assert!(!value.contains(','), "a TXT value with a comma: {value:?}");
            command.arg(format!("--txt-record={name},{value}"));
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {BINARY}: {e}"));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().expect("dnsmasq status") {
                let mut log = String::new();
                if let Some(mut err) = child.stderr.take() {
                    err.read_to_string(&mut log).ok();
                }
                assert!(
                    log.contains("in use"),
                    "dnsmasq exited ({status}) on port {port}: {log}"
                );
                return None;
            }
            if answers(addr, zone) {
                return Some(Self {
                    child,
                    addr,
                    zone: zone.to_owned(),
                });
            }
        }
        child.kill().ok();
        child.wait().ok();
        panic!("dnsmasq on {addr} did not answer within 5 s");
    }

    fn stop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback UDP port free right now.
fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    socket.local_addr().expect("local address").port()
}

/// Whether a DNS server at `addr` answers a TXT question about `name` within 100 ms.
fn answers(addr: SocketAddr, name: &str) -> bool {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .ok();
    // Header: id, flags (recursion desired), one question; then the name, type TXT, class IN.
    let mut query = vec![0x7e, 0x57, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        query.push(u8::try_from(label.len()).expect("a label is at most 63 bytes"));
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 16, 0, 1]);
    let mut reply = [0u8; 512];
    socket.send_to(&query, addr).is_ok()
        && matches!(socket.recv_from(&mut reply), Ok((n, _)) if n >= 12 && reply[..2] == query[..2])
}
