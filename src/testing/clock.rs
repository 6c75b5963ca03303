//! A clock for tests: it stands still until told to move.

use crate::app::Clock;
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
