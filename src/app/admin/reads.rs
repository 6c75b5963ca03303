//! Admin reads: a key by id (its object has the last word), the catalog
//! listing, the audit log, usage, and the projects list.

use serde_json::{json, Value};

use super::{key_json, Params, Target};
use crate::app::http::{Request, Response};
use crate::app::limiter::{out_of_protocol, Limiter};
use crate::app::principal::Principal;
use crate::app::projects::{project_out_of_protocol, Projects};
use crate::app::store::KeyValueStore;
use crate::app::Context;
use crate::credits::{Balance, Credits};
use crate::error::Error;
use crate::ids::{KeyId, ProjectId};
use crate::keystate::{LimiterAnswer, LimiterCall};
use crate::project::query::{page_size, AUDIT_PARAMETERS, LIST_PARAMETERS};
use crate::project::{AuditQuery, ListQuery, ProjectAnswer, ProjectCall};
use crate::ratelimit::{PolicyStatus, RateDecision};
use crate::record::{rfc3339, KeyRecord, UnixMillis};
use crate::usage::{series_json, Counts, UsageQuery};

pub(super) const USAGE_PARAMETERS: &[&str] = &["granularity", "from", "to"];
/// Keys an older version wrote are imported in batches (two KV reads each),
/// a few per listing, within a request's budget of storage operations; a
/// listing that could not finish answers 503 and the next one continues.
const IMPORT_BATCH_KEYS: usize = 100;
const IMPORT_BATCHES: usize = 4;

/// A key that is not deleted, as its object (or, for a key written before
/// the catalog that its object never saw, KV) holds it.
pub(super) struct LiveKey {
    pub digest_hex: String,
    pub record: KeyRecord,
    pub last_used_at: Option<UnixMillis>,
    /// The credits left, for a key with credits (as its object holds them).
    pub balance: Option<Balance>,
}

impl LiveKey {
    /// The credits left (0 when its object holds no balance).
    pub fn remaining(&self) -> u64 {
        self.balance.map_or(0, |balance| balance.remaining)
    }

    /// Its credits as they stand: the policy and what is left (`None`: unlimited).
    pub fn credits_held(&self) -> Option<(Credits, u64)> {
        self.record.credits.map(|credits| (credits, self.remaining()))
    }
}

/// A key as the admin API finds it by project and id.
// One per request, moved out at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(super) enum Found {
    Live(LiveKey),
    /// Deleted in its object; KV may still hold its record (a deletion that failed half-way).
    Deleted {
        digest_hex: Option<String>,
    },
}

