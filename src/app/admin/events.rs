//! A project's event notifications whose delivery failed: listed, and sent
//! again on request. The admin token's alone: the events tell of every key.

use serde::Deserialize;
use serde_json::{json, Value};

use super::Params;
use crate::app::bodies::parse_body;
use crate::app::http::{Request, Response};
use crate::app::limiter::Limiter;
use crate::app::projects::{project_out_of_protocol, Projects};
use crate::app::store::KeyValueStore;
use crate::app::Context;
use crate::error::Error;
use crate::ids::ProjectId;
use crate::project::query::EVENTS_PARAMETERS;
use crate::project::{EventsQuery, ProjectAnswer, ProjectCall};

/// A retry takes no fields (an empty body or `{}`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

impl<S: KeyValueStore, L: Limiter + Projects, O> Context<'_, S, L, O> {
    /// `GET /v1/projects/{project}/events?status=failed`: newest failure first.
    pub(super) async fn failed_events(&self, project: &ProjectId, request: &Request) -> Result<Response, Error> {
        let params = Params::of(request, EVENTS_PARAMETERS)?;
        let query = EventsQuery::parse(|name| params.get(name))?;
        let call = ProjectCall::FailedEvents { project: project.clone(), query };
        let ProjectAnswer::FailedEvents { events, cursor } = self.limiter.project(project, call).await? else {
            return Err(project_out_of_protocol());
        };
        let events: Vec<Value> = events.iter().map(|failed| failed.notice.to_json(Some(failed.failed_at))).collect();
        Ok(Response::json(200, &json!({ "events": events, "cursor": cursor })))
    }

    /// `POST /v1/projects/{project}/events/{id}/retry`: back to the queue (202).
    pub(super) async fn retry_event(
        &self,
        project: &ProjectId,
        id: &str,
        request: &Request,
    ) -> Result<Response, Error> {
        parse_body::<NoFields>(&request.body, true)?;
        let well_formed = id
            .strip_prefix("evt_")
            .is_some_and(|rest| rest.len() == 22 && rest.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !well_formed {
            return Err(Error::EventNotFound);
        }
        let call = ProjectCall::Retry { project: project.clone(), id: id.to_owned() };
        match self.limiter.project(project, call).await? {
            ProjectAnswer::Done { found: true } => Ok(Response::json(202, &json!({"id": id, "status": "pending"}))),
            ProjectAnswer::Done { found: false } => Err(Error::EventNotFound),
            _ => Err(project_out_of_protocol()),
        }
    }
}
