//! TLS for both drivers (feature `tls`): `wss://` and `https://` with [rustls](https://docs.rs/rustls).
//!
//! - **Client.** [`connect`](super::blocking::connect) and the event loop's `connect` open `wss://` URLs
//!   themselves: TLS over the TCP connection before the opening handshake, with the URL's host as SNI
//!   and as the name the certificate must carry (RFC 6455 §4.1: "If /secure/ is true, the client MUST
//!   perform a TLS handshake over the connection after opening the connection and before sending the
//!   handshake data", with the Server Name Indication extension). Certificates are verified against
//!   Mozilla's roots ([`default_client_config`]); pass your own `rustls::ClientConfig` (a private CA,
//!   the platform's roots, a client certificate) with
//!   [`ClientOptions::tls_config`](crate::handshake::ClientOptions::tls_config). A failed verification
//!   is [`Error::Tls`] with rustls' reason, never a plain connection.
//! - **Server.** A [`TlsAcceptor`], from PEM files or from your own `rustls::ServerConfig`, turns an
//!   accepted socket into a [`TlsStream`] for [`accept`](super::blocking::accept), or serves a whole
//!   listener on the event loop (`EventLoop::listen_tls`, `serve_tls`). One port then speaks `https://`
//!   and `wss://`. A peer that sends plain HTTP to it (its first byte does not open a TLS handshake
//!   record, `0x16`) is answered `400` in plain HTTP, saying the port speaks TLS, and closed at once
//!   rather than left to the handshake deadline; the error is `Error::BadRequest` with status 400.
//! - Both sides offer ALPN `http/1.1` (RFC 7301), the protocol a WebSocket upgrade runs over, so a
//!   server that also speaks HTTP/2 picks the right one.
//! - The TLS handshake is part of the opening handshake: it counts against
//!   `Config::handshake_timeout`, and a peer that stalls in it is dropped at that deadline.
//!
//! # Choices
//!
//! The crypto provider is *ring*, not aws-lc-rs (rustls' default): both built cleanly on a fresh
//! machine (aws-lc-sys needed no cmake or nasm on Linux x86-64), but with a fresh `target/` on the
//! 2-core development machine rustls + ring took 12.6 s (debug) and 31.9 s (release) to build and
//! rustls + aws-lc-rs 45.6 s and 65.1 s. The configurations made here name the provider explicitly
//! (`builder_with_provider`), so they work whatever other crates in a build enable in rustls.
//!
//! The default roots are `webpki-roots` (Mozilla's, compiled in) rather than the platform's store
//! through rustls-native-certs: nothing to find at run time (containers and CI images often have no
//! `ca-certificates`), the same trust on every machine, one crate of data. Who needs the platform's
//! roots passes a `ClientConfig` built with them.
//!
//! The module sits under `driver/`, not beside the core: it reads files and wraps sockets, and the core
//! stays free of I/O. Only `ClientOptions` carries a TLS configuration, as data.
//!
//! PEM files are read with rustls-pki-types' [`PemObject`] (through
//! rustls' re-export: no crate of its own).
//!
//! ```no_run
//! use std::net::TcpListener;
//! use wscore::driver::blocking::{accept, connect_with, Accepted};
//! use wscore::driver::tls::{client_config, load_roots, TlsAcceptor};
//! use wscore::handshake::ClientOptions;
//! use wscore::Config;
//!
//! // A server on one port for https:// and wss://.
//! let acceptor = TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
//! let listener = TcpListener::bind("127.0.0.1:9443")?;
//! std::thread::spawn(move || -> Result<(), wscore::Error> {
//!     let (socket, _) = listener.accept()?;
//!     if let Accepted::WebSocket(mut ws) = accept(acceptor.accept(socket)?, &Config::default())? {
//!         while let Some(message) = ws.read()? {
//!             ws.send(message)?;
//!         }
//!     }
//!     Ok(())
//! });
//!
//! // A client that trusts the server's self-signed certificate.
//! let options = ClientOptions::new().tls_config(client_config(load_roots("cert.pem")?));
//! let mut ws = connect_with("wss://localhost:9443/", &options, &Config::default())?;
//! ws.send("hello".into())?;
//! # Ok::<(), wscore::Error>(())
//! ```

mod stream;

use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::Error;

