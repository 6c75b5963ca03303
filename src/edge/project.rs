//! A project's Durable Object: [`ProjectDecisions`] over the object's own SQLite.

use worker::{durable_object, DurableObject, Env, State};

use super::limiter::{now, received_call, status};
use crate::project::object::ProjectDecisions;
use crate::project::sql::{Sql, SqlError, SqlValue};
use crate::project::ProjectCall;

/// A project's catalog, audit log and usage rollups ([`ProjectDecisions`] over its SQLite).
#[durable_object]
pub struct ProjectObject {
    /// Opened once per instance (the tables created if missing).
    decisions: Result<ProjectDecisions<ObjectSql>, SqlError>,
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
        ProjectObject { decisions: ProjectDecisions::open(ObjectSql(state.storage().sql()), retention_days) }
    }

    async fn fetch(&self, request: worker::Request) -> worker::Result<worker::Response> {
        let Some(call) = received_call::<ProjectCall>(request.inner()).await else { return status(400) };
        // No `await` from here to the answer: the call's statements commit together.
        let answer = match &self.decisions {
            Ok(decisions) => decisions.on_call(call, now()),
            Err(error) => Err(error.clone()),
        };
        match answer {
            Ok(answer) => worker::Response::from_json(&answer),
            Err(error) => worker::Response::error(format!("project object: {}", error.0), 500),
        }
    }
}
