//! WebSocket (RFC 7118): SIP over `ws://` (TCP) and `wss://` (TLS through the agent's
//! rustls settings), through tokio-tungstenite's handshake and framing.
//!
//! - **Handshake** (RFC 7118 §4): the client asks for the `sip` subprotocol
//!   (`Sec-WebSocket-Protocol: sip`) and fails a server that does not pick it; the server
//!   picks it, and refuses a handshake that does not offer it with 400. A handshake runs
//!   in a task of its own, under a deadline, and at most [`MAX_HANDSHAKES`] run at once
//!   per listener, so neither slow nor many peers hold up the accept loop or the driver.
//! - **Messages** (RFC 7118 §3.2): one SIP message per frame, each way. What arrives goes
//!   to the driver whole ([`NetEvent::Message`], then `Endpoint::handle_flow_message`); what
//!   we send goes as a text frame when it is valid UTF-8 (as SIP almost always is), else
//!   as a binary one. A frame or message longer than the core's `max_message_size` fails
//!   the connection (tungstenite stops reading it at the limit, it is never buffered
//!   whole).
//! - **Keep-alive**: a ping every [`PING_INTERVAL`]; a connection from which nothing at all
//!   (not even a pong) arrives for [`SILENCE_LIMIT`] is failed. Pings from the peer are
//!   answered by tungstenite. Pongs and pings go to the core as `FlowEvent::KeepAlive`, so
//!   a connection kept alive this way is not closed as idle (`flow_idle_timeout`), as a
//!   CRLF keep-alive keeps a TCP connection.
//! - **Writes**: a writer task per connection fed through the bounded [`FlowWriter`], as
//!   for TCP and TLS; tungstenite's own write buffer is bounded as well.
//!
//! As for TLS, a `wss://` client names the server by the host name the core located it
//! by (RFC 5922 §4; SNI, the certificate check and the URL's host), else by the IP address
//! it connects to (checked against the certificate's IP SANs).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use sip_core::endpoint::{FlowId, Transport};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tracing::{debug, warn};

use super::{Connection, FlowWriter, NetEvent, NetSender, OpenedFlow};

/// The WebSocket subprotocol of SIP (RFC 7118 §4, registered in §10.1).
const SUBPROTOCOL: &str = "sip";
/// How long a connect, with its TLS and WebSocket handshakes, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a peer that connected has to finish its handshakes.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes one listener runs at once; past it the accept loop waits (and the kernel's
/// backlog holds the rest), so a flood of connections that never finish their handshake
/// holds a bounded number of tasks.
pub(super) const MAX_HANDSHAKES: usize = 256;
/// How often we ping the peer.
pub(super) const PING_INTERVAL: Duration = Duration::from_secs(30);
/// How long a connection may stay silent (not even a pong) before it is failed.
pub(super) const SILENCE_LIMIT: Duration = Duration::from_secs(75);
/// How long the accept loop pauses after an accept error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
/// Bytes of frames tungstenite gathers before it writes (a flush writes at once).
const WRITE_BUFFER: usize = 64 * 1024;
/// How many bytes a read takes at once.
const READ_BUFFER: usize = 16 * 1024;
/// Messages a writer sends before it flushes, so a burst goes out in a few writes.
const WRITE_BATCH: usize = 64;

/// A `ws://` stream.
pub(crate) type PlainStream = WebSocketStream<TcpStream>;
/// A `wss://` stream (either side of the TLS connection).
pub(crate) type SecureStream = WebSocketStream<tokio_rustls::TlsStream<TcpStream>>;

/// The WebSocket limits of one connection: no frame and no message longer than
/// `max_message` (the core's `max_message_size`), and a bounded write buffer.
pub(crate) fn config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        // Room for the buffer and a message on top (tungstenite's own advice), and a
        // little more; past it a write fails instead of buffering more.
        .max_write_buffer_size(WRITE_BUFFER + 2 * max_message + 1024)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}

/// What a WebSocket listener or connector needs: the core's message limit, and for
/// `wss` the TLS side.
#[derive(Clone)]
pub(crate) struct WsSettings {
    pub(crate) max_message: usize,
}

/// Whether a handshake request offers the `sip` subprotocol: `Sec-WebSocket-Protocol` is
/// a comma-separated list, and may come in several header lines.
fn offers_sip(request: &Request) -> bool {
    request
        .headers()
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|list| list.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case(SUBPROTOCOL))
}

/// The server's side of the handshake (RFC 7118 §4): picks `sip`, or refuses with 400.
#[allow(clippy::result_large_err)] // tungstenite's callback type
fn pick_sip(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    if !offers_sip(request) {
        let mut refusal = ErrorResponse::new(Some(
            "the sip WebSocket subprotocol (RFC 7118) is required".to_owned(),
        ));
        *refusal.status_mut() = StatusCode::BAD_REQUEST;
        return Err(refusal);
    }
    response
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(SUBPROTOCOL));
    Ok(response)
}

