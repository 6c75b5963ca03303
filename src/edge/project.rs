//! A project's Durable Object: [`ProjectDecisions`] over the object's own
//! SQLite, and the sender of its event notifications to the events queue.

use std::cell::Cell;

use worker::{durable_object, DurableObject, Env, State};

use super::events::{self, Producer};
use super::now;
use super::objects::{received_call, status};
use crate::project::object::ProjectDecisions;
use crate::project::sql::{Sql, SqlError, SqlValue};
use crate::project::ProjectCall;

/// How soon a failed hand-over to the queue is tried again.
const SEND_RETRY_MILLIS: i64 = 30_000;

/// A project's catalog, audit log and usage rollups ([`ProjectDecisions`] over its SQLite).
#[durable_object]
pub struct ProjectObject {
    state: State,
    /// Opened once per instance (the tables created if missing).
    decisions: Result<ProjectDecisions<ObjectSql>, SqlError>,
    /// The events queue; `None` without the binding (notifications then wait in SQLite).
    queue: Option<Producer>,
    /// Whether this instance is handing notifications to the queue now, so
    /// two calls do not send the same ones.
    sending: Cell<bool>,
}

/// The Durable Object's SQLite, as [`Sql`].
struct ObjectSql(worker::SqlStorage);

impl Sql for ObjectSql {
    fn exec(&self, query: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, SqlError> {
        let failed = |e: worker::Error| SqlError(format!("{e}"));
        let bound: Vec<worker::SqlStorageValue> = params
            .iter()
            .map(|param| match param {
                SqlValue::Null => worker::SqlStorageValue::Null,
                SqlValue::Int(value) => worker::SqlStorageValue::Integer(*value),
                SqlValue::Text(value) => worker::SqlStorageValue::String(value.clone()),
            })
            .collect();
        let cursor = self.0.exec(query, bound).map_err(failed)?;
        cursor
            .raw()
            .map(|row| {
                Ok(row
                    .map_err(failed)?
                    .into_iter()
                    .map(|value| match value {
                        worker::SqlStorageValue::Integer(value) => SqlValue::Int(value),
                        worker::SqlStorageValue::Float(value) => SqlValue::Int(value as i64),
                        worker::SqlStorageValue::String(value) => SqlValue::Text(value),
                        worker::SqlStorageValue::Boolean(value) => SqlValue::Int(i64::from(value)),
                        worker::SqlStorageValue::Null | worker::SqlStorageValue::Blob(_) => SqlValue::Null,
                    })
                    .collect())
            })
            .collect()
    }
}

impl DurableObject for ProjectObject {
    fn new(state: State, env: Env) -> Self {
        // The worker refuses a bad value as a CONFIG_ERROR; here it falls back to the default.
        let var = env.var("AUDIT_RETENTION_DAYS").ok().map(|var| var.to_string());
        let retention_days =
            crate::config::audit_retention_days(var).unwrap_or(crate::project::object::DEFAULT_AUDIT_RETENTION_DAYS);
        let notify = crate::config::events_on(super::var(&env, "EVENTS_URL"));
        let decisions = ProjectDecisions::open(ObjectSql(state.storage().sql()), retention_days, notify);
        let queue = events::producer(&env);
        ProjectObject { state, decisions, queue, sending: Cell::new(false) }
    }

    async fn fetch(&self, request: worker::Request) -> worker::Result<worker::Response> {
        let Some(call) = received_call::<ProjectCall>(request.inner()).await else { return status(400) };
        let queues_notices = matches!(call, ProjectCall::Apply { .. } | ProjectCall::Retry { .. });
        // No `await` from here to the answer: the call's statements commit together.
        let answer = match &self.decisions {
            Ok(decisions) => decisions.on_call(call, now()),
            Err(error) => Err(error.clone()),
        };
        match answer {
            Ok(answer) => {
                if queues_notices && self.has_pending() {
                    // The alarm sends them, apart from this call and retried by
                    // the runtime; without an alarm, this call sends them itself.
                    if self.state.storage().set_alarm(1).await.is_err() {
                        let _ = self.hand_over().await;
                    }
                }
                worker::Response::from_json(&answer)
            }
            Err(error) => worker::Response::error(format!("project object: {}", error.0), 500),
        }
    }

    /// Hands every pending notification to the events queue, a batch at a time.
    async fn alarm(&self) -> worker::Result<worker::Response> {
        self.hand_over().await?;
        status(204)
    }
}

impl ProjectObject {
    /// Hands the pending notifications to the queue; on failure, sets the
    /// alarm to try again (and fails if even that fails).
    async fn hand_over(&self) -> worker::Result<()> {
        let (Ok(decisions), Some(queue)) = (&self.decisions, &self.queue) else { return Ok(()) };
        if self.sending.replace(true) {
            return Ok(());
        }
        let sent = self.send_pending(decisions, queue).await;
        self.sending.set(false);
        if let Err(detail) = sent {
            let line = serde_json::json!({"object": "project", "events": "not queued", "detail": detail});
            worker::console_log!("{line}");
            self.state.storage().set_alarm(SEND_RETRY_MILLIS).await?;
        }
        Ok(())
    }

    fn has_pending(&self) -> bool {
        self.decisions.as_ref().is_ok_and(|decisions| decisions.has_pending_notices().unwrap_or(false))
    }

    async fn send_pending(&self, decisions: &ProjectDecisions<ObjectSql>, queue: &Producer) -> Result<(), String> {
        loop {
            let pending = decisions.pending_notices().map_err(|e| e.0)?;
            if pending.is_empty() {
                return Ok(());
            }
            events::send(queue, &pending).await?;
            decisions.notices_sent(&pending).map_err(|e| e.0)?;
        }
    }
}
