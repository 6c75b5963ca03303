//! The Durable Objects in memory: key, owner, delivery and project objects
//! making the real objects' decisions, on a fake clock.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use super::MemorySql;
use crate::app::limiter::Limiter;
use crate::app::owners::Owners;
use crate::app::projects::Projects;
use crate::app::webhooks::{Deliveries, DeliveryCall, DeliveryState};
use crate::app::Clock;
use crate::error::Error;
use crate::events::Notification;
use crate::ids::{KeyId, ProjectId};
use crate::keystate::{KeyObject, KeyState, LimiterAnswer, LimiterCall};
use crate::owner::{OwnerAnswer, OwnerCall, OwnerObject, OwnerState};
use crate::project::object::{ProjectDecisions, DEFAULT_AUDIT_RETENTION_DAYS};
use crate::project::sql::SqlError;
use crate::project::{ProjectAnswer, ProjectCall};

/// Durable Objects in memory, for tests: the same [`KeyObject`],
/// [`DeliveryState`] and [`ProjectDecisions`] decisions (the last over a real
/// SQLite), on a fake clock.
pub struct MemoryLimiter<C> {
    objects: RefCell<HashMap<String, KeyObject>>,
    owners: RefCell<HashMap<String, OwnerObject>>,
    owners_failing: Cell<bool>,
    deliveries: RefCell<HashMap<String, DeliveryState>>,
    projects: RefCell<HashMap<String, ProjectDecisions<MemorySql>>>,
    clock: C,
    calls: Cell<usize>,
    failing: Cell<bool>,
    projects_failing: Cell<bool>,
}

impl<C: Clock> MemoryLimiter<C> {
    pub fn new(clock: C) -> MemoryLimiter<C> {
        MemoryLimiter {
            objects: RefCell::default(),
            owners: RefCell::default(),
            owners_failing: Cell::new(false),
            deliveries: RefCell::default(),
            projects: RefCell::default(),
            clock,
            calls: Cell::new(0),
            failing: Cell::new(false),
            projects_failing: Cell::new(false),
        }
    }

    /// Makes every owner's object unreachable, or reachable again.
    pub fn fail_owners(&self, failing: bool) {
        self.owners_failing.set(failing);
    }

    /// The state of the owner's object `name`, if it exists.
    pub fn owner_state(&self, name: &str) -> Option<OwnerState> {
        self.owners.borrow().get(name).map(|object| object.state.clone())
    }

    /// A key's object as the runtime runs it: a held check asks the owner's object, then settles.
    fn run_key_object(&self, key_id: &KeyId, call: LimiterCall) -> LimiterAnswer {
        let now = self.clock.now();
        let answer = self.objects.borrow_mut().entry(key_id.to_string()).or_default().on_call(call, now).answer;
        let LimiterAnswer::Held(hold) = answer else { return answer };
        let verdict = match self.owner_call(&hold.owner, OwnerCall::Admit { cost: hold.cost }) {
            Ok(OwnerAnswer::Verdict(verdict)) => Some(verdict),
            _ => None,
        };
        self.objects.borrow_mut().get_mut(key_id.as_str()).expect("called above").on_owner(*hold, verdict, now).answer
    }

    fn owner_call(&self, name: &str, call: OwnerCall) -> Result<OwnerAnswer, Error> {
        if self.owners_failing.get() {
            return Err(Error::Unavailable("memory owners set to fail".into()));
        }
        Ok(self.owners.borrow_mut().entry(name.to_owned()).or_default().on_call(call, self.clock.now()).answer)
    }

    /// Makes every project's object unreachable, or reachable again.
    pub fn fail_projects(&self, failing: bool) {
        self.projects_failing.set(failing);
    }

    /// Rings every key object's alarm at the clock's time, as the runtime
    /// would once it is due, delivering what each owes its project's object.
    /// Returns how many deliveries were acknowledged.
    pub fn ring_alarms(&self) -> usize {
        let now = self.clock.now();
        let mut acknowledged = 0;
        let ids: Vec<String> = self.objects.borrow().keys().cloned().collect();
        for id in ids {
            let plan = self.objects.borrow_mut().get_mut(&id).expect("listed").on_alarm(now);
            let Some(delivery) = plan.deliver else { continue };
            let ok = self.apply_to_project(delivery.clone()).is_ok();
            acknowledged += usize::from(ok);
            self.objects.borrow_mut().get_mut(&id).expect("listed").delivered(&delivery, ok, now);
        }
        acknowledged
    }

    fn apply_to_project(&self, call: ProjectCall) -> Result<ProjectAnswer, Error> {
        if self.projects_failing.get() {
            return Err(Error::Unavailable("memory projects set to fail".into()));
        }
        let project = call.project().clone();
        self.with_project(&project, |object| object.on_call(call, self.clock.now()))
    }

    /// Runs `f` on the project's object, opened (with events on) at first use.
    fn with_project<T>(
        &self,
        project: &ProjectId,
        f: impl FnOnce(&ProjectDecisions<MemorySql>) -> Result<T, SqlError>,
    ) -> Result<T, Error> {
        let mut projects = self.projects.borrow_mut();
        let object = match projects.entry(project.to_string()) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let object = ProjectDecisions::open(MemorySql::new(), DEFAULT_AUDIT_RETENTION_DAYS, true)
                    .map_err(|e| Error::Unavailable(e.0))?;
                entry.insert(object)
            }
        };
        f(object).map_err(|e| Error::Unavailable(e.0))
    }

    /// Hands the project's pending notifications to a queue that takes them
    /// all, as its object's alarm would, and returns them.
    pub fn send_notices(&self, project: &ProjectId) -> Vec<Notification> {
        self.with_project(project, |object| {
            let pending = object.pending_notices()?;
            object.notices_sent(&pending)?;
            Ok(pending)
        })
        .expect("memory projects answer")
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

    /// The ids of every key object that exists.
    pub fn key_ids(&self) -> Vec<String> {
        self.objects.borrow().keys().cloned().collect()
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
        match self.run_key_object(key_id, call) {
            LimiterAnswer::OwnerUnavailable => Err(Error::Unavailable("the owner's object could not be asked".into())),
            answer => Ok(answer),
        }
    }
}

impl<C: Clock> Owners for MemoryLimiter<C> {
    async fn owner(&self, name: &str, call: OwnerCall) -> Result<OwnerAnswer, Error> {
        self.calls.set(self.calls.get() + 1);
        self.owner_call(name, call)
    }
}

impl<C: Clock> Projects for MemoryLimiter<C> {
    async fn project(&self, _project: &ProjectId, call: ProjectCall) -> Result<ProjectAnswer, Error> {
        self.apply_to_project(call)
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
