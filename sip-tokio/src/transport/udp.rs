//! UDP: one socket, read by the driver's loop itself (a datagram is a whole message, so no
//! reader task is needed) and written without waiting, with a bounded queue for the moments
//! the socket would block.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tracing::{debug, warn};

/// Socket buffer size for UDP, as SIPp's `-buff_size` for load: at thousands of calls a
/// second a burst of datagrams arrives faster than one loop turn drains it, and the kernel's
/// default receive buffer (about 208 KiB on Linux) drops the rest — retransmissions, then
/// failed calls. The kernel caps it at `net.core.rmem_max`/`wmem_max`.
const UDP_BUFFER: usize = 4 * 1024 * 1024;

/// UDP datagrams kept while the socket would block; past this the oldest is dropped (the
/// transaction layer retransmits, so a loss here is a loss on the wire).
const UDP_QUEUE: usize = 4096;

/// The UDP socket and the datagrams waiting for it to become writable.
pub(crate) struct Udp {
    socket: UdpSocket,
    queue: VecDeque<(SocketAddr, Bytes)>,
}

impl Udp {
    /// A non-blocking UDP socket bound to `addr` with [`UDP_BUFFER`]-sized buffers (best
    /// effort: a kernel that refuses keeps its default).
    pub(crate) fn bind(addr: SocketAddr) -> io::Result<Udp> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        if let Err(e) = socket.set_recv_buffer_size(UDP_BUFFER) {
            debug!("UDP receive buffer left at the default: {e}");
        }
        if let Err(e) = socket.set_send_buffer_size(UDP_BUFFER) {
            debug!("UDP send buffer left at the default: {e}");
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        Ok(Udp {
            socket: UdpSocket::from_std(socket.into())?,
            queue: VecDeque::new(),
        })
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Reads one datagram without waiting (`WouldBlock` when none is there).
    pub(crate) fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.socket.try_recv_from(buf)
    }

    /// True while datagrams wait for the socket to become writable.
    pub(crate) fn has_queued(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Sends `payload` now, or queues it behind the others while the socket would block.
    pub(crate) fn send(&mut self, remote: SocketAddr, payload: Bytes) {
        // Keep order: while anything waits, new datagrams wait behind it.
        if self.queue.is_empty() {
            match self.socket.try_send_to(&payload, remote) {
                Ok(_) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    // Unreachable network, wrong address family…: a loss, which the
                    // transaction layer's timers turn into a timeout.
                    debug!(%remote, "UDP send: {e}");
                    return;
                }
            }
        }
        if self.queue.len() >= UDP_QUEUE {
            self.queue.pop_front();
            warn!("UDP send queue full; oldest datagram dropped");
        }
        self.queue.push_back((remote, payload));
    }

    /// Sends what waits, until the socket would block again.
    pub(crate) fn flush(&mut self) {
        while let Some((remote, payload)) = self.queue.front() {
            match self.socket.try_send_to(payload, *remote) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => debug!(%remote, "UDP send: {e}"),
                Ok(_) => {}
            }
            self.queue.pop_front();
        }
    }
}

/// The next datagram on `udp`; never ready without a socket (so a `select!` branch on it
/// simply never fires).
pub(crate) async fn recv_from(udp: Option<&Udp>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    match udp {
        Some(udp) => udp.socket.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// Ready when `udp`'s socket can take a datagram again; never without a socket.
pub(crate) async fn writable(udp: Option<&Udp>) {
    match udp {
        Some(udp) => {
            // An error here shows up again on the next send; nothing to do with it now.
            let _ = udp.socket.writable().await;
        }
        None => std::future::pending().await,
    }
}
