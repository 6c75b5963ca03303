//! Test doubles: the stores, Durable Objects, origin and clock in memory,
//! making the same decisions as the real ones ([`KeyObject`], [`DeliveryState`]).
//! Compiled for this crate's tests and for users of the `testing` feature
//! (the integration tests and the fuzz targets), never into the worker.
//!
//! [`KeyObject`]: crate::keystate::KeyObject
//! [`DeliveryState`]: crate::app::webhooks::DeliveryState

mod clock;
mod objects;
mod origin;
mod record;
mod sql;
mod store;

pub use clock::FakeClock;
pub use objects::MemoryLimiter;
pub use origin::{MemoryOrigin, Sent};
pub use record::key_record;
pub use sql::MemorySql;
pub use store::MemoryStore;
