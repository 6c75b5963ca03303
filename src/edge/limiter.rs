//! A key's Durable Object (SQLite-backed).
//!
//! A key's object holds a [`KeyObject`] in memory and its state in three
//! SQLite rows: the state as JSON (with the outbox and a key's credits),
//! written before an admin change or a spend of credits is answered; the counters as four integers and the usage history
//! as JSON, written by the alarm. Every decision (answers, what to write,
//! what to deliver, when the alarm rings) is [`KeyObject`]'s; this file only
//! reads, writes, delivers and sets alarms as it says. A project's object
//! runs `project::object::ProjectDecisions` over its SQLite (`edge/project.rs`).

use std::cell::RefCell;

use worker::{durable_object, DurableObject, Env, State};

use super::now;
use super::objects::{call_object, received_call, status, with_loaded, Namespace, OWNERS_BINDING, PROJECTS_BINDING};
use crate::app::store::KeyStore;
use crate::keystate::delivery::UsageState;
use crate::keystate::{Effects, KeyObject, KeyState, LimiterAnswer, LimiterCall};
use crate::owner::{OwnerAnswer, OwnerCall};
use crate::project::{ProjectAnswer, ProjectCall};
use crate::ratelimit::LimitState;

#[durable_object]
pub struct LimiterObject {
    state: State,
    /// The object as last read, written or decided by this instance; `None`
    /// until read from SQLite, and again after a failed write.
    loaded: RefCell<Option<KeyObject>>,
    /// Where deliveries go; `None` if the binding is missing (they wait).
    projects: Option<Namespace>,
    /// Where checks of keys with an owner are decided too; `None` if the
    /// binding is missing (such checks are then refused as unavailable).
    owners: Option<Namespace>,
    /// For the directory of projects, kept in step with what deliveries change.
    keys: Option<super::kv::KvStore>,
    /// Whether events are sent (`EVENTS_URL` is set).
    notify: bool,
}

#[derive(serde::Deserialize)]
struct Row {
    state: String,
}

#[derive(serde::Deserialize)]
struct UsageRow {
    usage: String,
}

#[derive(serde::Deserialize)]
struct Counters {
    tat: Option<i64>,
    day: i64,
    day_count: u32,
    last_used_at: Option<i64>,
}

fn nullable(value: Option<i64>) -> worker::SqlStorageValue {
    value.map_or(worker::SqlStorageValue::Null, Into::into)
}

impl LimiterObject {
    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    fn create_tables(&self) -> worker::Result<()> {
        self.sql().exec(
            "CREATE TABLE IF NOT EXISTS key_state (id INTEGER PRIMARY KEY, state TEXT NOT NULL); \
             CREATE TABLE IF NOT EXISTS counters (id INTEGER PRIMARY KEY, tat INTEGER, day INTEGER NOT NULL, \
             day_count INTEGER NOT NULL, last_used_at INTEGER); \
             CREATE TABLE IF NOT EXISTS usage (id INTEGER PRIMARY KEY, usage TEXT NOT NULL)",
            None,
        )?;
        Ok(())
    }

    fn read(&self) -> worker::Result<KeyState> {
        let rows: Vec<Row> = self.sql().exec("SELECT state FROM key_state WHERE id = 0", None)?.to_array()?;
        let mut state = match rows.first() {
            None => KeyState::default(),
            Some(row) => serde_json::from_str(&row.state).map_err(|e| worker::Error::RustError(e.to_string()))?,
        };
        let counters: Vec<Counters> =
            self.sql().exec("SELECT tat, day, day_count, last_used_at FROM counters WHERE id = 0", None)?.to_array()?;
        if let Some(counters) = counters.first() {
            state.limit = LimitState { tat: counters.tat, day: counters.day, day_count: counters.day_count };
            state.last_used_at = counters.last_used_at;
        }
        let usage: Vec<UsageRow> = self.sql().exec("SELECT usage FROM usage WHERE id = 0", None)?.to_array()?;
        if let Some(row) = usage.first() {
            state.usage =
                serde_json::from_str::<UsageState>(&row.usage).map_err(|e| worker::Error::RustError(e.to_string()))?;
        }
        Ok(state)
    }

    /// Writes the counters, and the rest of the state too when `everything`.
    fn write(&self, state: &KeyState, everything: bool) -> worker::Result<()> {
        if everything {
            let json = serde_json::to_string(state).map_err(|e| worker::Error::RustError(e.to_string()))?;
            self.sql().exec(
                "INSERT INTO key_state (id, state) VALUES (0, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state",
                vec![json.into()],
            )?;
        }
        let limit = state.limit;
        self.sql().exec(
            "INSERT INTO counters (id, tat, day, day_count, last_used_at) VALUES (0, ?, ?, ?, ?) \
             ON CONFLICT(id) DO UPDATE SET tat = excluded.tat, day = excluded.day, \
             day_count = excluded.day_count, last_used_at = excluded.last_used_at",
            vec![
                nullable(limit.tat),
                limit.day.into(),
                i64::from(limit.day_count).into(),
                nullable(state.last_used_at),
            ],
        )?;
        let usage = serde_json::to_string(&state.usage).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.sql().exec(
            "INSERT INTO usage (id, usage) VALUES (0, ?) ON CONFLICT(id) DO UPDATE SET usage = excluded.usage",
            vec![usage.into()],
        )?;
        Ok(())
    }

    /// Runs `f` on the object, read from SQLite on first use; if `f` fails,
    /// the next call reads SQLite again instead of trusting memory.
    fn with_object<T>(&self, f: impl FnOnce(&mut KeyObject) -> worker::Result<T>) -> worker::Result<T> {
        with_loaded(&self.loaded, || Ok(KeyObject::loaded(self.read()?, self.notify)), f)
    }

