//! Invariants of the core, for arbitrary messages and arbitrary splits of the byte stream.

use proptest::prelude::*;
use wscore::{CloseCode, Config, Connection, Event, MessageKind, Role, State};

/// What the peer should see, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
}

/// A message to send, with where to cut it into fragments and which pings go between the fragments.
#[derive(Debug, Clone)]
struct Planned {
    item: Item,
    cuts: Vec<usize>,
    pings: Vec<Vec<u8>>,
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        "\\PC{0,40}".prop_map(Item::Text),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Item::Binary),
        proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Item::Ping),
    ]
}

fn planned() -> impl Strategy<Value = Planned> {
    (
        item(),
        proptest::collection::vec(0usize..300, 0..4),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..10), 0..3),
    )
        .prop_map(|(item, cuts, pings)| Planned { item, cuts, pings })
}

fn config() -> Config {
    Config::default().rng_seed(Some(42))
}

/// Queues the plan on `conn`, fragmenting data messages at the cuts with the pings in between, and
/// returns what the receiver must report, in order.
fn send(conn: &mut Connection, plan: &[Planned]) -> Vec<Item> {
    let mut expected = Vec::new();
    for p in plan {
        let (kind, bytes) = match &p.item {
            Item::Ping(payload) => {
                conn.sender().send_ping(payload).unwrap();
                expected.push(p.item.clone());
                continue;
            }
            Item::Text(text) => (MessageKind::Text, text.as_bytes()),
            Item::Binary(data) => (MessageKind::Binary, &data[..]),
        };
        let mut cuts: Vec<usize> = p.cuts.iter().map(|&c| c.min(bytes.len())).collect();
        cuts.sort_unstable();
        let mut start = 0;
        for (i, &cut) in cuts.iter().enumerate() {
            conn.sender()
                .send_fragment(kind, &bytes[start..cut], false)
                .unwrap();
            if let Some(ping) = p.pings.get(i) {
                conn.sender().send_ping(ping).unwrap();
                expected.push(Item::Ping(ping.clone()));
            }
            start = cut;
        }
        conn.sender()
            .send_fragment(kind, &bytes[start..], true)
            .unwrap();
        expected.push(p.item.clone());
    }
    expected
}