pub use stream::TlsStream;

/// The ALPN protocol both sides offer: a WebSocket upgrade is an HTTP/1.1 request (RFC 6455 §4.1).
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// How much rustls may hold of each direction's records (its `set_buffer_limit`). A writer is taken
/// only what fits, so TLS adds at most this much to `Config::max_write_buffer` per connection.
pub(crate) const BUFFER_LIMIT: usize = 64 << 10;

/// The first byte of every TLS connection: a handshake record (RFC 8446 §5.1, `ContentType`
/// `handshake(22)`). Anything else on a TLS port is not TLS, most often plain HTTP.
const HANDSHAKE_RECORD: u8 = 0x16;

/// Why a plain HTTP request on a TLS port was refused, as the 400's body says it.
const NOT_TLS: &str = "this port speaks TLS: use https:// or wss://";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration that trusts `roots`: TLS 1.2 and 1.3 with rustls' safe defaults on the *ring*
/// provider, ALPN `http/1.1`, no client certificate. For a private CA or a self-signed server:
///
/// ```no_run
/// use wscore::driver::tls::{client_config, load_roots};
/// use wscore::handshake::ClientOptions;
///
/// let options = ClientOptions::new().tls_config(client_config(load_roots("ca.pem")?));
/// # Ok::<(), wscore::Error>(())
/// ```
pub fn client_config(roots: RootCertStore) -> Arc<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls' default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Arc::new(config)
}

/// The configuration a `wss://` client uses unless given one: [`client_config`] with Mozilla's roots
/// (`webpki-roots`). Built once per process.
///
/// ```
/// let config = wscore::driver::tls::default_client_config();
/// assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
/// ```
pub fn default_client_config() -> Arc<ClientConfig> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    Arc::clone(DEFAULT.get_or_init(|| {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        client_config(roots)
    }))
}

/// Reads every certificate of a PEM file (a chain: the server's own first, then its issuers). A file
/// with none is an error naming it.
pub fn load_certs(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>, Error> {
    let path = path.as_ref();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(pem_error(path, rustls::pki_types::pem::Error::NoItemsFound));
    }
    Ok(certs)
}

/// Trust anchors from a PEM file: every certificate in it (a private CA's, or a self-signed server's),
/// for [`client_config`].
///
/// ```no_run
/// use wscore::driver::tls::{client_config, load_roots};
/// let options = wscore::handshake::ClientOptions::new().tls_config(client_config(load_roots("ca.pem")?));
/// # Ok::<(), wscore::Error>(())
/// ```
pub fn load_roots(path: impl AsRef<Path>) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert).map_err(Error::Tls)?;
    }
    Ok(roots)
}

/// Reads the first private key of a PEM file (PKCS #8, PKCS #1 or SEC1).
pub fn load_private_key(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>, Error> {
    let path = path.as_ref();
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error(path, e))
}

/// A PEM failure as an I/O error that names the file (a missing file keeps its own kind).
fn pem_error(path: &Path, error: rustls::pki_types::pem::Error) -> Error {
    let kind = match &error {
        rustls::pki_types::pem::Error::Io(e) => e.kind(),
        _ => io::ErrorKind::InvalidData,
    };
    let what = match error {
        rustls::pki_types::pem::Error::NoItemsFound => {
            "no PEM item of the expected kind".to_owned()
        }
        // The I/O error's own words: ours adds "I/O error" once when it is shown.
        rustls::pki_types::pem::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    };
    Error::Io(io::Error::new(kind, format!("{}: {what}", path.display())))
}

/// The server side of TLS: a certificate chain and its key (or a whole `rustls::ServerConfig`), shared
/// by every connection. Cheap to clone.
///
/// ```no_run
/// use wscore::driver::blocking::{accept, Accepted};
/// use wscore::driver::tls::TlsAcceptor;
///
/// let acceptor = TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
/// let listener = std::net::TcpListener::bind("127.0.0.1:9443")?;
/// let (socket, _) = listener.accept()?;
/// // No I/O yet: the TLS handshake runs inside `accept`, under its deadline.
/// match accept(acceptor.accept(socket)?, &wscore::Config::default())? {
///     Accepted::WebSocket(ws) => { /* wss:// */ }
///     Accepted::Http { request, .. } => { /* https:// */ }
/// }
/// # Ok::<(), wscore::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
}

