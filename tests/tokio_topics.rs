//! Topics on the tokio driver (issue 17): split connections subscribe their writers to a `Hub`,
//! reader tasks publish; every subscriber gets every message once and in order per sender; a
//! subscriber that does not read misses messages or is closed, by the hub's policy; a connection
//! whose halves are gone has left its topics.
#![cfg(feature = "tokio")]

use std::collections::HashMap;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use wscore::driver::tokio::{
    accept, client, connect, Accepted, Hub, SlowSubscriber, WebSocketStream,
};
use wscore::handshake::{ClientOptions, WsUrl};
use wscore::{CloseCode, Config, Message, PreparedMessage};

const ROOM: &str = "room";

/// A server whose every connection subscribes to the room; `say:TEXT` publishes TEXT to it, `ready?`
/// is answered `ready` once the subscription is in force. Returns its URL.
async fn room_server(hub: Hub, config: Config) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            // As a real server does: without it, a frame's last segment waits for the client's
            // delayed ACK (40 ms), and this room would crawl.
            stream.set_nodelay(true).unwrap();
            let (hub, config) = (hub.clone(), config.clone());
            tokio::spawn(async move {
                let Ok(Accepted::WebSocket(ws)) = accept(stream, &config).await else {
                    return;
                };
                let (mut reader, writer) = ws.split();
                hub.subscribe(ROOM, &writer);
                while let Ok(Some(message)) = reader.read().await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    if let Some(said) = text.strip_prefix("say:") {
                        hub.publish(ROOM, &PreparedMessage::text(said));
                    } else if text == "ready?" {
                        let _ = writer.send(Message::from("ready")).await;
                    }
                }
            });
        }
    });
    format!("ws://{addr}/")
}

