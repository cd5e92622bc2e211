//! A soak connection's byte stream: plain TCP, or rustls over it for the `wss://` lane. Both are
//! non-blocking and edge-triggered under mio, so every method works until `WouldBlock` and the TLS
//! side flushes its records whenever it is touched.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

/// Plaintext rustls buffers before `write` says `WouldBlock`: the soak's own backpressure.
const TLS_BUFFER: usize = 256 << 10;

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

pub struct TlsStream {
    tcp: TcpStream,
    tls: ClientConnection,
}

/// A client config trusting only the certificate in `ca_pem` (the lane's self-signed one).
pub fn tls_config(ca_pem: &str) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem).map_err(|e| format!("{ca_pem}: {e}"))? {
        let cert = cert.map_err(|e| format!("{ca_pem}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{ca_pem}: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl Stream {
    pub fn new(tcp: TcpStream, tls: Option<(&Arc<ClientConfig>, &str)>) -> io::Result<Stream> {
        let Some((config, host)) = tls else {
            return Ok(Stream::Plain(tcp));
        };
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut tls = ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)?;
        tls.set_buffer_limit(Some(TLS_BUFFER));
        Ok(Stream::Tls(Box::new(TlsStream { tcp, tls })))
    }

    pub fn tcp(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(s) => &mut s.tcp,
        }
    }

    /// Plaintext in; `Ok(0)` at the end of the stream.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }

    /// Plaintext out: as much as the socket (or rustls' buffer) takes.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(s) => {
                let n = s.tls.writer().write(buf)?;
                s.flush()?;
                match n {
                    0 if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
                    n => Ok(n),
                }
            }
        }
    }

    /// Sends what TLS holds (records, handshake messages); a no-op for plain TCP.
    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(s) => s.flush(),
        }
    }

    /// Our FIN (the half-close fault): for TLS, close_notify first.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        if let Stream::Tls(s) = self {
            s.tls.send_close_notify();
            s.flush()?;
        }
        self.tcp().shutdown(Shutdown::Write)
    }
}

impl TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            // No plaintext yet: more records from the socket.
            match self.tls.read_tls(&mut self.tcp) {
                // TCP ended without close_notify: the next reader().read says UnexpectedEof, which
                // for a soak is the end of the stream all the same.
                Ok(0) => {
                    self.tls.process_new_packets().map_err(io::Error::other)?;
                    return match self.tls.reader().read(buf) {
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                        other => other,
                    };
                }
                Ok(_) => {
                    self.tls
                        .process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    // Handshake messages and alerts may want to go out.
                    self.flush()?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