impl TlsAcceptor {
    /// Uses the caller's configuration as it is (client certificates, several certificates by SNI,
    /// session resumption, another provider). Set its `alpn_protocols` to `[b"http/1.1"]` so that a
    /// client offering HTTP/2 too is answered with the protocol a WebSocket runs over.
    pub fn new(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor { config }
    }

    /// A server with this certificate chain and key, in DER: TLS 1.2 and 1.3 on the *ring* provider,
    /// ALPN `http/1.1`, no client certificates. A key that does not match the certificate is
    /// [`Error::Tls`].
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<TlsAcceptor, Error> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(Error::Tls)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(Error::Tls)?;
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        Ok(TlsAcceptor::new(Arc::new(config)))
    }

    /// [`TlsAcceptor::from_der`] with the chain and key read from PEM files (`--tls-cert` and
    /// `--tls-key` in the examples). An error names the file.
    pub fn from_pem_files(
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsAcceptor, Error> {
        TlsAcceptor::from_der(load_certs(chain)?, load_private_key(key)?)
    }

    /// [`TlsAcceptor::from_der`] with the chain and key as PEM text.
    ///
    /// ```
    /// # let cert = rcgen::generate_simple_self_signed(["localhost".to_owned()]).unwrap();
    /// # let (chain_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    /// let acceptor = wscore::driver::tls::TlsAcceptor::from_pem(chain_pem.as_bytes(), key_pem.as_bytes())?;
    /// assert_eq!(acceptor.config().alpn_protocols, [b"http/1.1".to_vec()]);
    /// # Ok::<(), wscore::Error>(())
    /// ```
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<TlsAcceptor, Error> {
        let invalid = |e: rustls::pki_types::pem::Error| {
            Error::Io(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
        };
        let chain = CertificateDer::pem_slice_iter(chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        if chain.is_empty() {
            return Err(invalid(rustls::pki_types::pem::Error::NoItemsFound));
        }
        TlsAcceptor::from_der(chain, PrivateKeyDer::from_pem_slice(key).map_err(invalid)?)
    }

    /// The configuration every connection uses.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Wraps an accepted socket in a server session. No I/O happens here: the TLS handshake runs in
    /// the first reads and writes, inside the opening handshake and its deadline.
    pub fn accept<S: super::blocking::Transport>(&self, socket: S) -> Result<TlsStream<S>, Error> {
        Ok(TlsStream::new(socket, self.session()?))
    }

    /// A new server session.
    pub(crate) fn session(&self) -> Result<rustls::Connection, Error> {
        let mut session =
            rustls::ServerConnection::new(Arc::clone(&self.config)).map_err(Error::Tls)?;
        session.set_buffer_limit(Some(BUFFER_LIMIT));
        Ok(session.into())
    }
}

/// A client session for `host` (a DNS name or an IP address, as in the URL): the name sent as SNI
/// (none for an address, RFC 6066 §3) and the one the certificate must be valid for.
pub(crate) fn client_session(
    host: &str,
    config: Option<&Arc<ClientConfig>>,
) -> Result<rustls::Connection, Error> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| Error::InvalidUrl("the host is not a valid TLS server name"))?;
    let config = config.map_or_else(default_client_config, Arc::clone);
    let mut session = rustls::ClientConnection::new(config, name).map_err(Error::Tls)?;
    session.set_buffer_limit(Some(BUFFER_LIMIT));
    Ok(session.into())
}

/// Copies out plaintext the session has decrypted: `Some(n)` bytes, `Some(0)` at the end of the stream
/// (a `close_notify`, or the socket's end without one: the WebSocket close handshake, not TLS, says
/// whether that end was clean, RFC 6455 §7.1.5), `None` when there is none yet.
pub(crate) fn take_plaintext(
    session: &mut rustls::Connection,
    buf: &mut [u8],
) -> io::Result<Option<usize>> {
    match io::Read::read(&mut session.reader(), buf) {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Some(0)),
        Err(e) => Err(e),
    }
}

/// Decrypts and checks the records rustls has read; a failure (a bad certificate, an alert from the
/// peer, a corrupt record) comes back as the I/O error [`classify`] recognises, and rustls has queued
/// the alert that tells the peer.
pub(crate) fn process(session: &mut rustls::Connection) -> io::Result<()> {
    session.process_new_packets().map(drop).map_err(tls_error)
}

