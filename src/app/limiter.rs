//! Reaching keys' Durable Objects: the trait the app calls (in memory: `testing::MemoryLimiter`).

use crate::error::Error;
use crate::ids::KeyId;
use crate::keystate::{LimiterAnswer, LimiterCall};

/// The failure of an object that answered a call with the wrong kind of answer.
pub fn out_of_protocol() -> Error {
    Error::Unavailable("the key's Durable Object answered out of protocol".into())
}

/// Reaches the Durable Object of a key, by key id. Failures are `UNAVAILABLE`.
#[allow(async_fn_in_trait)]
pub trait Limiter {
    async fn call(&self, key_id: &KeyId, call: LimiterCall) -> Result<LimiterAnswer, Error>;
}

impl<T: Limiter> Limiter for &T {
    async fn call(&self, key_id: &KeyId, call: LimiterCall) -> Result<LimiterAnswer, Error> {
        (**self).call(key_id, call).await
    }
}
