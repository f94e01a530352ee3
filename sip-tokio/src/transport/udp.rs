//! UDP: one socket, read by the driver's loop itself (a datagram is a whole message, so no
//! reader task is needed) and written without waiting, with a bounded queue for the moments
//! the socket would block.
//!
//! On Linux the socket asks for ICMP errors (`IP_RECVERR`): a datagram refused by a closed
//! port comes back as an error on the socket, and its error queue says which destination
//! refused it, so the core can fail that request at once instead of after 32 s.

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

/// Errors read from the socket's error queue at a time: a few per turn are plenty for one
/// refused destination, and the rest wait for the next turn.
const ERROR_BATCH: usize = 64;

/// The UDP socket and the datagrams waiting for it to become writable.
pub(crate) struct Udp {
    socket: UdpSocket,
    queue: VecDeque<(SocketAddr, Bytes)>,
    /// A receive or send failed with `ECONNREFUSED`: the error queue has something to say.
    refused: bool,
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
        #[cfg(target_os = "linux")]
        icmp::ask_for_errors(&socket, addr);
        Ok(Udp {
            socket: UdpSocket::from_std(socket.into())?,
            queue: VecDeque::new(),
            refused: false,
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

    /// A receive failed with `error`: an ICMP error for an earlier send (it says nothing
    /// about this socket), noted for [`Udp::take_refused`].
    pub(crate) fn receive_failed(&mut self, error: &io::Error) {
        debug!("UDP receive: {error}");
        self.refused |= error.kind() == io::ErrorKind::ConnectionRefused;
    }

    /// Destinations that refused a datagram we sent (ICMP port unreachable), read from
    /// the socket's error queue once a receive or send failed with `ECONNREFUSED`. Empty
    /// where the platform does not say which.
    pub(crate) fn take_refused(&mut self) -> Vec<SocketAddr> {
        if !std::mem::take(&mut self.refused) {
            return Vec::new();
        }
        #[cfg(target_os = "linux")]
        {
            icmp::refused_destinations(&self.socket, ERROR_BATCH)
        }
        #[cfg(not(target_os = "linux"))]
        {
            Vec::new()
        }
    }

    /// Sends one datagram. An ICMP error for an earlier datagram fails the next send
    /// (Linux reports a pending socket error there) without sending it; the error is
    /// noted and the send tried once more.
    fn try_send(&mut self, remote: SocketAddr, payload: &[u8]) -> io::Result<usize> {
        match self.socket.try_send_to(payload, remote) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                self.refused = true;
                self.socket.try_send_to(payload, remote)
            }
            other => other,
        }
    }

    /// True while datagrams wait for the socket to become writable.
    pub(crate) fn has_queued(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Sends `payload` now, or queues it behind the others while the socket would block.
    pub(crate) fn send(&mut self, remote: SocketAddr, payload: Bytes) {
        // Keep order: while anything waits, new datagrams wait behind it.
        if self.queue.is_empty() {
            match self.try_send(remote, &payload) {
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
        while let Some((remote, payload)) = self.queue.pop_front() {
            match self.try_send(remote, &payload) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.queue.push_front((remote, payload));
                    return;
                }
                Err(e) => debug!(%remote, "UDP send: {e}"),
                Ok(_) => {}
            }
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

/// ICMP errors through Linux's socket error queue (`ip(7)`: `IP_RECVERR`).
#[cfg(target_os = "linux")]
mod icmp {
    use std::io::IoSliceMut;
    use std::net::SocketAddr;
    use std::os::fd::AsRawFd;

    use nix::errno::Errno;
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt};
    use tokio::net::UdpSocket;
    use tracing::debug;

    /// Asks the kernel to queue ICMP errors on the socket (best effort: without it, a
    /// refused datagram is only noticed by the transaction timers).
    pub(super) fn ask_for_errors(socket: &socket2::Socket, addr: SocketAddr) {
        let result = match addr {
            SocketAddr::V4(_) => setsockopt(socket, sockopt::Ipv4RecvErr, &true),
            SocketAddr::V6(_) => setsockopt(socket, sockopt::Ipv6RecvErr, &true),
        };
        if let Err(e) = result {
            debug!("UDP: ICMP errors not reported ({e}); refused requests time out instead");
        }
    }

    /// Reads up to `max` errors off the queue; the destinations refused with "port
    /// unreachable" (`ECONNREFUSED`), each once (the core scans its transactions for each,
    /// so a burst of errors about one peer costs one scan).
    pub(super) fn refused_destinations(socket: &UdpSocket, max: usize) -> Vec<SocketAddr> {
        let mut refused = Vec::new();
        let mut payload = [0u8; 512];
        let mut control = nix::cmsg_space!(nix::libc::sock_extended_err, nix::libc::sockaddr_in6);
        for _ in 0..max {
            let mut iov = [IoSliceMut::new(&mut payload)];
            let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
            let message =
                match recvmsg::<SockaddrStorage>(socket.as_raw_fd(), &mut iov, Some(&mut control), flags) {
                    Ok(message) => message,
                    Err(Errno::EAGAIN) => break,
                    Err(e) => {
                        debug!("UDP error queue: {e}");
                        break;
                    }
                };
            // The error itself is in a control message; the address is the destination
            // of the datagram that caused it.
            let port_unreachable = message.cmsgs().into_iter().flatten().any(|cmsg| match cmsg {
                ControlMessageOwned::Ipv4RecvErr(error, _) | ControlMessageOwned::Ipv6RecvErr(error, _) => {
                    error.ee_errno == Errno::ECONNREFUSED as u32
                }
                _ => false,
            });
            let destination = message.address.and_then(|address| {
                address
                    .as_sockaddr_in()
                    .map(|v4| SocketAddr::from((v4.ip(), v4.port())))
                    .or_else(|| {
                        address
                            .as_sockaddr_in6()
                            .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
                    })
            });
            if let (true, Some(destination)) = (port_unreachable, destination) {
                refused.push(destination);
            }
        }
        refused.sort_unstable();
        refused.dedup();
        refused
    }
}
