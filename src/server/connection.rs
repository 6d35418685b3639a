//! What the flags server knows of each connection: its socket, so that the
//! `reset` faults can make its close a TCP reset. The listener itself is the
//! package's shared one ([`crate::server::listen`]).

use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use crate::server::listen::Guarded;

/// What the handler knows of a connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Connection {
    /// The connection's socket.
    pub fd: Option<std::os::fd::RawFd>,
}

/// The connection info of an accepted connection.
pub(crate) fn connection(io: &Guarded, _peer: SocketAddr) -> Connection {
    Connection {
        fd: Some(io.stream().as_raw_fd()),
    }
}
