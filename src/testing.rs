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
use crate::app::owners::Owners;
use crate::app::projects::Projects;
use crate::app::store::{KeyValueStore, ListPage};
use crate::app::webhooks::{Deliveries, DeliveryCall, DeliveryState};
use crate::app::Clock;
use crate::error::Error;
use crate::events::Notification;
use crate::ids::{KeyId, ProjectId};
use crate::keystate::{KeyObject, KeyState, LimiterAnswer, LimiterCall};
use crate::owner::{OwnerAnswer, OwnerCall, OwnerObject, OwnerState};
use crate::project::object::{ProjectDecisions, DEFAULT_AUDIT_RETENTION_DAYS};
use crate::project::sql::{Sql, SqlError, SqlValue};
use crate::project::{ProjectAnswer, ProjectCall};
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

    async fn fetch_bytes(&self, request: Outgoing<'_>, limit: usize) -> Result<(u16, Vec<u8>), Error> {
        let answer = self.send(request).await?;
        match answer.body {
            Body::Bytes(bytes) if bytes.len() <= limit => Ok((answer.status, bytes)),
            _ => Err(Error::Origin),
        }
    }
}

/// An in-memory SQLite, under the same statements as a Durable Object's.
pub struct MemorySql(rusqlite::Connection);

impl MemorySql {
    pub fn new() -> MemorySql {
        MemorySql(rusqlite::Connection::open_in_memory().expect("an in-memory SQLite opens"))
    }
}

impl Default for MemorySql {
    fn default() -> MemorySql {
        MemorySql::new()
    }
}

impl Sql for MemorySql {
    fn exec(&self, query: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, SqlError> {
        use rusqlite::types::{Value as Bound, ValueRef};
        let failed = |e: rusqlite::Error| SqlError(format!("{e} in: {query}"));
        let mut statement = self.0.prepare(query).map_err(failed)?;
        let columns = statement.column_count();
        let bound = params.iter().map(|param| match param {
            SqlValue::Null => Bound::Null,
            SqlValue::Int(value) => Bound::Integer(*value),
            SqlValue::Text(value) => Bound::Text(value.clone()),
        });
        let mut rows = statement.query(rusqlite::params_from_iter(bound)).map_err(failed)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(failed)? {
            let values = (0..columns)
                .map(|index| {
                    Ok(match row.get_ref(index)? {
                        ValueRef::Integer(value) => SqlValue::Int(value),
                        ValueRef::Text(text) => SqlValue::Text(String::from_utf8_lossy(text).into_owned()),
                        ValueRef::Real(value) => SqlValue::Int(value as i64),
                        ValueRef::Null | ValueRef::Blob(_) => SqlValue::Null,
                    })
                })
                .collect::<Result<Vec<_>, rusqlite::Error>>()
                .map_err(failed)?;
            out.push(values);
        }
        Ok(out)
    }
}
