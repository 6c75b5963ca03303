//! The Durable Objects (SQLite-backed): one per key, one per webhook delivery,
//! one per project, and the worker's way to reach them.
//!
//! A key's object holds a [`KeyObject`] in memory and its state in three
//! SQLite rows: the state as JSON (with the outbox and a key's credits),
//! written before an admin change or a spend of credits is answered; the counters as four integers and the usage history
//! as JSON, written by the alarm. Every decision (answers, what to write,
//! what to deliver, when the alarm rings) is [`KeyObject`]'s; this file only
//! reads, writes, delivers and sets alarms as it says. A project's object
//! runs `project::object::ProjectDecisions` over its SQLite (`edge/project.rs`).

use std::cell::RefCell;

use wasm_bindgen::{JsCast, JsValue};
use worker::url;
use worker::{durable_object, js_sys, wasm_bindgen_futures, web_sys, DurableObject, Env, State};

use super::now;
use crate::app::limiter::Limiter;
use crate::app::owners::Owners;
use crate::app::projects::Projects;
use crate::app::store::KeyStore;
use crate::app::webhooks::{Deliveries, DeliveryCall, DeliveryState};
use crate::error::Error;
use crate::ids::{KeyId, ProjectId};
use crate::keystate::delivery::UsageState;
use crate::keystate::{Effects, KeyObject, KeyState, LimiterAnswer, LimiterCall};
use crate::owner::{OwnerAnswer, OwnerCall};
use crate::project::{ProjectAnswer, ProjectCall};
use crate::ratelimit::LimitState;

/// The Durable Object namespace binding of per-project objects (also read by key objects).
pub const PROJECTS_BINDING: &str = "PROJECTS";
/// The Durable Object namespace binding of per-owner objects (asked by key objects).
pub const OWNERS_BINDING: &str = "OWNERS";

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
        let mut loaded = self.loaded.borrow_mut();
        let object = match loaded.as_mut() {
            Some(object) => object,
            None => loaded.insert(KeyObject::loaded(self.read()?, self.notify)),
        };
        let result = f(object);
        if result.is_err() {
            *loaded = None;
        }
        result
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

