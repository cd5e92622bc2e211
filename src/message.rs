//! The owned message, beside the borrowed [`Event`]: what an application keeps, or hands to a driver to
//! send.

use crate::close::CloseCode;
use crate::connection::Event;

/// An owned message. [`Event`] borrows the connection's buffer instead; `Message::from(event)` copies it
/// out.
///
/// ```
/// use wscore::Message;
/// let hello = Message::from("hello");
/// assert_eq!(hello, Message::Text("hello".to_owned()));
/// assert_eq!(Message::from(vec![1, 2]), Message::Binary(vec![1, 2]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping. Received pings are already answered.
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// A close frame: its code and reason, or `None` for a close without a code. Sending one starts the
    /// close handshake; a received one is already answered.
    Close(Option<(CloseCode, String)>),
}

impl From<Event<'_>> for Message {
    fn from(event: Event<'_>) -> Message {
        match event {
            Event::Text(text) => Message::Text(text.to_owned()),
            Event::Binary(data) => Message::Binary(data.to_vec()),
            Event::Ping(data) => Message::Ping(data.to_vec()),
            Event::Pong(data) => Message::Pong(data.to_vec()),
            Event::Close(frame) => Message::Close(frame.map(|f| (f.code, f.reason.to_owned()))),
        }
    }
}

impl From<String> for Message {
    fn from(text: String) -> Message {
        Message::Text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Message {
        Message::Text(text.to_owned())
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Message {
        Message::Binary(data)
    }
}

impl From<&[u8]> for Message {
    fn from(data: &[u8]) -> Message {
        Message::Binary(data.to_vec())
    }
}