/// Whether the first byte of a connection opens a TLS handshake.
pub(crate) fn starts_like_tls(first: u8) -> bool {
    first == HANDSHAKE_RECORD
}

/// The marker inside the `io::Error` a server stream returns when its peer does not speak TLS.
#[derive(Debug)]
struct NotTls;

impl std::fmt::Display for NotTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(NOT_TLS)
    }
}

impl std::error::Error for NotTls {}

pub(crate) fn not_tls() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, NotTls)
}

/// Whether a stream failed because its peer does not speak TLS (the event loop then answers 400).
#[cfg_attr(not(feature = "mio"), allow(dead_code))]
pub(crate) fn is_not_tls(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.is::<NotTls>())
}

/// An I/O error that carries a TLS failure, as the error it is: [`Error::Tls`] for rustls' own
/// (`InvalidCertificate(NotValidForName)`, an alert from the peer), `BadRequest` 400 for plain HTTP on a
/// TLS port; any other I/O error comes back as it was.
pub(crate) fn classify(error: io::Error) -> Result<Error, io::Error> {
    let Some(inner) = error.get_ref() else {
        return Err(error);
    };
    if inner.is::<NotTls>() {
        return Ok(Error::BadRequest {
            status: 400,
            reason: NOT_TLS,
        });
    }
    if !inner.is::<rustls::Error>() {
        return Err(error);
    }
    let kind = error.kind();
    match error
        .into_inner()
        .map(|inner| inner.downcast::<rustls::Error>())
    {
        Some(Ok(tls)) => Ok(Error::Tls(*tls)),
        Some(Err(other)) => Err(io::Error::new(kind, other)),
        None => Err(kind.into()),
    }
}

/// A TLS failure as the `io::Error` a stream returns ([`classify`] turns it back).
pub(crate) fn tls_error(error: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_carrying_tls_failures_become_their_own_errors() {
        let error = Error::from(tls_error(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName,
        )));
        assert!(
            matches!(
                error,
                Error::Tls(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                ))
            ),
            "{error:?}"
        );
        let error = Error::from(not_tls());
        assert_eq!(error.http_status(), Some(400));
        assert!(
            error.to_string().contains("this port speaks TLS"),
            "{error}"
        );
        let plain = Error::from(io::Error::new(io::ErrorKind::TimedOut, "slow"));
        assert!(matches!(plain, Error::Io(e) if e.kind() == io::ErrorKind::TimedOut));
    }

    #[test]
    fn only_a_handshake_record_starts_a_tls_connection() {
        assert!(starts_like_tls(0x16));
        for first in [b'G', b'P', 0x80, 0x15, 0x17, 0] {
            assert!(!starts_like_tls(first), "{first:#x}");
        }
    }

    #[test]
    fn pem_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("wscore-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = load_certs(&empty).unwrap_err();
        assert!(error.to_string().contains("empty.pem"), "{error}");
        let error = load_private_key(dir.join("missing.pem")).unwrap_err();
        assert!(
            matches!(&error, Error::Io(e) if e.kind() == io::ErrorKind::NotFound),
            "{error:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_key_that_does_not_match_the_certificate_is_refused() {
        let one = rcgen::generate_simple_self_signed(["a.test".to_owned()]).unwrap();
        let other = rcgen::generate_simple_self_signed(["b.test".to_owned()]).unwrap();
        let error = TlsAcceptor::from_pem(
            one.cert.pem().as_bytes(),
            other.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap_err();
        assert!(matches!(error, Error::Tls(_)), "{error:?}");
        assert!(TlsAcceptor::from_pem(
            one.cert.pem().as_bytes(),
            one.signing_key.serialize_pem().as_bytes()
        )
        .is_ok());
    }

    #[test]
    fn a_host_that_is_no_server_name_is_an_invalid_url() {
        assert!(client_session("example.com", None).is_ok());
        assert!(client_session("127.0.0.1", None).is_ok());
        assert!(client_session("::1", None).is_ok());
        assert!(matches!(
            client_session("bad name!", None),
            Err(Error::InvalidUrl(_))
        ));
    }
}
