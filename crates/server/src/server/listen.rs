//! Binding the listening sockets: one, or one per worker sharing the
//! address through `SO_REUSEPORT`, the kernel spreading new connections
//! over them.

use std::io;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpSocket};

/// As many queued connections as tokio's `TcpListener::bind` allows.
const BACKLOG: u32 = 1024;

/// `count` listeners on `addr`. On port 0 the first one gets a port from
/// the system and the others bind to that port. An address already in use
/// is refused as it is with one listener, even when the socket holding it
/// allows sharing: a second proxy must not quietly split the traffic.
pub async fn bind(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpListener>> {
    if count <= 1 || !cfg!(unix) {
        return Ok(vec![TcpListener::bind(addr).await?]);
    }
    if addr.port() != 0 {
        // The system never hands out a port in use for port 0; a fixed
        // port is tried with a socket that shares with no one.
        let probe = socket_for(addr)?;
        probe.set_reuseaddr(true)?;
        probe.bind(addr)?;
    }
    let first = shared(addr)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(shared(addr)?);
    }
    Ok(listeners)
}

fn socket_for(addr: SocketAddr) -> io::Result<TcpSocket> {
    if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
}

/// A listener on `addr` that other listeners of this process share.
fn shared(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket_for(addr)?;
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listeners_on_port_0_share_the_port_the_first_one_got() {
        let listeners = bind("127.0.0.1:0".parse().unwrap(), 3).await.unwrap();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        assert_eq!(ports.len(), 3);
        assert_ne!(ports[0], 0);
        assert!(ports.iter().all(|p| *p == ports[0]), "{ports:?}");
    }

    #[tokio::test]
    async fn an_address_in_use_is_refused_even_by_a_sharing_socket() {
        let taken = shared("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = taken.local_addr().unwrap();
        for count in [1, 2] {
            let err = bind(addr, count).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{count}: {err}");
        }
    }
}
