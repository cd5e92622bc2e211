//! `wss://` on tokio: rustls through tokio-rustls, with the same client configuration, server name
//! rules and errors as the other drivers (`driver::tls`).

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::driver::tls::default_client_config;
use crate::Error;

/// Runs the TLS handshake for `host` (a DNS name or an address, as in the URL): the name sent as SNI
/// (none for an address, RFC 6066 §3) and the one the certificate must be valid for. A certificate that
/// fails comes back as `Error::Tls` with rustls' reason.
pub(super) async fn connect(
    stream: TcpStream,
    host: &str,
    config: Option<&Arc<ClientConfig>>,
) -> Result<TlsStream<TcpStream>, Error> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| Error::InvalidUrl("the host is not a valid TLS server name"))?;
    let config = config.map_or_else(default_client_config, Arc::clone);
    Ok(TlsConnector::from(config).connect(name, stream).await?)
}