pub(super) fn status(code: u16) -> worker::Result<worker::Response> {
    Ok(worker::Response::builder().with_status(code).empty())
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

/// Remembers one webhook delivery id until its claim ends, then forgets it entirely.
#[durable_object]
pub struct DeliveryObject {
    state: State,
}

impl DurableObject for DeliveryObject {
    fn new(state: State, _env: Env) -> Self {
        DeliveryObject { state }
    }

    async fn fetch(&self, request: worker::Request) -> worker::Result<worker::Response> {
        let Some(call) = received_call::<DeliveryCall>(request.inner()).await else { return status(400) };
        let storage = self.state.storage();
        let mut delivery: DeliveryState = storage.get("delivery").await?.unwrap_or_default();
        // Storage calls on one object are serialized by its input gate, so no other
        // request interleaves between this read and the write below.
        let fresh = delivery.apply(call, now());
        storage.put("delivery", delivery).await?;
        if let Some(until) = delivery.claimed_until {
            storage.set_alarm(until - now()).await?;
        }
        worker::Response::from_json(&fresh)
    }

    async fn alarm(&self) -> worker::Result<worker::Response> {
        self.state.storage().delete_all().await?;
        status(204)
    }
}

/// The worker's side: one `fetch` to the object per call.
pub struct DurableObjects {
    keys: Namespace,
    deliveries: Namespace,
    projects: Namespace,
    owners: Namespace,
}

/// A Durable Object namespace and the binding that names it (for the log line).
pub(super) struct Namespace {
    objects: worker::ObjectNamespace,
    binding: &'static str,
}

impl Namespace {
    pub(super) fn bind(env: &Env, binding: &'static str) -> Result<Namespace, Error> {
        env.durable_object(binding)
            .map(|objects| Namespace { objects, binding })
            .map_err(|_| Error::Config(format!("the Durable Object binding `{binding}` is missing")))
    }
}

impl DurableObjects {
    pub fn bind(env: &Env, keys: &'static str, deliveries: &'static str) -> Result<DurableObjects, Error> {
        Ok(DurableObjects {
            keys: Namespace::bind(env, keys)?,
            deliveries: Namespace::bind(env, deliveries)?,
            projects: Namespace::bind(env, PROJECTS_BINDING)?,
            owners: Namespace::bind(env, OWNERS_BINDING)?,
        })
    }
}

const OBJECT_URL: &str = "https://object.keygate/";
const CALL_PARAMETER: &str = "call";
/// The largest call (as JSON) sent in a URL; percent-encoding can triple it.
const MAX_CALL_IN_URL: usize = 2048;

/// The longest part of an object's own error kept for the log line.
const MAX_DETAIL_CHARS: usize = 200;

/// Sends `call` to the object `name` of `namespace` as JSON and reads its JSON
/// answer. A small call that may travel in a URL (`in_url`: checks,
/// reads, queries) goes in the URL's query, which spares streaming a request
/// body; a large one, or one holding a key's digest or an audit event (which
/// runtime traces of URLs must not show), in a POST body.
pub(super) async fn call_object<A: serde::de::DeserializeOwned>(
    namespace: &Namespace,
    name: &str,
    call: &impl serde::Serialize,
    in_url: bool,
) -> Result<A, Error> {
    let binding = namespace.binding;
    let unavailable =
        |error: &dyn std::fmt::Display| Error::Unavailable(format!("Durable Object {binding} call failed: {error}"));
    let json = serde_json::to_string(call).map_err(|e| unavailable(&e))?;
    let stub = namespace.objects.get_by_name(name).map_err(|e| unavailable(&e))?;
    // The runtime's stub: `worker`'s would copy each answer into a new `Response`.
    let stub: worker::worker_sys::DurableObject = stub.into_rpc();
    let sent = if in_url && json.len() <= MAX_CALL_IN_URL {
        let query: String = url::form_urlencoded::byte_serialize(json.as_bytes()).collect();
        stub.fetch_with_str(&format!("{OBJECT_URL}?{CALL_PARAMETER}={query}"))
    } else {
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::Post).with_body(Some(JsValue::from_str(&json)));
        let request = worker::Request::new_with_init(OBJECT_URL, &init).map_err(|e| unavailable(&e))?;
        stub.fetch_with_request(request.inner())
    };
    let answered = async { wasm_bindgen_futures::JsFuture::from(sent?).await };
    let response: web_sys::Response = answered.await.map_err(|e| unavailable(&format!("{e:?}")))?.unchecked_into();
    if response.status() != 200 {
        let said = read_text(response.text()).await.unwrap_or_default();
        let said: String = said.chars().take(MAX_DETAIL_CHARS).collect();
        return Err(unavailable(&format!("status {}: {said}", response.status())));
    }
    read_json(response.text()).await.ok_or_else(|| unavailable(&"the answer is not the expected JSON"))
}

/// The call a worker sent (see [`call_object`]): from the URL, else the body.
pub(super) async fn received_call<T: serde::de::DeserializeOwned>(request: &web_sys::Request) -> Option<T> {
    let url = request.url();
    let in_url = url
        .split_once('?')
        .and_then(|(_, query)| url::form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == CALL_PARAMETER));
    match in_url {
        Some((_, json)) => serde_json::from_str(&json).ok(),
        None => read_json(request.text()).await,
    }
}

/// Parses the body behind `text` (a `Request` or `Response` `.text()`): one
/// promise, where `worker`'s readers go chunk by chunk or field by field.
async fn read_json<T: serde::de::DeserializeOwned>(text: Result<js_sys::Promise, JsValue>) -> Option<T> {
    serde_json::from_str(&read_text(text).await?).ok()
}

async fn read_text(text: Result<js_sys::Promise, JsValue>) -> Option<String> {
    wasm_bindgen_futures::JsFuture::from(text.ok()?).await.ok()?.as_string()
}

impl Limiter for DurableObjects {
    async fn call(&self, key_id: &KeyId, call: LimiterCall) -> Result<LimiterAnswer, Error> {
        call_object(&self.keys, key_id.as_str(), &call, call.fits_in_url()).await
    }
}

impl Projects for DurableObjects {
    async fn project(&self, project: &ProjectId, call: ProjectCall) -> Result<ProjectAnswer, Error> {
        call_object(&self.projects, project.as_str(), &call, call.fits_in_url()).await
    }
}

impl Owners for DurableObjects {
    async fn owner(&self, name: &str, call: OwnerCall) -> Result<OwnerAnswer, Error> {
        let in_url = matches!(call, OwnerCall::Admit { .. } | OwnerCall::Get { .. });
        call_object(&self.owners, name, &call, in_url).await
    }
}

impl Deliveries for DurableObjects {
    async fn delivery(&self, name: &str, call: DeliveryCall) -> Result<bool, Error> {
        call_object(&self.deliveries, name, &call, true).await
    }
}
