//! The Durable Objects (SQLite-backed): one per key, one per webhook delivery,
//! and the worker's way to reach them.
//!
//! A key's object keeps its [`KeyState`] in two rows: the state as JSON,
//! written on admin changes, and the counters as four integers, written on
//! each admitted request. Each call loads the state, applies
//! [`KeyState::apply`] and stores what changed with synchronous SQL, with no
//! `await` in between, so concurrent requests are decided one at a time.

use std::cell::{Cell, RefCell};

use wasm_bindgen::JsValue;
use worker::{durable_object, DurableObject, Env, State};

use crate::app::limiter::{Change, KeyState, Limiter, LimiterAnswer, LimiterCall, IDLE_MILLIS};
use crate::app::webhooks::{Deliveries, DeliveryCall, DeliveryState};
use crate::error::Error;
use crate::ratelimit::LimitState;

#[durable_object]
pub struct LimiterObject {
    state: State,
    /// Whether this instance knows an alarm is pending (saves a read per request).
    alarm_known: Cell<bool>,
    /// The stored state as last read or written by this instance: SQLite stays the
    /// truth, this saves the SELECT and JSON parse while the instance lives.
    loaded: RefCell<Option<KeyState>>,
}

#[derive(serde::Deserialize)]
struct Row {
    state: String,
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

    fn load(&self) -> worker::Result<KeyState> {
        if let Some(state) = self.loaded.borrow().as_ref() {
            return Ok(state.clone());
        }
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
        *self.loaded.borrow_mut() = Some(state.clone());
        Ok(state)
    }

    fn save(&self, state: &KeyState, change: Change) -> worker::Result<()> {
        // Forget first: if a write fails, the next call re-reads what SQLite holds.
        *self.loaded.borrow_mut() = None;
        if change == Change::Everything {
            let json = serde_json::to_string(state).map_err(|e| worker::Error::RustError(e.to_string()))?;
            self.sql().exec(
                "INSERT INTO key_state (id, state) VALUES (0, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state",
                vec![json.into()],
            )?;
        }
        if change != Change::Nothing {
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
        }
        *self.loaded.borrow_mut() = Some(state.clone());
        Ok(())
    }

    /// Makes sure an alarm will look at this key once it has been idle for a day.
    async fn ensure_alarm(&self, after_ms: i64) -> worker::Result<()> {
        if !self.alarm_known.get() {
            let storage = self.state.storage();
            if storage.get_alarm().await?.is_none() {
                storage.set_alarm(after_ms.max(1)).await?;
            }
            self.alarm_known.set(true);
        }
        Ok(())
    }
}

fn now() -> i64 {
    worker::Date::now().as_millis() as i64
}

fn status(code: u16) -> worker::Result<worker::Response> {
    Ok(worker::Response::builder().with_status(code).empty())
}

impl DurableObject for LimiterObject {
    fn new(state: State, _env: Env) -> Self {
        let object = LimiterObject { state, alarm_known: Cell::new(false), loaded: RefCell::new(None) };
        // Synchronous, and a failure resurfaces on the first query as a 500 to the worker (→ 503).
        let _ = object.sql().exec(
            "CREATE TABLE IF NOT EXISTS key_state (id INTEGER PRIMARY KEY, state TEXT NOT NULL); \
             CREATE TABLE IF NOT EXISTS counters (id INTEGER PRIMARY KEY, tat INTEGER, day INTEGER NOT NULL, \
             day_count INTEGER NOT NULL, last_used_at INTEGER)",
            None,
        );
        object
    }

    async fn fetch(&self, mut request: worker::Request) -> worker::Result<worker::Response> {
        let Ok(call) = request.json::<LimiterCall>().await else { return status(400) };
        // Load, decide, store: synchronous from here to the write.
        let mut state = match self.load() {
            Ok(state) => state,
            Err(_) => return status(500),
        };
        let (answer, change) = state.apply(call, now());
        if change != Change::Nothing {
            if self.save(&state, change).is_err() {
                return status(500);
            }
            if self.ensure_alarm(IDLE_MILLIS).await.is_err() {
                return status(500);
            }
        }
        worker::Response::from_json(&answer)
    }

    async fn alarm(&self) -> worker::Result<worker::Response> {
        self.alarm_known.set(false);
        let mut state = self.load()?;
        let now = now();
        match state.idle_cleanup(now) {
            Some(true) => {
                *self.loaded.borrow_mut() = None;
                self.state.storage().delete_all().await?
            }
            Some(false) => {
                state.limit = Default::default();
                self.save(&state, Change::Counters)?;
            }
            None if state.limit != Default::default() || state.deleted => {
                let due = state.last_activity().unwrap_or(now) + IDLE_MILLIS;
                self.ensure_alarm(due - now).await?;
            }
            None => {}
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

    async fn fetch(&self, mut request: worker::Request) -> worker::Result<worker::Response> {
        let Ok(call) = request.json::<DeliveryCall>().await else { return status(400) };
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
    keys: worker::ObjectNamespace,
    deliveries: worker::ObjectNamespace,
}

impl DurableObjects {
    pub fn bind(env: &Env, keys: &str, deliveries: &str) -> Result<DurableObjects, Error> {
        let namespace = |binding: &str| {
            env.durable_object(binding)
                .map_err(|_| Error::Config(format!("the Durable Object binding `{binding}` is missing")))
        };
        Ok(DurableObjects { keys: namespace(keys)?, deliveries: namespace(deliveries)? })
    }
}

fn unavailable(error: &dyn std::fmt::Display) -> Error {
    Error::Unavailable(format!("Durable Object call failed: {error}"))
}

/// POSTs `call` as JSON to the object `name` of `namespace` and reads its JSON answer.
async fn call_object<A: serde::de::DeserializeOwned>(
    namespace: &worker::ObjectNamespace,
    name: &str,
    call: &impl serde::Serialize,
) -> Result<A, Error> {
    let body = serde_json::to_string(call).map_err(|e| unavailable(&e))?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post).with_body(Some(JsValue::from_str(&body)));
    let request = worker::Request::new_with_init("https://object.keygate/", &init).map_err(|e| unavailable(&e))?;
    let stub = namespace.id_from_name(name).and_then(|id| id.get_stub()).map_err(|e| unavailable(&e))?;
    let mut response = stub.fetch_with_request(request).await.map_err(|e| unavailable(&e))?;
    if response.status_code() != 200 {
        return Err(unavailable(&format!("status {}", response.status_code())));
    }
    response.json::<A>().await.map_err(|e| unavailable(&e))
}

impl Limiter for DurableObjects {
    async fn call(&self, key_id: &str, call: LimiterCall) -> Result<LimiterAnswer, Error> {
        call_object(&self.keys, key_id, &call).await
    }
}

impl Deliveries for DurableObjects {
    async fn delivery(&self, name: &str, call: DeliveryCall) -> Result<bool, Error> {
        call_object(&self.deliveries, name, &call).await
    }
}
