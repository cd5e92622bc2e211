//! The application's answer to an upgrade request: accept (with a subprotocol and extra headers) or
//! refuse (with any HTTP response). The application decides; [`super::Upgrade::respond`] renders, so the
//! rules of RFC 6455 §4.2.2 are checked in one place whatever the policy.

use super::http::{Headers, HttpResponse};

/// What to answer to an upgrade request, given to [`super::Upgrade::respond`].
///
/// A policy is a function from the request to a decision; a driver calls it once the request is read:
///
/// ```
/// use wscore::handshake::{Acceptance, Decision, HttpResponse, Upgrade};
///
/// fn policy(upgrade: &Upgrade) -> Decision {
///     let request = upgrade.request();
///     if request.path != "/chat" {
///         return Decision::Refuse(HttpResponse::new(404).body("no such room"));
///     }
///     if request.headers.get("Authorization").is_none() {
///         let challenge = HttpResponse::new(401).header("WWW-Authenticate", "Bearer");
///         return Decision::Refuse(challenge);
///     }
///     let mut acceptance = Acceptance::new().header("Set-Cookie", "seen=1");
///     if upgrade.protocols().any(|p| p == "chat.v2") {
///         acceptance = acceptance.protocol("chat.v2");
///     }
///     Decision::Accept(acceptance)
/// }
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Switch protocols: a 101 (RFC 6455 §4.2.2 item 5).
    Accept(Acceptance),
    /// Do not: send this response instead and close (RFC 6455 §4.2.2: "an appropriate HTTP error code").
    /// Its status must be 3xx, 4xx or 5xx.
    Refuse(HttpResponse),
}

impl Decision {
    /// Accept with no subprotocol and no extra header.
    ///
    /// ```
    /// # use wscore::handshake::{Acceptance, Decision};
    /// assert_eq!(Decision::accept(), Decision::Accept(Acceptance::new()));
    /// ```
    pub fn accept() -> Decision {
        Decision::Accept(Acceptance::new())
    }

    /// Refuse with `status`, its usual reason phrase and an empty body.
    ///
    /// ```
    /// # use wscore::handshake::{Decision, HttpResponse};
    /// assert_eq!(Decision::refuse(403), Decision::Refuse(HttpResponse::new(403)));
    /// ```
    pub fn refuse(status: u16) -> Decision {
        Decision::Refuse(HttpResponse::new(status))
    }
}

impl From<Acceptance> for Decision {
    fn from(acceptance: Acceptance) -> Decision {
        Decision::Accept(acceptance)
    }
}

impl From<HttpResponse> for Decision {
    fn from(response: HttpResponse) -> Decision {
        Decision::Refuse(response)
    }
}

/// How to accept: the subprotocol chosen among those the client offered, and header lines to add to the
/// 101 (cookies, for example). Built with [`Acceptance::new`] and its setters.
///
/// ```
/// use wscore::handshake::Acceptance;
/// let acceptance = Acceptance::new().protocol("chat").header("Set-Cookie", "id=1");
/// assert_eq!(acceptance.protocol.as_deref(), Some("chat"));
/// assert_eq!(acceptance.headers.get_str("set-cookie"), Some("id=1"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Acceptance {
    /// The subprotocol, which must be one the client offered (RFC 6455 §4.2.2 item 5.4).
    pub protocol: Option<String>,
    /// Extra header lines. The ones the handshake writes itself (`Upgrade`, `Connection`,
    /// `Sec-WebSocket-*`, `Content-Length`, `Transfer-Encoding`) may not be among them.
    pub headers: Headers,
}

impl Acceptance {
    /// No subprotocol, no extra header.
    pub fn new() -> Acceptance {
        Acceptance::default()
    }

    /// Chooses a subprotocol.
    #[must_use]
    pub fn protocol(mut self, protocol: &str) -> Acceptance {
        self.protocol = Some(protocol.to_owned());
        self
    }

    /// Adds a header line to the 101.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Acceptance {
        self.headers.push(name, value);
        self
    }
}