/// Drains every event; panics on an error, which valid input must never cause.
fn drain(conn: &mut Connection, into: &mut Vec<Item>) {
    while let Some((event, _)) = conn.next_event().expect("valid input") {
        match event {
            Event::Text(t) => into.push(Item::Text(t.to_owned())),
            Event::Binary(b) => into.push(Item::Binary(b.to_vec())),
            Event::Ping(p) => into.push(Item::Ping(p.to_vec())),
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn take_output(conn: &mut Connection) -> Vec<u8> {
    let out = conn.pending_output().to_vec();
    conn.consume_output(out.len());
    out
}

fn peer(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Encode → decode yields the same messages, in both directions, fragmented or not, with control
    /// frames interleaved.
    #[test]
    fn round_trip_in_both_roles(plan in proptest::collection::vec(planned(), 0..8), client_sends in any::<bool>()) {
        let role = if client_sends { Role::Client } else { Role::Server };
        let mut sender = Connection::new(role, &config());
        let mut receiver = Connection::new(peer(role), &config());
        let expected = send(&mut sender, &plan);
        receiver.receive(&take_output(&mut sender));
        let mut got = Vec::new();
        drain(&mut receiver, &mut got);
        prop_assert_eq!(got, expected);
    }

    /// Any split of the input gives the same events as the whole.
    #[test]
    fn any_split_gives_the_same_events(plan in proptest::collection::vec(planned(), 1..6),
                                       splits in proptest::collection::vec(any::<prop::sample::Index>(), 0..20)) {
        let mut sender = Connection::new(Role::Client, &config());
        let expected = send(&mut sender, &plan);
        let bytes = take_output(&mut sender);
        let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut receiver = Connection::new(Role::Server, &config());
        let mut got = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([bytes.len()]) {
            receiver.receive(&bytes[start..cut]);
            drain(&mut receiver, &mut got);
            start = cut;
        }
        prop_assert_eq!(got, expected);
    }

    /// Whatever bytes arrive, the core reports events and at most one error; after an error its output
    /// ends with a close frame carrying the error's code, and nothing more is ever queued.
    #[test]
    fn arbitrary_bytes_give_events_or_one_error(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                                                 server in any::<bool>()) {
        let role = if server { Role::Server } else { Role::Client };
        let mut conn = Connection::new(role, &config());
        conn.receive(&bytes);
        let mut error = None;
        loop {
            match conn.next_event() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        if let Some(error) = error {
            let code = error.close_code().expect("a peer error has a close code");
            prop_assert_eq!(conn.state(), State::Closed);
            let out = conn.pending_output().to_vec();
            let mut check = Connection::new(peer(role), &config());
            check.receive(&out);
            let mut last_close = None;
            while let Ok(Some((event, _))) = check.next_event() {
                if let Event::Close(frame) = event {
                    last_close = frame.map(|f| f.code);
                }
            }
            prop_assert_eq!(last_close, Some(code));
            conn.receive(&bytes);
            prop_assert!(conn.next_event().unwrap().is_none());
            prop_assert_eq!(conn.pending_output(), &out[..]);
        }
    }

    /// A client and a server fed each other's output converge to a clean close from either side.
    #[test]
    fn peers_converge_to_a_clean_close(plan in proptest::collection::vec(planned(), 0..4), client_closes in any::<bool>()) {
        let mut client = Connection::new(Role::Client, &config());
        let mut server = Connection::new(Role::Server, &config());
        send(&mut client, &plan);
        let closer = if client_closes { &mut client } else { &mut server };
        closer.sender().close(CloseCode::NORMAL, "done").unwrap();
        for _ in 0..4 {
            let to_server = take_output(&mut client);
            server.receive(&to_server);
            while server.next_event().unwrap().is_some() {}
            let to_client = take_output(&mut server);
            client.receive(&to_client);
            while client.next_event().unwrap().is_some() {}
        }
        prop_assert_eq!(client.state(), State::Closed);
        prop_assert_eq!(server.state(), State::Closed);
        prop_assert!(server.should_close_transport());
        prop_assert!(client.receive_eof().is_ok(), "the client saw the close handshake finish");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Pings, pongs and their positions between fragments never change the data message that comes out.
    #[test]
    fn control_frames_anywhere_inside_a_fragmented_message_leave_it_unchanged(
        body in proptest::collection::vec(any::<u8>(), 0..200),
        cuts in proptest::collection::vec(0usize..200, 0..6),
        controls in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..20)), 0..6),
        positions in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
        cuts.sort_unstable();
        let fragments = cuts.len() + 1;
        // Where each control frame goes: after fragment k, for k below the last one.
        let mut after: Vec<Vec<(bool, Vec<u8>)>> = vec![Vec::new(); fragments];
        for (control, position) in controls.into_iter().zip(positions) {
            after[position.index(fragments.max(2) - 1)].push(control);
        }
        let mut client = Connection::new(Role::Client, &config());
        let mut start = 0;
        for (k, end) in cuts.iter().copied().chain([body.len()]).enumerate() {
            client.sender().send_fragment(MessageKind::Binary, &body[start..end], k + 1 == fragments).unwrap();
            if k + 1 < fragments {
                for (ping, payload) in &after[k] {
                    if *ping { client.sender().send_ping(payload).unwrap() } else { client.sender().send_pong(payload).unwrap() }
                }
            }
            start = end;
        }
        let mut server = Connection::new(Role::Server, &config());
        server.receive(&take_output(&mut client));
        let mut data = Vec::new();
        let mut controls_seen = 0;
        while let Some((event, _)) = server.next_event().unwrap() {
            match event {
                Event::Binary(b) => data.push(b.to_vec()),
                Event::Ping(_) | Event::Pong(_) => controls_seen += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        prop_assert_eq!(data, vec![body]);
        prop_assert_eq!(controls_seen, after[..fragments - 1].iter().map(Vec::len).sum::<usize>());
    }
}
