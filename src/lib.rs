//! keygate: an API-key gateway for Cloudflare Workers.
//!
//! The pure core (everything but `edge`) decides; `edge` only adapts the
//! `worker` runtime to it and exists only in the wasm build.

pub mod admission;
pub mod allowlist;
pub mod app;
pub mod assertion;
pub mod config;
pub mod credits;
pub mod error;
pub mod events;
pub mod ids;
pub mod key;
pub mod keystate;
pub mod owner;
pub mod path;
pub mod project;
pub mod ratelimit;
pub mod record;
pub mod rules;
pub mod scope;
pub mod secret_scanning;
pub mod slug;
pub mod usage;
pub mod vault;
pub mod webhook;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(target_arch = "wasm32")]
mod edge;
