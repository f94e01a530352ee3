//! TCP: an accept loop task per listener, and per connection a reader task and a writer
//! task. The core frames the byte stream itself (`handle_stream_data`), so a reader only
//! forwards what each read returns.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use sip_core::endpoint::{FlowId, Transport};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::{Connection, FlowWriter, NetEvent, NetSender, OpenedFlow};

/// How long a TCP connect may take before the flow is reported failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections the kernel completes and holds until the accept loop takes them. std's
/// default (128) overflows under a burst of connects while the driver is busy, and a
/// client whose SYN is dropped waits a second to try again; the kernel caps this at
/// `net.core.somaxconn` (4096 on current Linux).
const LISTEN_BACKLOG: u32 = 4096;
/// The most one read takes from a connection.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes of queued messages a TCP writer joins into one write.
const TCP_WRITE_BATCH: usize = 64 * 1024;
/// How long the accept loop pauses after an accept error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Accepts connections and hands each to the driver, which gives it a flow id and starts
/// its tasks ([`start`]). Ends when the driver is gone (it also aborts the loop when it
/// stops), which closes the listener.
pub(super) async fn accept_loop(listener: TcpListener, net: NetSender) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = net.closed() => return,
        };
        match accepted {
            Ok((stream, remote)) => {
                let event = NetEvent::Accepted {
                    transport: Transport::Tcp,
                    remote,
                    connection: Connection::Tcp(stream),
                };
                if net.send(event).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // Usually out of file descriptors: back off a little instead of spinning.
                warn!("TCP accept: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Starts the reader and writer tasks of a connection that is up.
pub(super) fn start(flow: FlowId, stream: TcpStream, net: &NetSender) -> OpenedFlow {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let writer = spawn_writer(flow, write, net.clone());
    let reader = tokio::spawn(read_loop(flow, read, net.clone()));
    OpenedFlow { writer, reader }
}

/// Starts a task that connects, hands the driver a writer, then reads until the
/// connection ends.
pub(super) fn connect(flow: FlowId, remote: SocketAddr, net: NetSender) -> JoinHandle<()> {
    tokio::spawn(connect_then_read(flow, remote, net))
}

async fn connect_then_read(flow: FlowId, remote: SocketAddr, net: NetSender) {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(remote)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            debug!(%flow, %remote, "TCP connect: {e}");
            let _ = net.send(NetEvent::Closed { flow, failed: true }).await;
            return;
        }
        Err(_) => {
            debug!(%flow, %remote, "TCP connect timed out");
            let _ = net.send(NetEvent::Closed { flow, failed: true }).await;
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let writer = spawn_writer(flow, write, net.clone());
    // Connected goes first on the same channel, so no Data can overtake it.
    if net.send(NetEvent::Connected { flow, writer }).await.is_err() {
        return;
    }
    read_loop(flow, read, net).await;
}

/// Forwards what a connection reads to the driver, tagged with its flow. A buffer is
/// taken only once the socket is readable, so an idle connection holds none: ten thousand
/// quiet connections would otherwise pin [`READ_CHUNK`] each.
async fn read_loop(flow: FlowId, read: OwnedReadHalf, net: NetSender) {
    loop {
        let event = match read.readable().await {
            Err(e) => {
                debug!(%flow, "TCP read: {e}");
                NetEvent::Closed { flow, failed: true }
            }
            Ok(()) => {
                let mut buf = BytesMut::with_capacity(READ_CHUNK);
                match read.try_read_buf(&mut buf) {
                    Ok(0) => NetEvent::Closed { flow, failed: false },
                    Ok(_) => NetEvent::Data {
                        flow,
                        data: buf.freeze(),
                    },
                    // Readiness can be spurious.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => {
                        debug!(%flow, "TCP read: {e}");
                        NetEvent::Closed { flow, failed: true }
                    }
                }
            }
        };
        let last = matches!(event, NetEvent::Closed { .. });
        if net.send(event).await.is_err() || last {
            return;
        }
    }
}

/// A task writing one connection's messages in order; it ends (closing the write side)
/// when the driver drops the writer, and reports a failed write.
fn spawn_writer(flow: FlowId, mut write: OwnedWriteHalf, net: NetSender) -> FlowWriter {
    let (writer, mut rx) = FlowWriter::channel();
    tokio::spawn(async move {
        let mut batch = BytesMut::new();
        while let Some(payload) = rx.recv().await {
            // Messages already queued go out in the same write: under load one system
            // call carries a burst instead of one call per message.
            let result = if rx.is_empty() {
                write.write_all(&payload).await
            } else {
                batch.clear();
                batch.extend_from_slice(&payload);
                while batch.len() < TCP_WRITE_BATCH {
                    match rx.try_recv() {
                        Ok(more) => batch.extend_from_slice(&more),
                        Err(_) => break,
                    }
                }
                write.write_all(&batch).await
            };
            if let Err(e) = result {
                debug!(%flow, "TCP write: {e}");
                let _ = net.send(NetEvent::Closed { flow, failed: true }).await;
                return;
            }
        }
        let _ = write.shutdown().await;
    });
    writer
}

/// Binds a TCP listener on `addr` with a backlog of [`LISTEN_BACKLOG`].
pub(super) async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As std's listener does: a restarted agent can bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}
