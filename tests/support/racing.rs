//! A limiter for race tests: the key objects in memory, with another
//! writer's call slipped in, or an answer lost, where a test says.
#![allow(dead_code)]

use std::cell::RefCell;

use keygate::app::limiter::Limiter;
use keygate::app::projects::Projects;
use keygate::app::webhooks::{Deliveries, DeliveryCall};
use keygate::error::Error;
use keygate::ids::{KeyId, ProjectId};
use keygate::keystate::{LimiterAnswer, LimiterCall};
use keygate::project::{ProjectAnswer, ProjectCall};
use keygate::testing::{FakeClock, MemoryLimiter};

/// The key objects in memory, with another writer's call slipped in just
/// before the next `Put` or `Delete` reaches the object: the interleaving that
/// two concurrent admin requests can produce.
pub struct Racing<'c> {
    pub inner: super::Limiter<'c>,
    pub before_next_write: RefCell<Option<(String, LimiterCall)>>,
    /// The next `Put` to this key id fails; `true`: after its object took it
    /// (the answer is lost), `false`: before.
    pub fail_next_put_to: RefCell<Option<(String, bool)>>,
}

impl Limiter for Racing<'_> {
    async fn call(&self, key_id: &KeyId, call: LimiterCall) -> Result<LimiterAnswer, Error> {
        let failing = matches!(call, LimiterCall::Put { .. })
            && self.fail_next_put_to.borrow().as_ref().is_some_and(|(id, _)| id == key_id.as_str());
        if failing {
            let (_, applied) = self.fail_next_put_to.borrow_mut().take().unwrap();
            if applied {
                self.inner.call(key_id, call).await?;
            }
            return Err(Error::Unavailable("the object's answer was lost".into()));
        }
        if matches!(call, LimiterCall::Put { .. } | LimiterCall::Delete { .. }) {
            let slipped_in = self.before_next_write.borrow_mut().take();
            if let Some((id, other)) = slipped_in {
                self.inner.call(&KeyId::parse(&id).unwrap(), other).await?;
            }
        }
        self.inner.call(key_id, call).await
    }
}

impl Projects for Racing<'_> {
    async fn project(&self, project: &ProjectId, call: ProjectCall) -> Result<ProjectAnswer, Error> {
        self.inner.project(project, call).await
    }
}

impl keygate::app::owners::Owners for Racing<'_> {
    async fn owner(&self, name: &str, call: keygate::owner::OwnerCall) -> Result<keygate::owner::OwnerAnswer, Error> {
        self.inner.owner(name, call).await
    }
}

impl Deliveries for Racing<'_> {
    async fn delivery(&self, name: &str, call: DeliveryCall) -> Result<bool, Error> {
        self.inner.delivery(name, call).await
    }
}

impl<'c> Racing<'c> {
    pub fn new(clock: &'c FakeClock) -> Racing<'c> {
        Racing {
            inner: MemoryLimiter::new(clock),
            before_next_write: RefCell::new(None),
            fail_next_put_to: RefCell::new(None),
        }
    }
}
