//! A connection's socket on the loop, plain or TLS (feature `tls`), behind one set of non-blocking
//! steps, so that `conn.rs` has one path for both.
//!
//! TLS is rustls driven by hand: `read_tls` from the socket, `process_new_packets`, the plaintext out
//! of `reader()`; `writer()` to seal, `write_tls` to the socket. The loop's rules hold as for TCP:
//! a read step reads the socket once and reports whether it came back short (drained), a write takes
//! only what the session's buffer holds (`tls::BUFFER_LIMIT`), so the connection's own output stays
//! its backpressure, and what TLS still holds keeps `WRITABLE` registered.

use std::io::{self, ErrorKind, Read, Write};
use std::net::Shutdown;

use mio::net::TcpStream;

#[derive(Debug)]
pub(super) struct Stream {
    socket: TcpStream,
    #[cfg(feature = "tls")]
    tls: Option<Box<Tls>>,
}

impl Stream {
    pub(super) fn plain(socket: TcpStream) -> Stream {
        Stream {
            socket,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    #[cfg(feature = "tls")]
    pub(super) fn tls(socket: TcpStream, session: rustls::Connection) -> Stream {
        let sniffing = matches!(session, rustls::Connection::Server(_));
        Stream {
            socket,
            tls: Some(Box::new(Tls {
                session,
                sniffing,
                drained: false,
                fin_pending: false,
            })),
        }
    }

    pub(super) fn socket(&self) -> &TcpStream {
        &self.socket
    }

    pub(super) fn socket_mut(&mut self) -> &mut TcpStream {
        &mut self.socket
    }

    /// Reads once into `buf`: `(n, drained)`, `n` bytes of plaintext (0: the end of the stream), and
    /// whether the socket came back short, so that the read that would only say `WouldBlock` can be
    /// skipped. `WouldBlock` as for a socket.
    pub(super) fn read(&mut self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.read(&mut self.socket, buf);
        }
        let n = self.socket.read(buf)?;
        Ok((n, n < buf.len()))
    }

    /// Writes (or, with TLS, seals and writes) what it can of `bytes`: `Some(n)` taken, `None` when the
    /// socket (and TLS's buffer) is full, and `WRITABLE` will say when to go on.
    pub(super) fn write(&mut self, bytes: &[u8]) -> io::Result<Option<usize>> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.write(&mut self.socket, bytes);
        }
        loop {
            match self.socket.write(bytes) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes what TLS holds (handshake flights, sealed records, `close_notify`, then a FIN waiting
    /// behind them). Whether nothing is left.
    pub(super) fn flush(&mut self) -> io::Result<bool> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.send(&mut self.socket);
        }
        Ok(true)
    }

    /// Whether TLS holds bytes for the socket.
    pub(super) fn wants_write(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.session.wants_write() || tls.fin_pending;
        }
        false
    }

    /// Ends our direction: with TLS a `close_notify` after every sealed record, then the FIN once they
    /// are written (at a later `flush` if the socket is full now).
    pub(super) fn shutdown_write(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            tls.session.send_close_notify();
            tls.fin_pending = true;
            return tls.send(&mut self.socket).map(drop);
        }
        self.socket.shutdown(Shutdown::Write)
    }

    /// Whether a TLS handshake is still running (nothing can be said to such a peer yet).
    pub(super) fn is_tls_handshaking(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.session.is_handshaking();
        }
        false
    }

    /// The peer does not speak TLS: drop the session, so that a plain refusal reaches it.
    #[cfg(feature = "tls")]
    pub(super) fn drop_tls(&mut self) {
        self.tls = None;
    }
}

#[cfg(feature = "tls")]
#[derive(Debug)]
struct Tls {
    session: rustls::Connection,
    /// A server that has not seen its peer's first byte yet.
    sniffing: bool,
    /// The last socket read came back short.
    drained: bool,
    /// A FIN to send once the records before it are written.
    fin_pending: bool,
}

#[cfg(feature = "tls")]
impl Tls {
    fn read(&mut self, socket: &mut TcpStream, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        use crate::driver::tls::{not_tls, process, starts_like_tls, take_plaintext};
        loop {
            if let Some(n) = take_plaintext(&mut self.session, buf)? {
                // A full buffer may have left plaintext behind: not drained then.
                return Ok((n, self.drained && n < buf.len()));
            }
            let mut probe = Probe {
                socket: &mut *socket,
                asked: 0,
                got: 0,
                first: None,
            };
            let read = self.session.read_tls(&mut probe);
            let (asked, got, first) = (probe.asked, probe.got, probe.first);
            read?;
            self.drained = got < asked;
            if let (true, Some(first)) = (self.sniffing, first) {
                self.sniffing = false;
                if !starts_like_tls(first) {
                    return Err(not_tls());
                }
            }
            if let Err(e) = process(&mut self.session) {
                // A last try at sending the alert rustls queued, so that the peer knows why.
                let _ = self.send(socket);
                return Err(e);
            }
        }
    }

    fn write(&mut self, socket: &mut TcpStream, bytes: &[u8]) -> io::Result<Option<usize>> {
        // Records sealed earlier go first, and make room in the session's buffer.
        self.send(socket)?;
        let n = self.session.writer().write(bytes)?;
        self.send(socket)?;
        Ok((n > 0).then_some(n))
    }

    /// Writes what the session holds until the socket is full; whether nothing is left.
    fn send(&mut self, socket: &mut TcpStream) -> io::Result<bool> {
        while self.session.wants_write() {
            match self.session.write_tls(socket) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.fin_pending {
            self.fin_pending = false;
            socket.shutdown(Shutdown::Write)?;
        }
        Ok(true)
    }
}

/// The socket as rustls reads it, remembering how much was asked and got (a short read drained the
/// socket) and the first byte (a server's check that its peer speaks TLS).
#[cfg(feature = "tls")]
struct Probe<'a> {
    socket: &'a mut TcpStream,
    asked: usize,
    got: usize,
    first: Option<u8>,
}

#[cfg(feature = "tls")]
impl Read for Probe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.socket.read(buf)?;
        self.asked += buf.len();
        self.got += n;
        if n > 0 && self.first.is_none() {
            self.first = Some(buf[0]);
        }
        Ok(n)
    }
}