/// Accepts connections, and runs each one's handshakes (TLS first with an `acceptor`,
/// then WebSocket) in a task of its own; a connection whose handshakes succeed goes to the
/// driver as [`NetEvent::Accepted`].
pub(super) async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    settings: WsSettings,
    net: NetSender,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = net.closed() => return,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!("WebSocket accept: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Waits while MAX_HANDSHAKES are in progress (the semaphore is never closed).
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let acceptor = acceptor.clone();
        let net = net.clone();
        let config = config(settings.max_message);
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            let handshake = async {
                match acceptor {
                    None => {
                        let ws =
                            tokio_tungstenite::accept_hdr_async_with_config(stream, pick_sip, Some(config))
                                .await
                                .map_err(|e| e.to_string())?;
                        Ok::<_, String>((Transport::Ws, Connection::Ws(Box::new(ws))))
                    }
                    Some(acceptor) => {
                        let tls = acceptor.accept(stream).await.map_err(|e| e.to_string())?;
                        let tls = tokio_rustls::TlsStream::Server(tls);
                        let ws = tokio_tungstenite::accept_hdr_async_with_config(tls, pick_sip, Some(config))
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok((Transport::Wss, Connection::Wss(Box::new(ws))))
                    }
                }
            };
            let (transport, connection) = match tokio::time::timeout(ACCEPT_TIMEOUT, handshake).await {
                Ok(Ok(accepted)) => accepted,
                Ok(Err(e)) => {
                    debug!(%remote, "WebSocket accept: {e}");
                    return;
                }
                Err(_) => {
                    debug!(%remote, "WebSocket accept timed out");
                    return;
                }
            };
            let event = NetEvent::Accepted {
                transport,
                remote,
                connection,
            };
            let _ = net.send(event).await;
        });
    }
}

/// Starts the reader and writer tasks of a connection that is up.
pub(super) fn start<S>(flow: FlowId, stream: WebSocketStream<S>, net: &NetSender) -> OpenedFlow
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, source) = stream.split();
    let writer = spawn_writer(flow, sink, net.clone());
    let reader = tokio::spawn(read_loop(flow, source, net.clone()));
    OpenedFlow { writer, reader }
}

/// Starts a task that connects (`ws://` without a `tls` connector, else `wss://`), shakes
/// hands, hands the driver a writer, then reads until the connection ends.
pub(super) fn connect(
    flow: FlowId,
    (remote, server_name): (SocketAddr, Option<String>),
    tls: Option<TlsConnector>,
    settings: WsSettings,
    net: NetSender,
) -> JoinHandle<()> {
    tokio::spawn(connect_then_read(flow, (remote, server_name), tls, settings, net))
}

/// The handshake request: `ws://HOST:PORT/` (or `wss://`), asking for `sip`; the host is
/// the server's name when the core located it by one, else its address.
fn client_request(
    remote: SocketAddr,
    server_name: Option<&str>,
    secure: bool,
) -> Result<tokio_tungstenite::tungstenite::handshake::client::Request, String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let scheme = if secure { "wss" } else { "ws" };
    // SocketAddr's text brackets an IPv6 address, as a URL wants.
    let url = match server_name {
        Some(name) => format!("{scheme}://{name}:{}/", remote.port()),
        None => format!("{scheme}://{remote}/"),
    };
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(SUBPROTOCOL));
    Ok(request)
}

async fn connect_then_read(
    flow: FlowId,
    (remote, server_name): (SocketAddr, Option<String>),
    tls: Option<TlsConnector>,
    settings: WsSettings,
    net: NetSender,
) {
    let config = config(settings.max_message);
    let connecting = async {
        let request = client_request(remote, server_name.as_deref(), tls.is_some())?;
        let stream = TcpStream::connect(remote).await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        // tungstenite fails the handshake when the server does not pick `sip`
        // (RFC 6455 §4.1: the client asked for it).
        match tls {
            None => {
                let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(Connected::Plain(Box::new(ws)))
            }
            Some(connector) => {
                let name = match server_name {
                    Some(name) => ServerName::try_from(name).map_err(|e| e.to_string())?,
                    None => ServerName::IpAddress(remote.ip().into()),
                };
                let tls = connector.connect(name, stream).await.map_err(|e| e.to_string())?;
                let tls = tokio_rustls::TlsStream::Client(tls);
                let (ws, _) = tokio_tungstenite::client_async_with_config(request, tls, Some(config))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Connected::Secure(Box::new(ws)))
            }
        }
    };
    let connected = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(connected)) => connected,
        Ok(Err(e)) => {
            debug!(%flow, %remote, "WebSocket connect: {e}");
            let _ = net.send(NetEvent::Closed { flow, failed: true }).await;
            return;
        }
        Err(_) => {
            debug!(%flow, %remote, "WebSocket connect timed out");
            let _ = net.send(NetEvent::Closed { flow, failed: true }).await;
            return;
        }
    };
    match connected {
        Connected::Plain(ws) => run_connected(flow, *ws, net).await,
        Connected::Secure(ws) => run_connected(flow, *ws, net).await,
    }
}

/// A client connection after its handshakes (boxed: the streams are large).
enum Connected {
    Plain(Box<PlainStream>),
    Secure(Box<SecureStream>),
}

