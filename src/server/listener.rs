//! The flags server's listener: a deep backlog, and each connection tagged
//! with its socket so that the `reset` faults can reset it.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpSocket;

use crate::errln;

/// What the handler knows of a connection: its socket, so that
/// the `reset` faults can make its close a TCP reset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Connection {
    /// The connection's socket (`None` for the listener's own address).
    pub fd: Option<std::os::fd::RawFd>,
}

/// The server's listener: a tokio listener that tags each connection with its
/// socket, and rides out accept errors such as running out of file descriptors.
pub(crate) struct FlagsListener(pub(crate) tokio::net::TcpListener);

impl axum::serve::Listener for FlagsListener {
    type Io = tokio::net::TcpStream;
    type Addr = Connection;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let fd = Some(std::os::fd::AsRawFd::as_raw_fd(&stream));
                    return (stream, Connection { fd });
                }
                Err(error) => {
                    // EMFILE and friends: wait for connections to close.
                    errln!("flags serve: accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Connection { fd: None })
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, FlagsListener>>
    for Connection
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, FlagsListener>) -> Self {
        *stream.remote_addr()
    }
}

/// Binds `addr` (port 0 picks a free port) with a deep accept backlog, so that
/// thousands of clients connecting at once are queued rather than refused.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(65_535)
}
