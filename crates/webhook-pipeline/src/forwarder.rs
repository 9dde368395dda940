//! A TCP forwarder for tests that need a server to go away and come back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A TCP forwarder on 127.0.0.1 to a test server: [`stop`](Forwarder::stop) closes
/// its listener and every connection through it, so the server looks gone (connections
/// refused, the pooled ones cut).
pub(crate) struct Forwarder {
    pub(crate) port: u16,
    accept: Option<tokio::task::JoinHandle<()>>,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Forwarder {
    /// Listens on `127.0.0.1:port` (0: any free port), retrying the bind for up to 5 s.
    pub(crate) async fn start(upstream: std::net::SocketAddr, port: u16) -> Forwarder {
        let mut listener = None;
        for _ in 0..50 {
            match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let listener = listener.unwrap_or_else(|| panic!("cannot bind the forwarder on 127.0.0.1:{port}"));
        let port = listener.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let tracked = conns.clone();
        let accept = tokio::spawn(async move {
            // Bounded: a test opens a few dozen connections at most.
            for _ in 0..10_000 {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tracked.lock().unwrap().push(conn);
            }
        });
        Forwarder { port, accept: Some(accept), conns }
    }

    /// Closes the listener, then every forwarded connection, and waits until they are
    /// gone.
    pub(crate) async fn stop(&mut self) {
        if let Some(h) = self.accept.take() {
            h.abort();
            let _ = h.await;
        }
        let conns: Vec<_> = self.conns.lock().unwrap().drain(..).collect();
        for h in conns {
            h.abort();
            let _ = h.await;
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        for h in self.accept.take().into_iter().chain(self.conns.lock().unwrap().drain(..)) {
            h.abort();
        }
    }
}