    /// Decides `call`; an admin change is in SQLite before the answer. A
    /// check of a key with an owner asks the owner's object, then settles.
    async fn decide(&self, call: LimiterCall) -> worker::Result<LimiterAnswer> {
        let now = now();
        let answer = self.run(now, |object| object.on_call(call, now)).await?;
        let LimiterAnswer::Held(hold) = answer else { return Ok(answer) };
        let asked = match &self.owners {
            Some(owners) => {
                call_object::<OwnerAnswer>(owners, &hold.owner, &OwnerCall::Admit { cost: hold.cost }, true)
                    .await
                    .map_err(|error| error.detail().unwrap_or("unavailable").to_owned())
            }
            None => Err(format!("the Durable Object binding `{OWNERS_BINDING}` is missing")),
        };
        let verdict = match &asked {
            Ok(OwnerAnswer::Verdict(verdict)) => Some(verdict.to_owned()),
            _ => None,
        };
        let now = super::now();
        let answer = self.run(now, |object| object.on_owner(*hold, verdict, now)).await?;
        match (answer, asked) {
            (LimiterAnswer::OwnerUnavailable, Err(detail)) => {
                Err(worker::Error::RustError(format!("owner object: {detail}")))
            }
            (LimiterAnswer::OwnerUnavailable, Ok(_)) => {
                Err(worker::Error::RustError("owner object: out of protocol".into()))
            }
            (answer, _) => Ok(answer),
        }
    }

    /// Runs one decision and carries out its effects: the state written
    /// before the answer when it says so, then its alarm.
    async fn run(&self, now: i64, decide: impl FnOnce(&mut KeyObject) -> Effects) -> worker::Result<LimiterAnswer> {
        let effects = self.with_object(|object| {
            let effects = decide(object);
            if effects.write_state {
                self.write(&object.state, true)?;
            }
            Ok(effects)
        })?;
        if let Some(at) = effects.set_alarm_at {
            self.set_alarm(at, now).await;
        }
        Ok(effects.answer)
    }

    /// Sets the alarm; on failure the object sets it again at its next chance.
    /// The call it serves is decided and stored already, so it still gets its answer.
    async fn set_alarm(&self, at: i64, now: i64) {
        if self.state.storage().set_alarm(at.saturating_sub(now).max(1)).await.is_err() {
            if let Some(object) = self.loaded.borrow_mut().as_mut() {
                object.alarm_not_set();
            }
        }
    }
}

impl DurableObject for LimiterObject {
    fn new(state: State, env: Env) -> Self {
        let projects = Namespace::bind(&env, PROJECTS_BINDING).ok();
        let owners = Namespace::bind(&env, OWNERS_BINDING).ok();
        let keys = super::kv::KvStore::bind(&env, super::KEYS_BINDING).ok();
        let notify = crate::config::events_on(super::var(&env, "EVENTS_URL"));
        let object = LimiterObject { state, loaded: RefCell::new(None), projects, owners, keys, notify };
        // A failure resurfaces on the first query as a 500 to the worker (→ 503).
        let _ = object.create_tables();
        object
    }

    async fn fetch(&self, request: worker::Request) -> worker::Result<worker::Response> {
        let Some(call) = received_call::<LimiterCall>(request.inner()).await else { return status(400) };
        match self.decide(call).await {
            Ok(answer) => worker::Response::from_json(&answer),
            // The worker puts this in its log line (never in an answer): it names what failed here.
            Err(error) => worker::Response::error(format!("key object: {error}"), 500),
        }
    }

    /// Writes what [`KeyObject::on_alarm`] says; a failed write keeps the counts
    /// in memory and fails the alarm, which the runtime retries.
    async fn alarm(&self) -> worker::Result<worker::Response> {
        let now = now();
        let plan = self.with_object(|object| {
            let plan = object.on_alarm(now);
            if plan.write_state {
                self.write(&object.state, true)?;
            }
            Ok(plan)
        })?;
        if plan.write_counters {
            let written = self.loaded.borrow().as_ref().map_or(Ok(()), |object| self.write(&object.state, false));
            if let Err(error) = written {
                if let Some(object) = self.loaded.borrow_mut().as_mut() {
                    object.flush_failed(now);
                }
                return Err(error);
            }
        }
        let mut set_alarm_at = plan.set_alarm_at;
        if let Some(delivery) = &plan.deliver {
            let acknowledged = match (&self.projects, delivery) {
                (Some(projects), ProjectCall::Apply { project, .. }) => {
                    let answer = call_object::<ProjectAnswer>(projects, project.as_str(), delivery, false).await;
                    match (&answer, &self.keys) {
                        (Ok(answer), Some(kv)) => {
                            if let Some(keys) = answer.changed_key_count() {
                                // Left stale if this fails, until the count next changes (README).
                                let _ = KeyStore::new(kv).set_project_keys(project, keys).await;
                            }
                        }
                        (Err(error), _) => {
                            // Retried later; the log says why (a binding and a status, no key material).
                            let line =
                                serde_json::json!({"object": "key", "delivery": "failed", "detail": error.detail()});
                            worker::console_log!("{line}");
                        }
                        _ => {}
                    }
                    answer.is_ok()
                }
                _ => false,
            };
            let done = self.with_object(|object| {
                let done = object.delivered(delivery, acknowledged, now);
                if done.write_state {
                    self.write(&object.state, true)?;
                }
                Ok(done)
            })?;
            set_alarm_at = done.set_alarm_at.or(set_alarm_at);
        }
        if let Some(at) = set_alarm_at {
            self.set_alarm(at, now).await;
        }
        status(204)
    }
}
