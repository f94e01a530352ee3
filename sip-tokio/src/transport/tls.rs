//! TLS (RFC 3261 §26.2, RFC 5630): TCP with rustls on top. Like [`super::tcp`], an accept
//! loop per listener and per connection a reader task and a writer task; the handshake
//! runs in the task that accepted or connected the TCP stream, so a slow peer holds up
//! neither the accept loop nor the driver.
//!
//! The client names the server by the target's host: the core only reaches IP
//! addresses, so that is an IP address (checked against the certificate's IP SANs).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sip_core::endpoint::{FlowId, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{debug, warn};

use super::{Connection, FlowWriter, NetEvent, NetSender, OpenedFlow};

/// How long a TCP connect and the TLS handshake may take, together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a peer that connected has to finish its handshake.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most one read takes from a connection.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes of queued messages a writer joins into one write (one TLS record run).
const WRITE_BATCH: usize = 64 * 1024;
/// How long the accept loop pauses after an accept error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// A TLS stream, either side.
type Stream = tokio_rustls::TlsStream<TcpStream>;

/// The TLS settings of an agent: how it proves who it is (server, and client when asked)
/// and whom it trusts.
#[derive(Clone)]
pub(crate) struct TlsConfig {
    pub(crate) acceptor: Option<TlsAcceptor>,
    pub(crate) connector: TlsConnector,
}

/// What [`crate::Builder`] collected: PEM texts, checked when the agent starts.
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    /// Certificate chain (leaf first) and private key, both PEM.
    pub(crate) identity: Option<(Vec<u8>, Vec<u8>)>,
    /// Trusted roots, PEM; none: nothing is trusted (every connect fails) unless insecure.
    pub(crate) roots: Vec<Vec<u8>>,
    /// Accept any server certificate (tests only).
    pub(crate) insecure: bool,
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsSettings {
    /// Parses the PEM texts and builds the client and (with an identity) server configs.
    pub(crate) fn build(&self) -> io::Result<TlsConfig> {
        let identity = match &self.identity {
            Some((chain, key)) => {
                let chain = CertificateDer::pem_slice_iter(chain)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| invalid(format!("TLS certificate chain: {e}")))?;
                if chain.is_empty() {
                    return Err(invalid("TLS certificate chain: no certificate"));
                }
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|e| invalid(format!("TLS private key: {e}")))?;
                Some((chain, key))
            }
            None => None,
        };
        let acceptor = match &identity {
            Some((chain, key)) => {
                let config = rustls::ServerConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map_err(invalid)?
                    .with_no_client_auth()
                    .with_single_cert(chain.clone(), key.clone_key())
                    .map_err(|e| invalid(format!("TLS identity: {e}")))?;
                Some(TlsAcceptor::from(Arc::new(config)))
            }
            None => None,
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(invalid)?;
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(insecure::AcceptAny(provider())))
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for pem in &self.roots {
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| invalid(format!("TLS roots: {e}")))?;
                    roots.add(cert).map_err(|e| invalid(format!("TLS roots: {e}")))?;
                }
            }
            builder.with_root_certificates(roots)
        };
        // A server asking for a client certificate gets ours when we have one.
        let config = match identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| invalid(format!("TLS identity: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        Ok(TlsConfig {
            acceptor,
            connector: TlsConnector::from(Arc::new(config)),
        })
    }
}

mod insecure {
    //! A verifier that takes any server certificate: [`crate::Builder::tls_insecure_for_tests`].

    use std::sync::Arc;

