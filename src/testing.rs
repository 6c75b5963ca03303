//! Test doubles: the stores, Durable Objects, origin and clock in memory,
//! making the same decisions as the real ones ([`KeyObject`], [`DeliveryState`]).
//! Compiled for this crate's tests and for users of the `testing` feature
//! (the integration tests and the fuzz targets), never into the worker.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::app::http::{Body, Response, Stream};
use crate::app::limiter::Limiter;
use crate::app::origin::{Origin, Outgoing, OutgoingBody};
use crate::app::store::{KeyValueStore, ListPage};
use crate::app::webhooks::{Deliveries, DeliveryCall, DeliveryState};
use crate::app::Clock;
use crate::error::Error;
use crate::ids::KeyId;
use crate::keystate::{KeyObject, KeyState, LimiterAnswer, LimiterCall};
use crate::record::UnixMillis;

/// A clock that stands still until told to move.
#[derive(Debug, Default)]
pub struct FakeClock(std::cell::Cell<UnixMillis>);

impl FakeClock {
    pub fn at(now: UnixMillis) -> FakeClock {
        FakeClock(std::cell::Cell::new(now))
    }

    pub fn advance(&self, millis: UnixMillis) {
        self.0.set(self.0.get() + millis);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> UnixMillis {
        self.0.get()
    }
}

/// An in-memory [`KeyValueStore`] for tests: counts reads and can be made to fail.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: RefCell<BTreeMap<String, (String, Option<Value>)>>,
    reads: Cell<usize>,
    failing: Cell<bool>,
    failing_writes: Cell<bool>,
}

impl MemoryStore {
    /// How many `get` calls reached the store.
    pub fn reads(&self) -> usize {
        self.reads.get()
    }

    /// Makes every later call fail, as an unreachable KV would.
    pub fn fail(&self, failing: bool) {
        self.failing.set(failing);
    }

    /// Makes every later put and delete fail, while reads still work.
    pub fn fail_writes(&self, failing: bool) {
        self.failing_writes.set(failing);
    }

    /// Every stored (name, value, metadata), for tests that inspect storage.
    pub fn dump(&self) -> Vec<(String, String, Option<Value>)> {
        self.entries.borrow().iter().map(|(k, (v, m))| (k.clone(), v.clone(), m.clone())).collect()
    }

    pub fn insert_raw(&self, name: &str, value: &str) {
        self.entries.borrow_mut().insert(name.to_owned(), (value.to_owned(), None));
    }

    fn check_write(&self) -> Result<(), Error> {
        if self.failing_writes.get() {
            return Err(Error::Unavailable("memory store set to fail writes".into()));
        }
        self.check()
    }

    fn check(&self) -> Result<(), Error> {
        if self.failing.get() {
            Err(Error::Unavailable("memory store set to fail".into()))
        } else {
            Ok(())
        }
    }
}

impl KeyValueStore for MemoryStore {
    async fn get(&self, name: &str) -> Result<Option<String>, Error> {
        self.reads.set(self.reads.get() + 1);
        self.check()?;
        Ok(self.entries.borrow().get(name).map(|(value, _)| value.clone()))
    }

    async fn put(&self, name: &str, value: &str, metadata: Option<Value>) -> Result<(), Error> {
        self.check_write()?;
        self.entries.borrow_mut().insert(name.to_owned(), (value.to_owned(), metadata));
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), Error> {
        self.check_write()?;
        self.entries.borrow_mut().remove(name);
        Ok(())
    }

    async fn list(&self, prefix: &str, limit: usize, cursor: Option<&str>) -> Result<ListPage, Error> {
        self.check()?;
        let entries = self.entries.borrow();
        let mut matching = entries
            .iter()
            .filter(|(name, _)| name.starts_with(prefix) && cursor.is_none_or(|after| name.as_str() > after));
        let page: Vec<_> = matching.by_ref().take(limit).map(|(n, (_, m))| (n.clone(), m.clone())).collect();
        let more = matching.next().is_some();
        let cursor = if more { page.last().map(|(name, _)| name.clone()) } else { None };
        Ok(ListPage { entries: page, cursor })
    }
}

/// Durable Objects in memory, for tests: the same [`KeyObject`] and
/// [`DeliveryState`] decisions, on a fake clock.
pub struct MemoryLimiter<C> {
    objects: RefCell<HashMap<String, KeyObject>>,
    deliveries: RefCell<HashMap<String, DeliveryState>>,
    clock: C,
    calls: Cell<usize>,
    failing: Cell<bool>,
}

impl<C: Clock> MemoryLimiter<C> {
    pub fn new(clock: C) -> MemoryLimiter<C> {
        MemoryLimiter {
            objects: RefCell::default(),
            deliveries: RefCell::default(),
            clock,
            calls: Cell::new(0),
            failing: Cell::new(false),
        }
    }

    /// How many calls reached any object.
    pub fn calls(&self) -> usize {
        self.calls.get()
    }

    /// How many objects exist (were ever created).
    pub fn objects(&self) -> usize {
        self.objects.borrow().len()
    }

    pub fn fail(&self, failing: bool) {
        self.failing.set(failing);
    }

    pub fn state(&self, key_id: &str) -> Option<KeyState> {
        self.objects.borrow().get(key_id).map(|object| object.state.clone())
    }
}

impl<C: Clock> Limiter for MemoryLimiter<C> {
    async fn call(&self, key_id: &KeyId, call: LimiterCall) -> Result<LimiterAnswer, Error> {
        self.calls.set(self.calls.get() + 1);
        if self.failing.get() {
            return Err(Error::Unavailable("memory limiter set to fail".into()));
        }
        let mut objects = self.objects.borrow_mut();
        Ok(objects.entry(key_id.to_string()).or_default().on_call(call, self.clock.now()).answer)
    }
}

impl<C: Clock> Deliveries for MemoryLimiter<C> {
    async fn delivery(&self, name: &str, call: DeliveryCall) -> Result<bool, Error> {
        if self.failing.get() {
            return Err(Error::Unavailable("memory limiter set to fail".into()));
        }
        Ok(self.deliveries.borrow_mut().entry(name.to_owned()).or_default().apply(call, self.clock.now()))
    }
}

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
}
