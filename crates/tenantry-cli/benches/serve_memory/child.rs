//! The measured process: the release `tenantry serve` as a child, its settings file, and its
//! memory read from `/proc/<pid>/status`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// Tenants are reached at `<subdomain>.` this.
pub const BASE_DOMAIN: &str = "localhost";
/// How long `serve` may take to print its address, then to answer `/readyz` with 200.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The settings file of the child: everything not named keeps the built-in default.
/// Storage checks are off: the tenants are registry rows without databases, and measuring them
/// would only log 10,000 failed connects (backups and spares are off by default).
pub fn settings_toml(master_url: &str, data_dir: &Path, key_file: &Path) -> Result<String> {
    Ok(format!(
        "data_dir = {data_dir}\n\n\
         [server]\nlisten = \"127.0.0.1:0\"\nbase_domain = \"{BASE_DOMAIN}\"\n\n\
         [master]\nurl = {url}\n\n\
         [security]\nmaster_key_file = {key}\n\n\
         [tenants]\nstorage_check_every_secs = 0\n",
        data_dir = toml_string(&path_str(data_dir)?),
        url = toml_string(master_url),
        key = toml_string(&path_str(key_file)?),
    ))
}

fn path_str(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_owned)
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// A TOML basic string: JSON's escapes (`\"`, `\\`, `\n`, `\u00XX`) are TOML's too.
fn toml_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// `tenantry serve` running; killed when dropped (also when the bench fails).
pub struct Serve {
    child: Child,
    pub pid: u32,
    pub port: u16,
    pub stderr_log: PathBuf,
}

impl Serve {
    /// Starts `binary --config <config> serve` with a clean Tenantry environment, its stderr
    /// (the logs) to `stderr_log`, and waits for its address and a 200 from `/readyz`.
    pub async fn start(binary: &Path, config: &Path, stderr_log: &Path) -> Result<Self> {
        let log = std::fs::File::create(stderr_log)
            .with_context(|| format!("creating {}", stderr_log.display()))?;
        let mut cmd = Command::new(binary);
        cmd.arg("--config").arg(config).arg("serve");
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("TENANTRY_")) {
            cmd.env_remove(key);
        }
        cmd.env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("serve exited at once")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut serve = Serve {
            child,
            pid,
            port: 0,
            stderr_log: stderr_log.to_owned(),
        };
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(port) = listening_port(&line) {
                    return Ok(port);
                }
            }
            bail!("serve closed its stdout before printing its address")
        })
        .await
        .map_err(|_| anyhow::anyhow!("serve printed no address within {START_TIMEOUT:?}"))
        .and_then(|r| r)
        .with_context(|| serve.log_tail())?;
        serve.port = port;
        // Keep reading, so that a later line never blocks the child on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        serve.wait_ready().await.with_context(|| serve.log_tail())?;
        Ok(serve)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{}/readyz", self.port);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("serve exited with {status} before it was ready");
            }
            if let Ok(res) = client.get(&url).send().await
                && res.status() == 200
            {
                return Ok(());
            }
            ensure!(
                started.elapsed() < READY_TIMEOUT,
                "/readyz did not answer 200 within {READY_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The child's memory now.
    pub fn memory(&self) -> Result<Rss> {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        Rss::parse(&status).with_context(|| format!("no VmRSS/VmHWM in {path}"))
    }

    /// Fails if the child has exited (it must serve throughout).
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => {
                Err(anyhow::anyhow!("serve exited with {status}")).with_context(|| self.log_tail())
            }
        }
    }

    /// SIGKILL and reap.
    pub async fn kill(mut self) -> Result<()> {
        self.child.kill().await.context("killing serve")
    }

    /// The last lines the child logged, for an error message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n  ");
        format!(
            "serve's last log lines ({}):\n  {tail}",
            self.stderr_log.display()
        )
    }
}

/// `listening on http://127.0.0.1:PORT (…)` → PORT.
fn listening_port(line: &str) -> Option<u16> {
    line.strip_prefix("listening on http://127.0.0.1:")?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// A process's resident set now and at its peak, in KiB (as `/proc/<pid>/status` gives them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rss {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

impl Rss {
    fn parse(status: &str) -> Option<Self> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        };
        Some(Self {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }
}

pub fn self_check() {
    let toml = settings_toml(
        "postgres://postgres@127.0.0.1:5432/m",
        Path::new("/tmp/a \"b\""),
        Path::new("/tmp/k"),
    )
    .expect("UTF-8 paths");
    assert!(toml.contains("data_dir = \"/tmp/a \\\"b\\\"\"\n"), "{toml}");
    assert!(toml.contains("url = \"postgres://postgres@127.0.0.1:5432/m\""));
    assert!(toml.contains("storage_check_every_secs = 0"));
    assert_eq!(
        listening_port("listening on http://127.0.0.1:41234 (tenants at http://<subdomain>.x)"),
        Some(41234)
    );
    assert_eq!(listening_port("created first admin"), None);
    let status = "Name:\ttenantry\nVmHWM:\t   52340 kB\nVmRSS:\t   48000 kB\nThreads:\t9\n";
    assert_eq!(
        Rss::parse(status),
        Some(Rss {
            rss_kib: 48_000,
            hwm_kib: 52_340
        })
    );
    assert_eq!(Rss::parse("VmRSS:\t1 kB\n"), None);
}
