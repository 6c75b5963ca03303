//! Requests keygate sends on: to a webhook's `forward_to` (and, later, the gateway's origin).
//!
//! Guarantee: hop-by-hop headers and client-sent `X-Keygate-*` never pass;
//! keygate's own `X-Keygate-*` headers are added after the filter.

use std::cell::{Cell, RefCell};

use crate::app::http::{Body, Response};
use crate::error::Error;

/// A request to send upstream, fully formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

/// Sends requests upstream; an unreachable upstream is [`Error::Origin`].
#[allow(async_fn_in_trait)]
pub trait Origin {
    async fn send(&self, request: Outgoing) -> Result<Response, Error>;
}

/// Whether a client's header may be passed upstream (`name` lower-case).
pub fn forwardable(name: &str) -> bool {
    const HOP_BY_HOP: &[&str] =
        &["host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"];
    !HOP_BY_HOP.contains(&name) && !name.starts_with("proxy-") && !name.starts_with("x-keygate-")
}

/// An upstream in memory: records what it receives and answers a fixed response.
#[derive(Debug)]
pub struct MemoryOrigin {
    received: RefCell<Vec<Outgoing>>,
    answer: RefCell<Response>,
    down: Cell<bool>,
}

impl Default for MemoryOrigin {
    fn default() -> MemoryOrigin {
        let answer = Response { status: 200, headers: Vec::new(), body: Body::Bytes(b"ok".to_vec()) };
        MemoryOrigin { received: RefCell::default(), answer: RefCell::new(answer), down: Cell::new(false) }
    }
}

impl MemoryOrigin {
    pub fn received(&self) -> Vec<Outgoing> {
        self.received.borrow().clone()
    }

    pub fn answer_with(&self, response: Response) {
        *self.answer.borrow_mut() = response;
    }

    /// Makes the upstream unreachable.
    pub fn go_down(&self, down: bool) {
        self.down.set(down);
    }
}

impl Origin for MemoryOrigin {
    async fn send(&self, request: Outgoing) -> Result<Response, Error> {
        if self.down.get() {
            return Err(Error::Origin);
        }
        self.received.borrow_mut().push(request);
        Ok(self.answer.borrow().clone())
    }
}

impl<T: Origin> Origin for &T {
    async fn send(&self, request: Outgoing) -> Result<Response, Error> {
        (**self).send(request).await
    }
}
