//! Structured sequences of messages, fragments and control frames, encoded by one role and decoded by
//! the other, must come out as sent.
#![no_main]
use arbitrary::Arbitrary;
use wscore::{CloseCode, Config, Connection, Event, MessageKind, Role};

#[derive(Debug, Arbitrary)]
enum Op {
    Text(String),
    Binary(Vec<u8>),
    /// A message cut at these byte offsets; text may be cut inside a character.
    Fragmented { text: bool, body: Vec<u8>, cuts: Vec<u16>, ping_between: Option<Vec<u8>> },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, String),
}

#[derive(Debug, PartialEq)]
enum Seen {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, String),
}

fn control(mut payload: Vec<u8>) -> Vec<u8> {
    payload.truncate(125);
    payload
}

libfuzzer_sys::fuzz_target!(|input: (bool, u64, Vec<Op>)| {
    let (client_sends, seed, ops) = input;
    let (from, to) = if client_sends { (Role::Client, Role::Server) } else { (Role::Server, Role::Client) };
    // Everything is queued before it is read: no bound on the output here.
    let config = Config::default().rng_seed(Some(seed)).max_write_buffer(usize::MAX);
    let mut sender = Connection::new(from, &config);
    let mut receiver = Connection::new(to, &config);
    let mut expected = Vec::new();
    for op in ops {
        match op {
            Op::Text(text) => {
                sender.sender().send_text(&text).unwrap();
                expected.push(Seen::Text(text));
            }
            Op::Binary(data) => {
                sender.sender().send_binary(&data).unwrap();
                expected.push(Seen::Binary(data));
            }
            Op::Fragmented { text, body, cuts, ping_between } => {
                let body = if text { String::from_utf8_lossy(&body).into_owned().into_bytes() } else { body };
                let kind = if text { MessageKind::Text } else { MessageKind::Binary };
                let mut cuts: Vec<usize> = cuts.iter().map(|&c| usize::from(c) % (body.len() + 1)).collect();
                cuts.sort_unstable();
                let mut start = 0;
                for cut in cuts {
                    sender.sender().send_fragment(kind, &body[start..cut], false).unwrap();
                    if let Some(ping) = &ping_between {
                        let ping = control(ping.clone());
                        sender.sender().send_ping(&ping).unwrap();
                        expected.push(Seen::Ping(ping));
                    }
                    start = cut;
                }
                sender.sender().send_fragment(kind, &body[start..], true).unwrap();
                expected.push(match kind {
                    MessageKind::Text => Seen::Text(String::from_utf8(body).unwrap()),
                    MessageKind::Binary => Seen::Binary(body),
                });
            }
            Op::Ping(payload) => {
                let payload = control(payload);
                sender.sender().send_ping(&payload).unwrap();
                expected.push(Seen::Ping(payload));
            }
            Op::Pong(payload) => {
                let payload = control(payload);
                sender.sender().send_pong(&payload).unwrap();
                expected.push(Seen::Pong(payload));
            }
            Op::Close(code, mut reason) => {
                let code = CloseCode::new(code);
                while reason.len() > 123 {
                    reason.pop();
                }
                if sender.sender().close(code, &reason).is_ok() {
                    expected.push(Seen::Close(code.as_u16(), reason));
                    break;
                }
            }
        }
    }
    receiver.receive(sender.pending_output());
    let mut seen = Vec::new();
    while let Some((event, _)) = receiver.next_event().expect("our own frames are valid") {
        seen.push(match event {
            Event::Text(t) => Seen::Text(t.to_owned()),
            Event::Binary(b) => Seen::Binary(b.to_vec()),
            Event::Ping(p) => Seen::Ping(p.to_vec()),
            Event::Pong(p) => Seen::Pong(p.to_vec()),
            Event::Close(f) => {
                let f = f.expect("we always send a code");
                Seen::Close(f.code.as_u16(), f.reason.to_owned())
            }
        });
    }
    assert_eq!(seen, expected);
});
