//! The real `tenantry serve` on a throwaway master, everything it writes kept, and plain
//! HTTP/1.1 requests to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use super::Master;

/// A running `tenantry serve` whose stdout and stderr are kept; SIGKILLed when dropped.
pub struct Serve {
    child: Child,
    port: u16,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

/// One answer: status, `x-request-id`, body as sent.
pub struct Reply {
    pub status: u16,
    pub request_id: String,
    pub body: String,
}

impl Reply {
    /// The body as JSON (`null` if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl Serve {
    /// Starts `serve` on a free port with this master, its key and `env` (`RUST_LOG` unset, so
    /// `TENANTRY__LOG__LEVEL` decides), and waits until it listens.
    pub fn start(master: &Master, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantry"));
        cmd.arg("serve")
            .current_dir(master.db.dir())
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG");
        for (key, _) in std::env::vars()
            .filter(|(k, _)| k.starts_with("TENANTRY_") && k != "TENANTRY_TEST_PG_URL")
        {
            cmd.env_remove(key);
        }
        cmd.env("TENANTRY__MASTER__URL", master.db.url())
            .env("TENANTRY__DATA_DIR", master.db.dir())
            .env("TENANTRY_MASTER_KEY", &master.key)
            .env("TENANTRY__SERVER__LISTEN", "127.0.0.1:0")
            // At trace level on a loaded 2-core CI machine, a tenant's first connection can take
            // longer than the 2 s default (seen: 503 `database_unavailable` on the first login).
            // These tests are about what serve says, not how fast: give it room.
            .env("TENANTRY__POOL__ACQUIRE_TIMEOUT_MS", "15000")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("tenantry binary runs");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let pipes: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        // Both pipes are read to the end, so serve never blocks on a full one.
        let readers = pipes
            .into_iter()
            .map(|pipe| {
                let (output, tx) = (output.clone(), tx.clone());
                std::thread::spawn(move || {
                    for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                        output.lock().unwrap().push_str(&format!("{line}\n"));
                        let _ = tx.send(line);
                    }
                })
            })
            .collect();
        let port = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("serve prints its address");
            if let Some(rest) = line.strip_prefix("listening on http://127.0.0.1:") {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        Serve {
            child,
            port,
            output,
            readers,
        }
    }

    /// One HTTP/1.1 request to `host` (`localhost` is the admin API's, `<sub>.localhost` a
    /// tenant's), with `Prefer: wait=120` for the long actions.
    pub fn call(
        &self,
        method: &str,
        host: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(150)))
            .unwrap();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}:{}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nPrefer: wait=120\r\n",
            self.port,
            body.len()
        );
        if let Some(token) = bearer {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        write!(stream, "{head}\r\n{body}").unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let head = head.to_ascii_lowercase();
        // actix sizes its JSON answers: no chunked bodies here.
        assert!(!head.contains("transfer-encoding: chunked"), "{head}");
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
        };
        Reply {
            status: head.split_whitespace().nth(1).unwrap().parse().unwrap(),
            request_id: header("x-request-id:").expect("every answer names its request"),
            body: body.to_owned(),
        }
    }

    /// Stops serve (SIGKILL) and returns everything it wrote to stdout and stderr.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
