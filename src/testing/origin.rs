//! The upstream in memory: records what it receives, answers a fixed response.

use std::cell::{Cell, RefCell};

use crate::app::http::{Body, Response, Stream};
use crate::app::origin::{Origin, Outgoing, OutgoingBody};
use crate::error::Error;

/// What a [`MemoryOrigin`] received: an [`Outgoing`] with its body copied.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

/// An upstream in memory: records what it receives and answers a fixed response.
#[derive(Debug)]
pub struct MemoryOrigin {
    received: RefCell<Vec<Sent>>,
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
    pub fn received(&self) -> Vec<Sent> {
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
    async fn send(&self, request: Outgoing<'_>) -> Result<Response, Error> {
        if self.down.get() {
            return Err(Error::Origin);
        }
        let body = match request.body {
            OutgoingBody::Bytes(bytes) => Body::Bytes(bytes.to_vec()),
            OutgoingBody::Stream(_) => Body::Stream(Stream::new(())),
        };
        let Outgoing { method, url, headers, .. } = request;
        self.received.borrow_mut().push(Sent { method, url, headers, body });
        Ok(self.answer.borrow().clone())
    }

    async fn fetch_bytes(&self, request: Outgoing<'_>, limit: usize) -> Result<(u16, Vec<u8>), Error> {
        let answer = self.send(request).await?;
        match answer.body {
            Body::Bytes(bytes) if bytes.len() <= limit => Ok((answer.status, bytes)),
            _ => Err(Error::Origin),
        }
    }
}