    use rustls::DigitallySignedStruct;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    #[derive(Debug)]
    pub(super) struct AcceptAny(pub(super) Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAny {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

/// Accepts TCP connections and runs each one's handshake in a task of its own; a
/// connection whose handshake succeeds goes to the driver as [`NetEvent::Accepted`].
pub(super) async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, net: NetSender) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = net.closed() => return,
        };
        match accepted {
            Ok((stream, remote)) => {
                let acceptor = acceptor.clone();
                let net = net.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let handshake = tokio::time::timeout(ACCEPT_TIMEOUT, acceptor.accept(stream)).await;
                    let stream = match handshake {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            debug!(%remote, "TLS accept: {e}");
                            return;
                        }
                        Err(_) => {
                            debug!(%remote, "TLS accept timed out");
                            return;
                        }
                    };
                    let event = NetEvent::Accepted {
                        transport: Transport::Tls,
                        remote,
                        connection: Connection::Tls(Box::new(Stream::Server(stream))),
                    };
                    let _ = net.send(event).await;
                });
            }
            Err(e) => {
                warn!("TLS accept: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Starts the reader and writer tasks of a connection that is up.
pub(super) fn start(flow: FlowId, stream: Stream, net: &NetSender) -> OpenedFlow {
    let (read, write) = tokio::io::split(stream);
    let writer = spawn_writer(flow, write, net.clone());
    let reader = tokio::spawn(read_loop(flow, read, net.clone()));
    OpenedFlow { writer, reader }
}

/// Starts a task that connects and shakes hands, hands the driver a writer, then reads
/// until the connection ends.
pub(super) fn connect(
    flow: FlowId,
    (remote, server_name): (SocketAddr, Option<String>),
    connector: TlsConnector,
    net: NetSender,
) -> JoinHandle<()> {
    tokio::spawn(connect_then_read(flow, remote, server_name, connector, net))
}

async fn connect_then_read(
    flow: FlowId,
    remote: SocketAddr,
    server_name: Option<String>,
    connector: TlsConnector,
    net: NetSender,
) {
    let connecting = async {
        let stream = TcpStream::connect(remote).await?;
        let _ = stream.set_nodelay(true);
        // The name the core located (RFC 5922 §4: the domain we meant to reach, sent as
        // SNI and checked in the certificate), else the address itself.
        let name = match server_name.map(ServerName::try_from) {
            Some(Ok(name)) => name,
            Some(Err(e)) => return Err(io::Error::new(io::ErrorKind::InvalidInput, e)),
            None => ServerName::IpAddress(remote.ip().into()),
        };
        connector.connect(name, stream).await
    };
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            debug!(%flow, %remote, "TLS connect: {e}");
            let _ = net.send(NetEvent::Closed { flow, failed: true }).await;
            return;
        }
        Err(_) => {
            debug!(%flow, %remote, "TLS connect timed out");
            let _ = net.send(NetEvent::Closed { flow, failed: true }).await;
            return;
        }
    };
    let (read, write) = tokio::io::split(Stream::Client(stream));
    let writer = spawn_writer(flow, write, net.clone());
    // Connected goes first on the same channel, so no Data can overtake it.
    if net.send(NetEvent::Connected { flow, writer }).await.is_err() {
        return;
    }
    read_loop(flow, read, net).await;
}

/// Forwards what a connection decrypts to the driver, tagged with its flow.
async fn read_loop(flow: FlowId, mut read: ReadHalf<Stream>, net: NetSender) {
    loop {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let event = match read.read_buf(&mut buf).await {
            Ok(0) => NetEvent::Closed { flow, failed: false },
            Ok(_) => NetEvent::Data {
                flow,
                data: buf.freeze(),
            },
            Err(e) => {
                debug!(%flow, "TLS read: {e}");
                NetEvent::Closed { flow, failed: true }
            }
        };
        let last = matches!(event, NetEvent::Closed { .. });
        if net.send(event).await.is_err() || last {
            return;
        }
    }
}

/// A task writing one connection's messages in order; it ends (sending close_notify)
/// when the driver drops the writer, and reports a failed write.
fn spawn_writer(flow: FlowId, mut write: WriteHalf<Stream>, net: NetSender) -> FlowWriter {
    let (writer, mut rx) = FlowWriter::channel();
    tokio::spawn(async move {
        let mut batch = BytesMut::new();
        while let Some(payload) = rx.recv().await {
            batch.clear();
            batch.extend_from_slice(&payload);
            while batch.len() < WRITE_BATCH {
                match rx.try_recv() {
                    Ok(more) => batch.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            let result = match write.write_all(&batch).await {
                Ok(()) => write.flush().await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                debug!(%flow, "TLS write: {e}");
                let _ = net.send(NetEvent::Closed { flow, failed: true }).await;
                return;
            }
        }
        let _ = write.shutdown().await;
    });
    writer
}
