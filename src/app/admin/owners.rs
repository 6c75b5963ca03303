//! `/v1/projects/{project}/owners/{owner_id}`: the limits an owner's keys
//! share, set, shown and removed by the admin token (a key never sets the
//! limits it is held to).
//!
//! Guarantees: `PUT` replaces the limits whole (as a PUT does) and sets the
//! balance when it gives `credits`; every change is stored in the owner's
//! object with its audit event, which reaches the project's object even if
//! this request's own delivery fails; a refused body writes nothing.

use serde::Deserialize;
use serde_json::{json, Value};

use super::author::Author;
use super::reads::{usage_json, USAGE_PARAMETERS};
use super::Params;
use crate::app::bodies::{limits, parse_body, CreditsBody, RateLimit};
use crate::app::http::{Request, Response};
use crate::app::limiter::Limiter;
use crate::app::owners::{owner_out_of_protocol, Owners};
use crate::app::projects::Projects;
use crate::app::store::KeyValueStore;
use crate::app::Context;
use crate::error::Error;
use crate::ids::{OwnerId, ProjectId};
use crate::owner::{OwnerAnswer, OwnerCall, OwnerLimits, OwnerView};
use crate::project::{Action, Actor};
use crate::record::rfc3339;
use crate::usage::UsageQuery;

/// `PUT …/owners/{owner_id}`: each field absent or `null` means none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutOwner {
    #[serde(default)]
    rate_limit: Option<RateLimit>,
    #[serde(default)]
    plan: Option<String>,
    #[serde(default)]
    credits: Option<CreditsBody>,
}

impl<S: KeyValueStore, L: Limiter + Projects + Owners, O> Context<'_, S, L, O> {
    /// Serves the owner route; the caller has checked the admin token.
    pub(super) async fn owner(
        &self,
        project: &ProjectId,
        owner_id: &str,
        request: &Request,
    ) -> Result<Response, Error> {
        // The path keeps `:` percent-encoded (it is no unreserved character), as clients may send it.
        let owner_id = owner_id.replace("%3A", ":");
        let owner = OwnerId::parse(&owner_id).map_err(|invalid| Error::validation("owner_id", invalid.0))?;
        let name = owner.object_name(project);
        match request.method.as_str() {
            "GET" => {
                let params = Params::of(request, USAGE_PARAMETERS)?;
                let query = UsageQuery::parse(|name| params.get(name), self.now)?;
                self.show_owner(project, &owner, &name, query, 200).await
            }
            "PUT" => {
                let body: PutOwner = parse_body(&request.body, false)?;
                let (plan, rate_limit) = limits(self.config, body.plan.as_deref(), body.rate_limit)?.unzip();
                let (credits, balance) = body.credits.map(CreditsBody::split).unzip();
                let limits = OwnerLimits { rate_limit, plan: plan.flatten(), credits };
                let entry = Author::acting(Actor::AdminToken, request)?.owner_entry(
                    project,
                    Action::OwnerUpdated,
                    &owner,
                    self.now,
                )?;
                let call = OwnerCall::Put { limits, balance, entry };
                let OwnerAnswer::Stored { created, entry } = self.limiter.owner(&name, call).await? else {
                    return Err(owner_out_of_protocol());
                };
                self.deliver(project, vec![entry]).await;
                let query = UsageQuery::parse(|_| None, self.now)?;
                self.show_owner(project, &owner, &name, query, if created { 201 } else { 200 }).await
            }
            _ => {
                let entry = Author::acting(Actor::AdminToken, request)?.owner_entry(
                    project,
                    Action::OwnerDeleted,
                    &owner,
                    self.now,
                )?;
                match self.limiter.owner(&name, OwnerCall::Delete { entry }).await? {
                    OwnerAnswer::Stored { entry, .. } => {
                        self.deliver(project, vec![entry]).await;
                        Ok(Response::no_content())
                    }
                    OwnerAnswer::NotFound => Err(Error::OwnerNotFound),
                    _ => Err(owner_out_of_protocol()),
                }
            }
        }
    }

    async fn show_owner(
        &self,
        project: &ProjectId,
        owner: &OwnerId,
        name: &str,
        query: UsageQuery,
        status: u16,
    ) -> Result<Response, Error> {
        match self.limiter.owner(name, OwnerCall::Get { query: Some(query) }).await? {
            OwnerAnswer::Owner(view) => Ok(Response::json(status, &owner_json(project, owner, &view, &query))),
            OwnerAnswer::NotFound => Err(Error::OwnerNotFound),
            _ => Err(owner_out_of_protocol()),
        }
    }
}

/// An owner as the admin API shows it: its limits and their shared usage.
fn owner_json(project: &ProjectId, owner: &OwnerId, view: &OwnerView, query: &UsageQuery) -> Value {
    let limits = &view.limits;
    let credits = limits.credits.map(|credits| json!({"remaining": view.remaining, "refill": credits.refill}));
    json!({
        "owner_id": owner,
        "project": project,
        "rate_limit": limits.rate_limit,
        "plan": limits.plan,
        "credits": credits,
        "created_at": rfc3339(view.created_at),
        "updated_at": rfc3339(view.updated_at),
        "usage": usage_json(query, view.requests_today, view.last_used_at, view.rate, &view.series),
    })
}
