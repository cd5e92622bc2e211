//! A TLS session over a blocking socket, as a [`Transport`] for the blocking driver, and a
//! [`TryClone`] one so that [`WebSocket::split`](crate::driver::blocking::WebSocket::split) works over
//! TLS.
//!
//! One rustls session serves every handle, under a lock held only for TLS work, never across a socket
//! read or write. Each handle has its own clone of the socket:
//!
//! - Reading: a handle reads the socket into its own buffer with no lock held, then feeds the bytes to
//!   the session and takes the plaintext out under the session's lock. A reader blocked on a silent
//!   peer therefore never stops a writer.
//! - Writing: records are taken out of the session under its lock into a buffer guarded by a second
//!   lock, the wire's, which is held while they are written: records reach the socket whole and in the
//!   order they were sealed, whichever handle writes them.
//! - TLS output that reading produces (the handshake's flights; after it, a `KeyUpdate` answer) is
//!   written by the reading handle only while the handshake runs or when no other handle exists, and
//!   within the read timeout. Otherwise it waits for the next write: RFC 8446 §4.6.3 asks for the
//!   answering `KeyUpdate` only "prior to sending its next Application Data record", and a reader that
//!   waited on the wire could deadlock with a peer that waits for it to read (see `split`).

use std::io::{self, ErrorKind, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::{not_tls, process, starts_like_tls, take_plaintext};
use crate::driver::blocking::{Transport, TryClone};

/// How much a handle reads from its socket at once: about one TLS record.
const READ_CHUNK: usize = 16 << 10;

/// TLS over a blocking socket (`TcpStream`, `UnixStream`, any [`Transport`]): made by
/// [`TlsAcceptor::accept`](super::TlsAcceptor::accept) for a server, by
/// [`connect`](crate::driver::blocking::connect) for a `wss://` client, or by [`TlsStream::client`]
/// over a socket the caller opened. The handshake runs in the first reads and writes, bounded by the
/// timeouts the driver sets.
///
/// Timeouts are the socket's; [`Transport::shutdown_write`] sends `close_notify`, then the socket's FIN.
/// [`Write::flush`] writes every record the session holds: call it before dropping a stream (the
/// driver does).
///
/// A server stream whose peer sends something other than a TLS handshake (plain HTTP on the TLS port)
/// fails its first read with an error that [`Error`](crate::Error) reports as `BadRequest` 400, and from
/// then on reads and writes the socket as it is, so that the driver's plain `400` refusal reaches a peer
/// that reads no TLS. Nothing was ever encrypted on such a stream.
#[derive(Debug)]
pub struct TlsStream<S> {
    socket: S,
    shared: Arc<Shared>,
    /// This handle's socket reads, before the session takes them.
    input: Vec<u8>,
    /// The timeouts this handle last set on the socket.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

#[derive(Debug)]
struct Shared {
    session: Mutex<Session>,
    wire: Mutex<Wire>,
}

#[derive(Debug)]
struct Session {
    tls: rustls::Connection,
    /// Bytes read from the socket that rustls has not taken yet (it takes about a record at a time,
    /// and nothing while its plaintext waits to be read).
    unread: Vec<u8>,
    /// A server that has not seen its peer's first byte yet.
    sniffing: bool,
    /// The peer does not speak TLS: the socket is used as it is.
    plain: bool,
}

/// Records taken out of the session and not yet written.
#[derive(Debug, Default)]
struct Wire {
    bytes: Vec<u8>,
    written: usize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: Transport> TlsStream<S> {
    pub(super) fn new(socket: S, tls: rustls::Connection) -> TlsStream<S> {
        let sniffing = matches!(tls, rustls::Connection::Server(_));
        TlsStream {
            socket,
            shared: Arc::new(Shared {
                session: Mutex::new(Session {
                    tls,
                    unread: Vec::new(),
                    sniffing,
                    plain: false,
                }),
                wire: Mutex::new(Wire::default()),
            }),
            input: Vec::new(),
            read_timeout: None,
            write_timeout: None,
        }
    }

    /// A client session over a socket the caller opened, for `host` (the SNI and the name the
    /// certificate must be valid for; an IP address sends no SNI) with `config`, or
    /// [`default_client_config`](super::default_client_config) when `None`. Then run the WebSocket
    /// handshake with [`client`](crate::driver::blocking::client).
    ///
    /// ```no_run
    /// use wscore::driver::blocking::client;
    /// use wscore::driver::tls::TlsStream;
    /// use wscore::handshake::{ClientOptions, WsUrl};
    ///
    /// let url = WsUrl::parse("wss://example.com/chat")?;
    /// let socket = std::net::TcpStream::connect((url.host.as_str(), url.port))?;
    /// let tls = TlsStream::client(socket, &url.host, None)?;
    /// let ws = client(tls, &url, &ClientOptions::new(), &Default::default())?;
    /// # Ok::<(), wscore::Error>(())
    /// ```
    pub fn client(
        socket: S,
        host: &str,
        config: Option<&Arc<rustls::ClientConfig>>,
    ) -> Result<TlsStream<S>, crate::Error> {
        Ok(TlsStream::new(socket, super::client_session(host, config)?))
    }

    /// The socket beneath (for its addresses; reading or writing it would break the session).
    pub fn get_ref(&self) -> &S {
        &self.socket
    }

    /// Looks at the rustls session: the negotiated ALPN protocol, version and cipher suite, the peer's
    /// certificates.
    ///
    /// ```no_run
    /// # let ws = wscore::driver::blocking::connect("wss://example.com/")?;
    /// # let wscore::driver::blocking::MaybeTls::Tls(tls) = ws.get_ref() else { unreachable!() };
    /// let alpn = tls.with_session(|session| session.alpn_protocol().map(<[u8]>::to_vec));
    /// assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    /// # Ok::<(), wscore::Error>(())
    /// ```
    pub fn with_session<T>(&self, look: impl FnOnce(&rustls::Connection) -> T) -> T {
        look(&lock(&self.shared.session).tls)
    }

    /// Writes the session's TLS output with this handle, from a read: bounded by the read timeout,
    /// since the caller asked to wait no longer than that.
    fn write_from_read(&mut self) -> io::Result<()> {
        let differs = self.read_timeout != self.write_timeout;
        if differs {
            self.socket.set_write_timeout(self.read_timeout)?;
        }
        let written = self.push();
        if differs {
            self.socket.set_write_timeout(self.write_timeout)?;
        }
        written
    }

    /// Writes what the wire holds, then everything the session has sealed, until none is left.
    fn push(&mut self) -> io::Result<()> {
        let mut wire = lock(&self.shared.wire);
        loop {
            write_wire(&mut self.socket, &mut wire)?;
            if !take_records(&mut lock(&self.shared.session).tls, &mut wire) {
                return Ok(());
            }
        }
    }

    /// Reads the socket once, with no lock held, and hands what came to the session.
    fn read_socket(&mut self) -> io::Result<()> {
        if self.input.len() != READ_CHUNK {
            self.input = vec![0; READ_CHUNK];
        }
        let n = loop {
            match self.socket.read(&mut self.input) {
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                read => break read?,
            }
        };
        lock(&self.shared.session).feed(&self.input[..n])
    }

    fn plain(&self) -> bool {
        lock(&self.shared.session).plain
    }
}

impl Session {
    /// Hands bytes read from the socket to rustls (no bytes: the socket ended) and processes them.
    fn feed(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let (true, Some(&first)) = (self.sniffing, bytes.first()) {
            self.sniffing = false;
            if !starts_like_tls(first) {
                self.plain = true;
                return Err(not_tls());
            }
        }
        if bytes.is_empty() {
            // Records the end, so that the reader reports it once the plaintext before it is read.
            self.tls.read_tls(&mut &bytes[..])?;
            return process(&mut self.tls);
        }
        let rest = self.give(bytes)?;
        self.unread.extend_from_slice(rest);
        Ok(())
    }

    /// Hands rustls what it could not take before.
    fn feed_unread(&mut self) -> io::Result<()> {
        let unread = std::mem::take(&mut self.unread);
        let rest = self.give(&unread)?;
        if rest.len() == unread.len() {
            // Unreachable while the plaintext is read before more is fed; never loop on it.
            return Err(io::Error::other("the TLS session takes no more input"));
        }
        self.unread = rest.to_vec();
        Ok(())
    }

    /// Feeds and processes records until rustls takes no more; returns the bytes it did not take.
    fn give<'a>(&mut self, mut bytes: &'a [u8]) -> io::Result<&'a [u8]> {
        while !bytes.is_empty() {
            match self.tls.read_tls(&mut bytes) {
                // After the peer's close_notify nothing more is read.
                Ok(0) => return Ok(&[]),
                Ok(_) => process(&mut self.tls)?,
                // Its plaintext buffer is full: the rest waits until that is read.
                Err(_) => break,
            }
        }
        Ok(bytes)
    }
}

/// Moves the session's sealed records onto the wire, which must be empty. Whether there were any.
fn take_records(tls: &mut rustls::Connection, wire: &mut Wire) -> bool {
    wire.bytes.clear();
    wire.written = 0;
    while tls.wants_write() {
        // Writing into a Vec cannot fail.
        if tls.write_tls(&mut wire.bytes).is_err() {
            break;
        }
    }
    !wire.bytes.is_empty()
}

/// Writes the wire's bytes until none are left; an error keeps what was not written for later.
fn write_wire<S: Write>(socket: &mut S, wire: &mut Wire) -> io::Result<()> {
    while wire.written < wire.bytes.len() {
        match socket.write(&wire.bytes[wire.written..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => wire.written += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl<S: Transport> Read for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let write_first = {
                let mut session = lock(&self.shared.session);
                if session.plain {
                    drop(session);
                    return self.socket.read(buf);
                }
                if let Some(n) = take_plaintext(&mut session.tls, buf)? {
                    return Ok(n);
                }
                if !session.unread.is_empty() {
                    let fed = session.feed_unread();
                    drop(session);
                    self.fail_with(fed)?;
                    continue;
                }
                let sole = Arc::strong_count(&self.shared) == 1;
                session.tls.wants_write() && (sole || session.tls.is_handshaking())
            };
            if write_first {
                self.write_from_read()?;
            }
            let read = self.read_socket();
            self.fail_with(read)?;
        }
    }
}

impl<S: Transport> TlsStream<S> {
    /// After a TLS failure, a last try at sending the alert rustls queued (the peer then knows why),
    /// then the failure.
    fn fail_with(&mut self, result: io::Result<()>) -> io::Result<()> {
        if let Err(e) = &result {
            if e.kind() == ErrorKind::InvalidData && !self.plain() {
                let _ = self.write_from_read();
            }
        }
        result
    }
}

impl<S: Transport> Write for TlsStream<S> {
    /// Seals as much of `buf` as the session's buffer takes (`BUFFER_LIMIT`), after writing out what
    /// earlier calls sealed; so a slow peer holds at most that much here.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let mut wire = lock(&self.shared.wire);
            write_wire(&mut self.socket, &mut wire)?;
            let mut session = lock(&self.shared.session);
            if session.plain {
                drop((session, wire));
                return self.socket.write(buf);
            }
            let n = session.tls.writer().write(buf)?;
            take_records(&mut session.tls, &mut wire);
            if n > 0 {
                return Ok(n);
            }
            if !session.tls.is_handshaking() {
                return Err(io::Error::new(
                    ErrorKind::BrokenPipe,
                    "the TLS session takes no more data",
                ));
            }
            drop((session, wire));
            // Plaintext waits for the handshake, and its buffer is full: the handshake must advance.
            self.write_from_read()?;
            let read = self.read_socket();
            self.fail_with(read)?;
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.plain() {
            self.push()?;
        }
        self.socket.flush()
    }
}

impl<S: Transport> Transport for TlsStream<S> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_read_timeout(timeout)?;
        self.read_timeout = timeout;
        Ok(())
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_write_timeout(timeout)?;
        self.write_timeout = timeout;
        Ok(())
    }

    /// Sends `close_notify` after every record sealed before it (RFC 8446 §6.1), then ends the socket's
    /// direction (FIN). The FIN goes even if the records could not all be written in time.
    fn shutdown_write(&mut self) -> io::Result<()> {
        if !self.plain() {
            lock(&self.shared.session).tls.send_close_notify();
        }
        let pushed = if self.plain() { Ok(()) } else { self.push() };
        let shut = self.socket.shutdown_write();
        pushed.and(shut)
    }
}

impl<S: Transport + TryClone> TryClone for TlsStream<S> {
    /// Another handle to the same session over a clone of the socket. Clone after the TLS handshake
    /// (as `WebSocket::split` does, the opening handshake being done): during it a handle may read
    /// the socket to advance the handshake, and two handles reading at once could hand the session
    /// their bytes out of order.
    fn try_clone(&self) -> io::Result<TlsStream<S>> {
        Ok(TlsStream {
            socket: self.socket.try_clone()?,
            shared: Arc::clone(&self.shared),
            input: Vec::new(),
            read_timeout: self.read_timeout,
            write_timeout: self.write_timeout,
        })
    }
}
