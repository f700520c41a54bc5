//! The chaos proxy in front of a tiny echo server: each mode does to real sockets what it says.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use tenantry_test_utils::chaos::{ChaosProxy, Mode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Echoes every byte back, one task per connection; all stop when the handle is aborted.
async fn echo_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let mut echoes = JoinSet::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            echoes.spawn(async move {
                let (mut rx, mut tx) = stream.split();
                let _ = tokio::io::copy(&mut rx, &mut tx).await;
            });
        }
    });
    (addr, handle)
}

/// What a read on the connection gives within `wait`.
#[derive(Debug, PartialEq)]
enum Read {
    Data(Vec<u8>),
    Eof,
    Reset,
    Nothing,
}

async fn read(stream: &mut TcpStream, wait: Duration) -> Read {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(wait, stream.read(&mut buf)).await {
        Err(_) => Read::Nothing,
        Ok(Ok(0)) => Read::Eof,
        Ok(Ok(n)) => Read::Data(buf[..n].to_vec()),
        Ok(Err(e)) if e.kind() == ErrorKind::ConnectionReset => Read::Reset,
        Ok(Err(e)) => panic!("unexpected read error: {e}"),
    }
}

/// Sends `bytes` and expects them back.
async fn round_trip(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).await.unwrap();
    assert_eq!(
        read(stream, Duration::from_secs(2)).await,
        Read::Data(bytes.to_vec())
    );
}

async fn connect(proxy: &ChaosProxy) -> TcpStream {
    TcpStream::connect(proxy.addr()).await.unwrap()
}

/// A connection the proxy refuses is reset as soon as it is accepted. (No write first: a write
/// that meets the reset would take the error, and the read after it would see a plain EOF.)
async fn assert_refused(proxy: &ChaosProxy) {
    let mut refused = connect(proxy).await;
    assert_eq!(
        read(&mut refused, Duration::from_secs(2)).await,
        Read::Reset
    );
}

#[tokio::test]
async fn pass_forwards_both_ways_and_counts_connections() {
    let (upstream, echo) = echo_server().await;
    let proxy = ChaosProxy::start(upstream).await;
    assert_ne!(proxy.addr(), upstream);
    let mut a = connect(&proxy).await;
    let mut b = connect(&proxy).await;
    round_trip(&mut a, b"hello").await;
    round_trip(&mut b, &[7u8; 48]).await;
    assert_eq!(proxy.connections(), 2);
    echo.abort();
}

#[tokio::test]
async fn refuse_resets_new_connections_and_keeps_open_ones() {
    let (upstream, echo) = echo_server().await;
    let proxy = ChaosProxy::start(upstream).await;
    let mut open = connect(&proxy).await;
    round_trip(&mut open, b"before").await;

    proxy.set_mode(Mode::Refuse);
    assert_refused(&proxy).await;
    round_trip(&mut open, b"still served").await;

    proxy.set_mode(Mode::Pass);
    round_trip(&mut connect(&proxy).await, b"after").await;
    assert_eq!(proxy.connections(), 3);
    echo.abort();
}

#[tokio::test]
async fn reset_cuts_open_connections_and_refuses_new_ones() {
    let (upstream, echo) = echo_server().await;
    let proxy = ChaosProxy::start(upstream).await;
    let mut open = connect(&proxy).await;
    round_trip(&mut open, b"before").await;

    proxy.set_mode(Mode::Reset);
    // An RST, not an orderly close: the client sees "connection reset", never a clean EOF.
    assert_eq!(read(&mut open, Duration::from_secs(2)).await, Read::Reset);
    assert_refused(&proxy).await;

    proxy.set_mode(Mode::Pass);
    round_trip(&mut connect(&proxy).await, b"after").await;
    echo.abort();
}

#[tokio::test]
async fn blackhole_holds_everything_open_and_silent_until_pass() {
    let (upstream, echo) = echo_server().await;
    let proxy = ChaosProxy::start(upstream).await;
    let mut open = connect(&proxy).await;
    round_trip(&mut open, b"before").await;

    proxy.set_mode(Mode::Blackhole);
    open.write_all(b"lost?").await.unwrap();
    // Neither an answer nor a close nor a reset: the connection just goes quiet.
    assert_eq!(
        read(&mut open, Duration::from_millis(300)).await,
        Read::Nothing
    );
    let mut new = connect(&proxy).await;
    new.write_all(b"hello?").await.unwrap();
    assert_eq!(
        read(&mut new, Duration::from_millis(300)).await,
        Read::Nothing
    );
    assert_eq!(proxy.connections(), 2, "new connections are still accepted");

    // Back to Pass: nothing sent meanwhile was lost, and new connections are served.
    proxy.set_mode(Mode::Pass);
    assert_eq!(
        read(&mut open, Duration::from_secs(2)).await,
        Read::Data(b"lost?".to_vec())
    );
    assert_eq!(
        read(&mut new, Duration::from_secs(2)).await,
        Read::Data(b"hello?".to_vec())
    );
    round_trip(&mut connect(&proxy).await, b"after").await;
    echo.abort();
}

#[tokio::test]
async fn reset_reaches_black_holed_connections() {
    let (upstream, echo) = echo_server().await;
    let proxy = ChaosProxy::start(upstream).await;
    let mut open = connect(&proxy).await;
    round_trip(&mut open, b"before").await;
    proxy.set_mode(Mode::Blackhole);
    let mut waiting = connect(&proxy).await;
    // Make sure the proxy has accepted it before the mode changes again.
    tokio::time::sleep(Duration::from_millis(100)).await;

    proxy.set_mode(Mode::Reset);
    assert_eq!(read(&mut open, Duration::from_secs(2)).await, Read::Reset);
    assert_eq!(
        read(&mut waiting, Duration::from_secs(2)).await,
        Read::Reset
    );
    echo.abort();
}

#[tokio::test]
async fn dropping_the_proxy_closes_its_port_and_its_connections() {
    let (upstream, echo) = echo_server().await;
    let proxy = ChaosProxy::start(upstream).await;
    let addr = proxy.addr();
    let mut open = connect(&proxy).await;
    round_trip(&mut open, b"before").await;

    drop(proxy);
    let closed = read(&mut open, Duration::from_secs(2)).await;
    assert!(
        matches!(closed, Read::Eof | Read::Reset),
        "open connection after drop: {closed:?}"
    );
    let refused = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr))
        .await
        .expect("connect answers at once");
    assert_eq!(
        refused.map(|_| ()).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
    echo.abort();
}
