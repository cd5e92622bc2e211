//! A counting global allocator for the test binaries that measure memory. Counts are per thread, so tests
//! running in parallel do not disturb each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the heap bytes live on the current thread, and their peak.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    if delta > 0 {
        let _ = CALLS.try_with(|calls| calls.set(calls.get() + 1));
    }
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call forwards to the system allocator unchanged; the bookkeeping only reads the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        track(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the most heap it held at once on this thread, in bytes.
#[allow(dead_code)]
pub fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let result = f();
    let peak = PEAK.with(Cell::get) - base;
    (result, peak.max(0) as usize)
}

/// The heap bytes live on this thread now (allocated by it and not yet freed).
#[allow(dead_code)]
pub fn live_heap() -> isize {
    LIVE.with(Cell::get)
}

/// Runs `f` and returns its result with how many allocations (and growing reallocations) it made on this
/// thread.
#[allow(dead_code)]
pub fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = CALLS.with(Cell::get);
    let result = f();
    (result, CALLS.with(Cell::get) - before)
}

// ---- Raw peers: a TCP client that speaks just enough WebSocket to test a server byte for byte. ----

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A valid upgrade request (RFC 6455 §1.3's key), as a browser would send it.
#[allow(dead_code)]
pub const UPGRADE_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The masking key every raw client frame uses.
const RAW_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Connects to `addr` and sends an upgrade request; the response is for [`read_head`]. Reads give up after
/// 10 s, so a server that hangs fails the test instead of hanging it.
#[allow(dead_code)]
pub fn send_upgrade(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(UPGRADE_REQUEST).unwrap();
    stream
}

/// A TCP connection whose buffers are `size` bytes each way (the kernel doubles it, and no longer
/// grows them), so that backpressure sets in after little data instead of tens of megabytes. Reads
/// give up after 10 s.
#[cfg(feature = "mio")]
#[allow(dead_code)]
pub fn small_buffered_stream(addr: SocketAddr, size: usize) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(size).unwrap();
    socket.set_send_buffer_size(size).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream = TcpStream::from(socket);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Reads an HTTP response head, byte by byte so that nothing after it is consumed.
#[allow(dead_code)]
pub fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Reads the 101 answering [`send_upgrade`], asserting it is one.
#[allow(dead_code)]
pub fn read_101(stream: &mut TcpStream) {
    let head = read_head(stream);
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
}

/// Reads one unmasked frame (a server's) and returns all its bytes, header included.
#[allow(dead_code)]
pub fn read_frame(stream: &mut impl Read) -> Vec<u8> {
    let mut frame = vec![0u8; 2];
    stream.read_exact(&mut frame).unwrap();
    assert_eq!(frame[1] & 0x80, 0, "a server frame is not masked");
    let extended = match frame[1] & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mut length = vec![0u8; extended];
    stream.read_exact(&mut length).unwrap();
    frame.extend_from_slice(&length);
    let len = match extended {
        0 => u64::from(frame[1] & 0x7f),
        _ => length.iter().fold(0, |n, b| n << 8 | u64::from(*b)),
    };
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).unwrap();
    frame.extend_from_slice(&payload);
    frame
}

/// A masked frame as a client sends it: `first` is FIN, RSV and opcode; the payload is under 126 bytes.
#[allow(dead_code)]
pub fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut frame = vec![first, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&RAW_KEY);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ RAW_KEY[i % 4]));
    frame
}

/// The close frame a server sends: unmasked, code then reason (RFC 6455 §5.5.1).
#[allow(dead_code)]
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut frame = vec![0x88, 2 + reason.len() as u8];
    frame.extend_from_slice(&code.to_be_bytes());
    frame.extend_from_slice(reason.as_bytes());
    frame
}

/// A client's close frame, masked.
#[allow(dead_code)]
pub fn masked_close(code: u16) -> Vec<u8> {
    masked_frame(0x88, &code.to_be_bytes())
}

/// Reads until the peer ends the stream, asserting it ends cleanly (a FIN, not a reset); returns what
/// arrived.
#[allow(dead_code)]
pub fn read_until_eof(stream: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => rest,
        Err(e) => panic!("expected the stream to end cleanly, got {e} after {rest:?}"),
    }
}

// ---- The echo server example, run as a child process. ----

/// An echo example (`echo_server`, `axum_echo`) running as a child process, killed when dropped (also
/// when a test fails).
#[allow(dead_code)]
pub struct EchoServer {
    child: std::process::Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

#[allow(dead_code)]
impl EchoServer {
    /// Starts the `echo_server` example built beside this test binary (`cargo test` builds the
    /// examples) on a free port, with extra command-line flags.
    pub fn start(flags: &[&str]) -> EchoServer {
        EchoServer::start_example("echo_server", flags)
    }

    /// Starts another example that takes `--addr` and names its address on its first line as
    /// `echo_server` does.
    pub fn start_example(example: &str, flags: &[&str]) -> EchoServer {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        // This binary is target/<profile>/deps/<name>; the examples are in target/<profile>/examples.
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
        let binary = profile_dir.join("examples").join(example);
        let mut child = Command::new(&binary)
            .args(["--addr", "127.0.0.1:0"])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // One line per refused handshake: not for the test's output.
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        let stdout = child.stdout.take().unwrap();
        let mut guard = EchoServer {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
        };
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        // "echo server on ws://127.0.0.1:PORT/ — open http://… in a browser" (wss:// with TLS)
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line: {line:?} (`cargo test` builds the examples; before \
                     `cargo test --test NAME` alone, `cargo build --example {example}`)"
                )
            });
        guard.addr = addr.parse().unwrap();
        guard
    }

    /// Sends the process SIGTERM (through `kill`, as a supervisor would).
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit, at most `limit`; its status, or `None` if it is still running.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// The process's thread count and resident memory in KiB, from `/proc/PID/status`.
    pub fn threads_and_rss_kib(&self) -> (usize, usize) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| -> usize {
            let line = status
                .lines()
                .find(|line| line.starts_with(name))
                .unwrap_or_else(|| panic!("no {name} in /proc/PID/status"));
            line[name.len()..]
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap()
        };
        (field("Threads:"), field("VmRSS:"))
    }

    /// How many connections wait in the listening socket's accept queue (the `rx_queue` that
    /// `/proc/net/tcp` shows for a listening socket). The example listens with std's backlog of 128;
    /// a connection beyond it has its SYN dropped and waits a second for the retry.
    pub fn accept_queue_len(&self) -> usize {
        let local = format!("0100007F:{:04X}", self.addr.port());
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
        table
            .lines()
            .skip(1)
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            // st 0A: LISTEN
            .find(|fields| fields[1] == local && fields[3] == "0A")
            .and_then(|fields| fields[4].split(':').nth(1).map(str::to_owned))
            .and_then(|rx| usize::from_str_radix(&rx, 16).ok())
            .unwrap_or_else(|| panic!("no listening socket {local} in /proc/net/tcp"))
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
