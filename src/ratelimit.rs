//! Rate-limit parameters.
//!
//! Guarantee: a [`Quota`] always has positive limits, so no decision ever
//! divides by zero or admits without bound.

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

/// A key's limits: `per_minute` sustained (GCRA) and `per_day` per UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub per_minute: NonZeroU32,
    pub per_day: NonZeroU32,
}

impl Quota {
    pub fn new(per_minute: u32, per_day: u32) -> Option<Quota> {
        Some(Quota { per_minute: NonZeroU32::new(per_minute)?, per_day: NonZeroU32::new(per_day)? })
    }
}
