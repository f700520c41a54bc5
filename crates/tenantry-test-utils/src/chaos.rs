//! A TCP proxy that injects network faults between a client and a real server (after crates.io's
//! `chaosproxy`): tests put it in front of a database and refuse, reset or black-hole the
//! connections to see how the application degrades.
//!
//! Loopback only: it listens on `127.0.0.1:0`. Every task it spawns stops when it is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forwards both ways.
    Pass,
    /// New connections are reset at once; open ones keep working.
    Refuse,
    /// Every open connection is reset now, and new ones are refused.
    Reset,
    /// Nothing is forwarded, on open or new connections, but every socket stays open: no FIN,
    /// no RST, as when packets are dropped on the way. New connections are accepted (the kernel
    /// completes the handshake) and never answered. Bytes sent meanwhile stay queued and are
    /// delivered if the mode goes back to `Pass`.
    Blackhole,
}

impl Mode {
    /// Whether bytes may move on an established connection.
    fn flows(self) -> bool {
        matches!(self, Mode::Pass | Mode::Refuse)
    }
}

/// A running proxy. Dropping it stops it: the listener closes and every proxied connection is
/// closed (the tasks are aborted).
pub struct ChaosProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    connections: Arc<AtomicUsize>,
    accepting: tokio::task::JoinHandle<()>,
}

impl ChaosProxy {
    /// Listens on a free loopback port and forwards to `upstream`, in [`Mode::Pass`].
    pub async fn start(upstream: SocketAddr) -> ChaosProxy {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the chaos proxy on loopback");
        let addr = listener.local_addr().expect("the proxy's own address");
        let (mode, watching) = watch::channel(Mode::Pass);
        let connections = Arc::new(AtomicUsize::new(0));
        let accepting = tokio::spawn(accept(listener, upstream, watching, connections.clone()));
        ChaosProxy {
            addr,
            mode,
            connections,
            accepting,
        }
    }

    /// Where clients connect instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set_mode(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Connections accepted so far, whatever was done with them.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        // The connection tasks live in the accept task's JoinSet: aborting it drops them all.
        self.accepting.abort();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Receiver<Mode>,
    connections: Arc<AtomicUsize>,
) {
    let mut proxied = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else {
                    // Out of descriptors, say: do not spin on it.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                connections.fetch_add(1, Ordering::SeqCst);
                let now = *mode.borrow();
                match now {
                    Mode::Refuse | Mode::Reset => reset(client),
                    Mode::Pass | Mode::Blackhole => {
                        proxied.spawn(proxy(client, upstream, mode.clone()));
                    }
                }
            }
            // Reap finished connections so the set does not grow with the test.
            Some(_) = proxied.join_next(), if !proxied.is_empty() => {}
        }
    }
}

/// Closes with RST instead of FIN: the peer sees "connection reset", not an orderly close.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// One proxied connection, until either side closes or the proxy resets it.
async fn proxy(mut client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    // Accepted while black-holed: the client's bytes wait in the kernel until the mode changes.
    match mode.wait_for(|m| *m != Mode::Blackhole).await.map(|m| *m) {
        Ok(Mode::Reset) | Err(_) => return reset(client),
        Ok(_) => {}
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return reset(client);
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    {
        let (mut client_rx, mut client_tx) = client.split();
        let (mut server_rx, mut server_tx) = server.split();
        let (up, down) = (mode.clone(), mode.clone());
        let both_ways = async {
            tokio::join!(
                forward(&mut client_rx, &mut server_tx, up),
                forward(&mut server_rx, &mut client_tx, down),
            )
        };
        tokio::select! {
            _ = both_ways => {}
            _ = mode.wait_for(|m| *m == Mode::Reset) => {}
        }
    }
    // Either way out (the copies also stop on a reset): dropping the sockets would send FIN.
    if *mode.borrow() == Mode::Reset {
        reset(client);
        reset(server);
    }
}

/// Copies one direction while the mode lets bytes flow; pauses (without losing a byte) while it
/// is black-holed. An end of stream is passed on as a half-close.
async fn forward(
    from: &mut (impl AsyncRead + Unpin),
    to: &mut (impl AsyncWrite + Unpin),
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !flowing(&mut mode).await {
            return;
        }
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            // Reading is cancel-safe: look at the mode again before reading on.
            _ = mode.changed() => continue,
        };
        let n = match read {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        // Read just before a black hole opened: hold the bytes until it closes.
        if !flowing(&mut mode).await || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Waits while the connection is black-holed; `false` once it is to be reset (or the proxy is
/// gone).
async fn flowing(mode: &mut watch::Receiver<Mode>) -> bool {
    match mode.wait_for(|m| *m != Mode::Blackhole).await {
        Ok(m) => m.flows(),
        Err(_) => false,
    }
}