async fn join<S>(ws: &mut WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::from("ready?")).await.unwrap();
    assert_eq!(ws.read().await.unwrap(), Some(Message::from("ready")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_each_member_says_reaches_every_member_once_in_order_and_members_leave_when_gone() {
    const CLIENTS: usize = 8;
    const MESSAGES: usize = 50;
    let hub = Hub::new();
    let url = room_server(hub.clone(), Config::default()).await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut ws = connect(&url).await.unwrap();
        join(&mut ws).await;
        clients.push(ws);
    }
    assert_eq!(hub.subscribers(ROOM), CLIENTS);
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(n, ws)| {
            tokio::spawn(async move {
                let (mut reader, writer) = ws.split();
                for i in 0..MESSAGES {
                    writer
                        .send(Message::from(format!("say:{n}:{i}")))
                        .await
                        .unwrap();
                }
                let mut next: HashMap<usize, usize> = HashMap::new();
                for _ in 0..CLIENTS * MESSAGES {
                    let Some(Message::Text(text)) = reader.read().await.unwrap() else {
                        panic!("expected a text message");
                    };
                    let (from, i) = text.split_once(':').unwrap();
                    let (from, i): (usize, usize) = (from.parse().unwrap(), i.parse().unwrap());
                    let expected = next.entry(from).or_default();
                    assert_eq!(i, *expected, "from {from}: out of order or twice");
                    *expected += 1;
                }
                writer.close(CloseCode::NORMAL, "").await.unwrap();
                while reader.read().await.unwrap().is_some() {}
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let delivered = (CLIENTS * MESSAGES * CLIENTS) as u64;
    assert_eq!((hub.stats().delivered, hub.stats().dropped), (delivered, 0));
    // The server's tasks end with their connections, dropping both halves.
    tokio::time::timeout(Duration::from_secs(10), async {
        while hub.subscribers(ROOM) > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("closed connections left the room");
}

/// The next message that is not a keepalive's ping or pong (a slow run may outlast the interval).
async fn next_data<S>(ws: &mut WebSocketStream<S>) -> Option<Message>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match ws.read().await.unwrap() {
            Some(Message::Ping(_) | Message::Pong(_)) => {}
            other => return other,
        }
    }
}

/// A client on a socket with small kernel buffers that reads nothing until told to.
async fn stalled_subscriber(url: &str) -> WebSocketStream<TcpStream> {
    let parsed = WsUrl::parse(url).unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 << 10).unwrap();
    let addr = format!("{}:{}", parsed.host, parsed.port).parse().unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut ws = client(stream, &parsed, &ClientOptions::new(), &Config::default())
        .await
        .unwrap();
    join(&mut ws).await;
    ws
}

/// Publishes `count` numbered 16 KiB messages while another subscriber takes every one, keeping at
/// most two ahead of it (it is a subscriber like any other: 64 KiB behind, it would be slow too).
async fn publish_past_a_stalled_subscriber(hub: &Hub, url: &str, count: usize) {
    let mut reader = connect(url).await.unwrap();
    join(&mut reader).await;
    let (read, mut reads) = mpsc::unbounded_channel();
    let reading = tokio::spawn(async move {
        for i in 0..count {
            let message = next_data(&mut reader).await;
            let Some(Message::Binary(data)) = message else {
                panic!("expected message {i}, got {message:?}");
            };
            assert_eq!(
                &data[..8],
                (i as u64).to_be_bytes(),
                "every message, in order"
            );
            read.send(i).unwrap();
        }
        reader.close(CloseCode::NORMAL, "").await.unwrap();
    });
    for i in 0..count {
        if i >= 2 {
            let read = reads.recv().await;
            assert_eq!(read, Some(i - 2), "the reader stopped; {:?}", hub.stats());
        }
        let mut data = vec![0x5a; 16 << 10];
        data[..8].copy_from_slice(&(i as u64).to_be_bytes());
        hub.publish(ROOM, &PreparedMessage::binary(&data));
    }
    reading.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_reads_misses_messages_while_the_others_get_them_all() {
    let hub = Hub::new();
    let url = room_server(hub.clone(), Config::default().max_write_buffer(64 << 10)).await;
    let mut stalled = stalled_subscriber(&url).await;
    const COUNT: usize = 1000;
    publish_past_a_stalled_subscriber(&hub, &url, COUNT).await;
    let stats = hub.stats();
    assert_eq!(stats.delivered + stats.dropped, 2 * COUNT as u64);
    // 16 MB published: the stalled one was given what the kernel's buffers took and 64 KiB.
    assert!(stats.dropped > COUNT as u64 / 2, "{stats:?}");
    let mut last = None;
    for _ in 0..stats.delivered - COUNT as u64 {
        let Some(Message::Binary(data)) = next_data(&mut stalled).await else {
            panic!("expected a published message");
        };
        let i = u64::from_be_bytes(data[..8].try_into().unwrap());
        assert!(last.is_none_or(|last| i > last), "in order");
        last = Some(i);
    }
    hub.publish(ROOM, &PreparedMessage::text("caught up"));
    assert_eq!(
        next_data(&mut stalled).await,
        Some(Message::from("caught up"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_reads_is_closed_with_1013_by_that_policy() {
    let hub = Hub::with_slow_subscriber(SlowSubscriber::Close(CloseCode::TRY_AGAIN_LATER));
    let url = room_server(hub.clone(), Config::default().max_write_buffer(64 << 10)).await;
    let mut stalled = stalled_subscriber(&url).await;
    publish_past_a_stalled_subscriber(&hub, &url, 400).await;
    assert_eq!((hub.stats().closed, hub.stats().dropped), (1, 0));
    let close = loop {
        match next_data(&mut stalled).await {
            Some(Message::Binary(_)) => {}
            other => break other,
        }
    };
    assert_eq!(
        close,
        Some(Message::Close(Some((
            CloseCode::TRY_AGAIN_LATER,
            "too slow to keep up".to_owned()
        ))))
    );
    assert_eq!(stalled.read().await.unwrap(), None);
}