/// Hands the driver the writer of a connection we opened, then reads it.
async fn run_connected<S>(flow: FlowId, ws: WebSocketStream<S>, net: NetSender)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, source) = ws.split();
    let writer = spawn_writer(flow, sink, net.clone());
    // Connected goes first on the same channel, so no message can overtake it.
    if net.send(NetEvent::Connected { flow, writer }).await.is_err() {
        return;
    }
    read_loop(flow, source, net).await;
}

/// Forwards each message frame of a connection to the driver, whole. Ends, reporting
/// `Closed`, when the peer closes, a frame breaks the protocol or the limits, or nothing
/// arrives for [`SILENCE_LIMIT`].
async fn read_loop<S>(flow: FlowId, mut source: SplitStream<WebSocketStream<S>>, net: NetSender)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let event = match tokio::time::timeout(SILENCE_LIMIT, source.next()).await {
            Err(_) => {
                debug!(%flow, "WebSocket silent too long (no pong)");
                NetEvent::Closed { flow, failed: true }
            }
            Ok(None) => NetEvent::Closed { flow, failed: false },
            // RFC 7118 §3.2: one SIP message per text or binary frame.
            Ok(Some(Ok(Message::Text(text)))) => NetEvent::Message {
                flow,
                data: Bytes::from(text),
            },
            Ok(Some(Ok(Message::Binary(data)))) => NetEvent::Message { flow, data },
            // The peer is there: the core counts it against its idle timeout, as a CRLF
            // keep-alive on TCP (tungstenite answers a ping itself).
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => NetEvent::KeepAlive { flow },
            Ok(Some(Ok(Message::Frame(_)))) => continue,
            // tungstenite answers the close and the stream then ends.
            Ok(Some(Ok(Message::Close(_)))) => continue,
            Ok(Some(Err(e))) => {
                // Oversize frames and messages (a capacity error), protocol errors, I/O.
                debug!(%flow, "WebSocket read: {e}");
                NetEvent::Closed { flow, failed: true }
            }
        };
        let last = matches!(event, NetEvent::Closed { .. });
        if net.send(event).await.is_err() || last {
            return;
        }
    }
}

/// One frame for `payload`: text when it is valid UTF-8, else binary (RFC 7118 §3.2
/// allows either).
fn frame(payload: Bytes) -> Message {
    match Utf8Bytes::try_from(payload.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(payload),
    }
}

/// A task writing one connection's messages in order, a frame each, and pinging every
/// [`PING_INTERVAL`]; it ends (sending a close frame) when the driver drops the writer,
/// and reports a failed write.
fn spawn_writer<S>(
    flow: FlowId,
    mut sink: SplitSink<WebSocketStream<S>, Message>,
    net: NetSender,
) -> FlowWriter
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (writer, mut rx) = FlowWriter::channel();
    tokio::spawn(async move {
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let result = tokio::select! {
                payload = rx.recv() => match payload {
                    Some(payload) => {
                        let mut result = sink.feed(frame(payload)).await;
                        // What else is queued goes out with it, then one flush.
                        for _ in 1..WRITE_BATCH {
                            if result.is_err() {
                                break;
                            }
                            match rx.try_recv() {
                                Ok(more) => result = sink.feed(frame(more)).await,
                                Err(_) => break,
                            }
                        }
                        match result {
                            Ok(()) => sink.flush().await,
                            Err(e) => Err(e),
                        }
                    }
                    None => {
                        // The driver closed the flow: a close frame, best effort.
                        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
                        return;
                    }
                },
                _ = ping.tick() => sink.send(Message::Ping(Bytes::new())).await,
            };
            if let Err(e) = result {
                debug!(%flow, "WebSocket write: {e}");
                let _ = net.send(NetEvent::Closed { flow, failed: true }).await;
                return;
            }
        }
    });
    writer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(protocols: &[&str]) -> Request {
        let mut builder = Request::builder().uri("/");
        for p in protocols {
            builder = builder.header("Sec-WebSocket-Protocol", *p);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn only_a_handshake_offering_sip_is_taken() {
        assert!(offers_sip(&request(&["sip"])));
        assert!(offers_sip(&request(&["chat, SIP"])));
        assert!(offers_sip(&request(&["chat", "sip"])));
        assert!(!offers_sip(&request(&[])));
        assert!(!offers_sip(&request(&["sips, chat"])));
        let refused = pick_sip(&request(&["chat"]), Response::default()).unwrap_err();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let taken = pick_sip(&request(&["chat, sip"]), Response::default()).unwrap();
        assert_eq!(taken.headers()["Sec-WebSocket-Protocol"], "sip");
    }

    #[test]
    fn text_goes_as_text_and_other_bytes_as_binary() {
        assert!(matches!(
            frame(Bytes::from_static(b"OPTIONS sip:a SIP/2.0\r\n\r\n")),
            Message::Text(_)
        ));
        assert!(matches!(
            frame(Bytes::from_static(b"\xff\xfe")),
            Message::Binary(_)
        ));
    }
}
