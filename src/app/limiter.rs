//! Reaching keys' Durable Objects: the trait the app calls, and the objects in memory for tests.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use crate::app::webhooks::{Deliveries, DeliveryCall, DeliveryState};
use crate::app::Clock;
use crate::error::Error;
use crate::keystate::{KeyObject, KeyState, LimiterAnswer, LimiterCall};

/// The failure of an object that answered a call with the wrong kind of answer.
pub fn out_of_protocol() -> Error {
    Error::Unavailable("the key's Durable Object answered out of protocol".into())
}

/// Reaches the Durable Object of a key, by key id. Failures are `UNAVAILABLE`.
#[allow(async_fn_in_trait)]
pub trait Limiter {
    async fn call(&self, key_id: &str, call: LimiterCall) -> Result<LimiterAnswer, Error>;
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
    async fn call(&self, key_id: &str, call: LimiterCall) -> Result<LimiterAnswer, Error> {
        self.calls.set(self.calls.get() + 1);
        if self.failing.get() {
            return Err(Error::Unavailable("memory limiter set to fail".into()));
        }
        let mut objects = self.objects.borrow_mut();
        Ok(objects.entry(key_id.to_owned()).or_default().on_call(call, self.clock.now()).answer)
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

impl<T: Limiter> Limiter for &T {
    async fn call(&self, key_id: &str, call: LimiterCall) -> Result<LimiterAnswer, Error> {
        (**self).call(key_id, call).await
    }
}
