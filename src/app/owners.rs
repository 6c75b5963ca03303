//! Reaching owners' Durable Objects (in memory: `testing::MemoryLimiter`).

use crate::error::Error;
use crate::owner::{OwnerAnswer, OwnerCall};

/// The failure of an owner's object that answered with the wrong kind of answer.
pub fn owner_out_of_protocol() -> Error {
    Error::Unavailable("the owner's Durable Object answered out of protocol".into())
}

/// Reaches the Durable Object of an owner, by its name
/// ([`crate::ids::OwnerId::object_name`]). Failures are `UNAVAILABLE`.
#[allow(async_fn_in_trait)]
pub trait Owners {
    async fn owner(&self, name: &str, call: OwnerCall) -> Result<OwnerAnswer, Error>;
}

impl<T: Owners> Owners for &T {
    async fn owner(&self, name: &str, call: OwnerCall) -> Result<OwnerAnswer, Error> {
        (**self).owner(name, call).await
    }
}
