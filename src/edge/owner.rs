//! An owner's Durable Object: [`OwnerObject`]'s decisions over one SQLite
//! row, and the delivery of its audit events to the project's object.

use std::cell::RefCell;

use worker::{durable_object, DurableObject, Env, State};

use super::now;
use super::objects::{call_object, received_call, status, with_loaded, Namespace, PROJECTS_BINDING};
use crate::owner::{OwnerCall, OwnerObject as Decisions, OwnerState};
use crate::project::ProjectAnswer;

/// The limits one owner's keys share, in one project.
#[durable_object]
pub struct OwnerObject {
    state: State,
    /// The object as last read or decided; `None` until read, and after a failed write.
    loaded: RefCell<Option<Decisions>>,
    projects: Option<Namespace>,
}

#[derive(serde::Deserialize)]
struct Row {
    state: String,
}

impl OwnerObject {
    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    fn read(&self) -> worker::Result<OwnerState> {
        self.sql()
            .exec("CREATE TABLE IF NOT EXISTS owner_state (id INTEGER PRIMARY KEY, state TEXT NOT NULL)", None)?;
        let rows: Vec<Row> = self.sql().exec("SELECT state FROM owner_state WHERE id = 0", None)?.to_array()?;
        match rows.first() {
            None => Ok(OwnerState::default()),
            Some(row) => serde_json::from_str(&row.state).map_err(|e| worker::Error::RustError(e.to_string())),
        }
    }

    fn write(&self, state: &OwnerState) -> worker::Result<()> {
        let json = serde_json::to_string(state).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.sql().exec(
            "INSERT INTO owner_state (id, state) VALUES (0, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state",
            vec![json.into()],
        )?;
        Ok(())
    }

    /// Runs `f` on the object, read on first use; a failure makes the next call read again.
    fn with_object<T>(&self, f: impl FnOnce(&mut Decisions) -> worker::Result<T>) -> worker::Result<T> {
        with_loaded(&self.loaded, || Ok(Decisions::loaded(self.read()?)), f)
    }

    async fn set_alarm(&self, at: Option<i64>, now: i64) {
        let Some(at) = at else { return };
        if self.state.storage().set_alarm(at.saturating_sub(now).max(1)).await.is_err() {
            if let Some(object) = self.loaded.borrow_mut().as_mut() {
                object.alarm_not_set();
            }
        }
    }
}

impl DurableObject for OwnerObject {
    fn new(state: State, env: Env) -> Self {
        let projects = Namespace::bind(&env, PROJECTS_BINDING).ok();
        OwnerObject { state, loaded: RefCell::new(None), projects }
    }

    async fn fetch(&self, request: worker::Request) -> worker::Result<worker::Response> {
        let Some(call) = received_call::<OwnerCall>(request.inner()).await else { return status(400) };
        let now = now();
        let decided = self.with_object(|object| {
            let effects = object.on_call(call, now);
            if effects.write {
                self.write(&object.state)?;
            }
            Ok(effects)
        });
        match decided {
            Ok(effects) => {
                self.set_alarm(effects.set_alarm_at, now).await;
                worker::Response::from_json(&effects.answer)
            }
            Err(error) => worker::Response::error(format!("owner object: {error}"), 500),
        }
    }

    /// Writes pending counts and delivers audit events, as [`Decisions::on_alarm`] says.
    async fn alarm(&self) -> worker::Result<worker::Response> {
        let now = now();
        let plan = self.with_object(|object| Ok(object.on_alarm(now)))?;
        if plan.write {
            let written = self.loaded.borrow().as_ref().map_or(Ok(()), |object| self.write(&object.state));
            if let Err(error) = written {
                if let Some(object) = self.loaded.borrow_mut().as_mut() {
                    object.flush_failed(now);
                }
                return Err(error);
            }
        }
        let mut set_alarm_at = plan.set_alarm_at;
        if let (Some(delivery), Some(projects)) = (&plan.deliver, &self.projects) {
            let project = match delivery {
                crate::project::ProjectCall::Apply { project, .. } => project.as_str(),
                _ => "",
            };
            let acknowledged = call_object::<ProjectAnswer>(projects, project, delivery, false).await.is_ok();
            let next = self.with_object(|object| {
                let (write, next) = object.delivered(delivery, acknowledged, now);
                if write {
                    self.write(&object.state)?;
                }
                Ok(next)
            })?;
            set_alarm_at = next.or(set_alarm_at);
        }
        self.set_alarm(set_alarm_at, now).await;
        status(204)
    }
}