impl<S: KeyValueStore, L: Limiter + Projects, O> Context<'_, S, L, O> {
    /// A key by project and id: its object has the last word.
    pub(super) async fn find(&self, project: &ProjectId, id: &KeyId) -> Result<Found, Error> {
        let LimiterAnswer::Record { record, deleted, digest, last_used_at, balance } =
            self.limiter.call(id, LimiterCall::Get).await?
        else {
            return Err(out_of_protocol());
        };
        if deleted {
            return Ok(Found::Deleted { digest_hex: digest });
        }
        match (record, digest) {
            (Some(record), Some(digest_hex)) if &record.project == project => {
                Ok(Found::Live(LiveKey { digest_hex, record, last_used_at, balance }))
            }
            (Some(_), _) => Err(Error::KeyNotFound),
            // Only KV knows the key (written before the catalog, or by hand):
            // its copy stands until an admin write adopts it.
            (None, _) => match self.keys.find_legacy(project, id).await? {
                Some((digest_hex, Some(record))) => {
                    Ok(Found::Live(LiveKey { digest_hex, record, last_used_at, balance: None }))
                }
                _ => Err(Error::KeyNotFound),
            },
        }
    }

    /// The live key whose secret has `digest_hex`, if any: its object has the
    /// last word, and a key only KV knows (never used since) stands as KV
    /// holds it, as its first use would adopt it.
    pub(super) async fn find_by_digest(&self, digest_hex: &str) -> Result<Option<LiveKey>, Error> {
        let Some(stored) = self.keys.record_at(digest_hex).await? else { return Ok(None) };
        let LimiterAnswer::Record { record, deleted, digest, last_used_at, balance } =
            self.limiter.call(&stored.id, LimiterCall::Get).await?
        else {
            return Err(out_of_protocol());
        };
        Ok(match (record, digest) {
            _ if deleted => None,
            (Some(record), Some(held)) if held == digest_hex => {
                Some(LiveKey { digest_hex: held, record, last_used_at, balance })
            }
            // The object holds another key under this id: the KV record is no key's.
            (Some(_), _) => None,
            (None, _) => {
                Some(LiveKey { digest_hex: digest_hex.to_owned(), record: stored, last_used_at, balance: None })
            }
        })
    }

    pub(super) async fn find_live(&self, project: &ProjectId, id: &KeyId) -> Result<LiveKey, Error> {
        match self.find(project, id).await? {
            Found::Live(live) => Ok(live),
            Found::Deleted { .. } => Err(Error::KeyNotFound),
        }
    }

    /// The catalog, newest first (a key with an owner sees its owner's keys
    /// only); a project's keys from before the catalog are imported first, once.
    pub(super) async fn list(
        &self,
        project: &ProjectId,
        principal: &Principal,
        request: &Request,
    ) -> Result<Response, Error> {
        let params = Params::of(request, LIST_PARAMETERS)?;
        let mut query = ListQuery::parse(|name| params.get(name))?;
        if let Some(owner) = principal.reads_only() {
            if query.owner_id.as_ref().is_some_and(|asked| asked != owner) {
                let message = "A key with an owner lists only its owner's keys.".into();
                return Err(Error::Exceeds { field: "owner_id", message });
            }
            query.owner_id = Some(owner.clone());
        }
        let call = || ProjectCall::List { project: project.clone(), query: query.clone() };
        let mut answer = self.limiter.project(project, call()).await?;
        for _ in 0..IMPORT_BATCHES {
            let ProjectAnswer::NeedImport { cursor } = answer else { break };
            let (records, next) = self.keys.legacy_records(project, IMPORT_BATCH_KEYS, cursor.as_deref()).await?;
            let import = ProjectCall::Import { project: project.clone(), records, next };
            let imported = self.limiter.project(project, import).await?;
            self.record_project_keys(project, &imported).await?;
            answer = self.limiter.project(project, call()).await?;
        }
        if matches!(answer, ProjectAnswer::NeedImport { .. }) {
            return Err(Error::Unavailable("importing keys an older version wrote: retry to continue".into()));
        }
        let ProjectAnswer::Keys { keys, cursor } = answer else { return Err(project_out_of_protocol()) };
        // A listing does not ask each key's object: `remaining` is `null` there.
        let keys: Vec<Value> =
            keys.iter().map(|item| key_json(&item.record, item.last_used_at, None, self.now)).collect();
        Ok(Response::json(200, &json!({ "keys": keys, "cursor": cursor })))
    }

    /// Keeps the projects directory in step with what the project's object counted.
    pub(super) async fn record_project_keys(&self, project: &ProjectId, answer: &ProjectAnswer) -> Result<(), Error> {
        match (answer, answer.changed_key_count()) {
            (ProjectAnswer::Applied { .. }, Some(keys)) => self.keys.set_project_keys(project, keys).await,
            (ProjectAnswer::Applied { .. }, None) => Ok(()),
            _ => Err(project_out_of_protocol()),
        }
    }

    pub(super) async fn audit(&self, project: &ProjectId, request: &Request) -> Result<Response, Error> {
        let params = Params::of(request, AUDIT_PARAMETERS)?;
        let query = AuditQuery::parse(|name| params.get(name))?;
        let call = ProjectCall::Audit { project: project.clone(), query };
        let ProjectAnswer::Events { events, cursor } = self.limiter.project(project, call).await? else {
            return Err(project_out_of_protocol());
        };
        let events: Vec<Value> = events.iter().map(|event| event.to_json()).collect();
        Ok(Response::json(200, &json!({ "events": events, "cursor": cursor })))
    }

    /// A key's counters and history, from its own object: current to the request.
    pub(super) async fn usage(&self, target: &Target<'_>, request: &Request) -> Result<Response, Error> {
        let params = Params::of(request, USAGE_PARAMETERS)?;
        let query = UsageQuery::parse(|name| params.get(name), self.now)?;
        target.principal.may_read(&self.find_live(target.project, target.id).await?.record)?;
        let call = LimiterCall::Usage { query: Some(query) };
        let LimiterAnswer::Usage { requests_today, last_used_at, rate, series } =
            self.limiter.call(target.id, call).await?
        else {
            return Err(out_of_protocol());
        };
        let body = usage_json(&query, u64::from(requests_today), last_used_at, rate, &series);
        Ok(Response::json(200, &body))
    }

    /// The project's rollups, from its object: at most about a minute behind.
    pub(super) async fn project_usage(&self, project: &ProjectId, request: &Request) -> Result<Response, Error> {
        let params = Params::of(request, USAGE_PARAMETERS)?;
        let query = UsageQuery::parse(|name| params.get(name), self.now)?;
        let call = ProjectCall::Usage { project: project.clone(), query };
        let ProjectAnswer::Usage { totals, series, top_keys } = self.limiter.project(project, call).await? else {
            return Err(project_out_of_protocol());
        };
        let mut body = usage_range(&query);
        body["totals"] = Value::Object(totals.to_json());
        body["series"] = series_json(series.iter().map(|(start, counts)| (*start, counts)));
        body["top_keys"] = json!(top_keys);
        Ok(Response::json(200, &body))
    }

    /// The projects that have keys, by id (the admin token's only).
    pub(super) async fn projects(&self, request: &Request) -> Result<Response, Error> {
        let params = Params::of(request, &["limit", "cursor"])?;
        let limit = page_size(|name| params.get(name))?;
        let (projects, cursor) = self.keys.projects(limit, params.get("cursor")).await?;
        let projects: Vec<Value> = projects.iter().map(|(id, keys)| json!({"id": id, "keys": keys})).collect();
        Ok(Response::json(200, &json!({ "projects": projects, "cursor": cursor })))
    }
}

/// A usage answer (a key's, or an owner's shared usage): where the limits
/// stand now, the last use, and the series `query` asked for.
pub(super) fn usage_json(
    query: &UsageQuery,
    requests_today: u64,
    last_used_at: Option<UnixMillis>,
    rate: Option<RateDecision>,
    series: &[(UnixMillis, Counts)],
) -> Value {
    let policy = |status: PolicyStatus, now| json!({"limit": status.limit, "remaining": status.remaining, "reset": status.reset_at(now)});
    let ratelimit =
        rate.map(|rate| json!({"minute": policy(rate.minute, rate.now), "day": policy(rate.day, rate.now)}));
    let mut body = usage_range(query);
    body["requests_today"] = json!(requests_today);
    body["last_used_at"] = json!(last_used_at.map(rfc3339));
    body["ratelimit"] = ratelimit.unwrap_or(Value::Null);
    body["series"] = series_json(series.iter().map(|(start, counts)| (*start, counts)));
    body
}

/// `{"granularity", "from", "to"}` of a usage answer.
fn usage_range(query: &UsageQuery) -> Value {
    json!({"granularity": query.granularity.as_str(), "from": rfc3339(query.from), "to": rfc3339(query.to)})
}
