//! Key verification: from a presented credential to a [`Decision`].
//!
//! Order, cheapest first: credential shape → key format and checksum (no read)
//! → environment (no read) → one KV read → the key's Durable Object: status →
//! expiry → project → scope → rate limit.
//! Guarantee: `Err` is only a system failure (fail closed, 503); every verdict
//! about the key is a [`Decision`], and unknown, deleted and wrong-environment
//! keys get the same public answer.

use std::net::IpAddr;
use std::rc::Rc;

use serde_json::{json, Value};

use crate::app::bodies::{parse_body, VerifyKey};
use crate::app::credential::Credential;
use crate::app::http::{Request, Response};
use crate::app::limiter::{out_of_protocol, Limiter};
use crate::app::store::KeyValueStore;
use crate::app::{Context, Trace};
use crate::error::Error;
use crate::ids::{KeyId, ProjectId};
use crate::key::ApiKey;
use crate::keystate::{digest_tag, Adopt, LimiterAnswer, LimiterCall};
use crate::ratelimit::RateDecision;
use crate::record::{rfc3339, KeyRecord};
use crate::scope::Scope;

/// The verdict on a presented key.
// Built once per request and moved out: boxing the grant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Allow(Grant),
    /// Holds a client-facing error (4xx), never a system failure.
    Deny(Error),
}

/// The verdict with what the request learned on the way: the key's rate-limit
/// state and identity, which the answer's headers and the log line report
/// whatever the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub decision: Decision,
    pub rate: Option<RateDecision>,
    /// The credits the key has left, when it has credits (whatever the verdict).
    pub credits: Option<u64>,
    /// The key found in storage, as (key id, project); `None` when none was.
    pub identity: Option<(KeyId, ProjectId)>,
}

impl Verdict {
    fn of(decision: Decision) -> Verdict {
        Verdict { decision, rate: None, credits: None, identity: None }
    }
}

/// A key that passed every check: its authoritative record.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub record: Rc<KeyRecord>,
    /// The credits it has left after this request, when it has credits.
    pub credits: Option<u64>,
}

/// What a request asks of a key besides being valid.
#[derive(Debug, Clone, Default)]
pub struct Requirement {
    pub scope: Option<Scope>,
    pub project: Option<String>,
    /// The credits an admitted request spends; `None`: 1.
    pub cost: Option<u64>,
    /// The client's address, judged by a key with `allowed_ips` (`None`: it has none, and is refused).
    pub ip: Option<IpAddr>,
}

impl<S: KeyValueStore, L: Limiter, O> Context<'_, S, L, O> {
    /// Runs every check on `presented` against `requirement`: format and
    /// environment with no read, one KV read, then one call to the key's
    /// Durable Object, which judges its authoritative record and spends.
    pub async fn verify(&self, presented: &str, requirement: &Requirement) -> Result<Verdict, Error> {
        let deny = |error: Error| Ok(Verdict::of(Decision::Deny(error)));
        let key = match ApiKey::parse(presented, &self.config.key_prefixes) {
            Ok(key) => key,
            Err(reason) => return deny(Error::InvalidApiKey(format!("Invalid API key: {reason}."))),
        };
        if key.environment() != self.config.environment {
            let accepted = self.config.key_prefixes.heads(&[self.config.environment]);
            return deny(Error::InvalidApiKey(format!(
                "Invalid API key: this deployment accepts only {accepted} keys."
            )));
        }
        let digest = key.digest();
        let Some(record) = self.keys.get(&digest, self.now).await? else {
            return deny(Error::unknown_key());
        };
        if record.environment != self.config.environment {
            return deny(Error::unknown_key());
        }
        let identity = Some((record.id.clone(), record.project.clone()));
        let digest_hex = digest.to_hex();
        let call = |adopt: Option<Adopt>, with_ip: bool| LimiterCall::Check {
            tag: digest_tag(&digest_hex),
            seen_updated_at: record.updated_at,
            adopt,
            scope: requirement.scope.as_ref().map(Scope::to_string),
            project: requirement.project.clone(),
            cost: requirement.cost.unwrap_or(1),
            ip: with_ip.then(|| requirement.ip.map_or_else(String::new, |ip| ip.to_string())),
        };
        // The KV copy travels only to an object that has never seen the key,
        // the client's address only to one whose key has `allowed_ips`.
        let mut with_ip = record.allowed_ips.is_some();
        let mut answer = self.limiter.call(&record.id, call(None, with_ip)).await?;
        if answer == LimiterAnswer::NeedIp && !with_ip {
            with_ip = true;
            answer = self.limiter.call(&record.id, call(None, with_ip)).await?;
        }
        if answer == LimiterAnswer::NeedRecord {
            let adopt = Adopt { digest: digest_hex.clone(), record: KeyRecord::clone(&record) };
            answer = self.limiter.call(&record.id, call(Some(adopt), with_ip)).await?;
        }
        let LimiterAnswer::Checked { refusal, record: newer, rate, credits } = answer else {
            return Err(out_of_protocol());
        };
        let record = newer.map_or(record, Rc::new);
        let decision = match refusal {
            Some(refusal) => Decision::Deny(refusal.to_error(rate.as_ref(), self.now)),
            None => Decision::Allow(Grant { record, credits }),
        };
        Ok(Verdict { decision, rate, credits, identity })
    }

    /// `POST /v1/keys/verify`: 200 with the verdict; only a malformed body is 400.
    pub async fn handle_verify(&self, request: &Request, trace: &mut Trace<'_>) -> Result<Response, Error> {
        let body: VerifyKey = parse_body(&request.body, true)?;
        let (scope, project, cost) = (body.scope.map(|wanted| wanted.0), body.project, body.cost.map(|cost| cost.0));
        // Anyone may call verify. A cost above 1 (which could spend a key's, or
        // its owner's, whole balance at once) and a client's `ip` (anyone could
        // name an address inside a stolen key's allowlist) are the backend's to
        // ask, with the admin token; the credential is read only then.
        let asked_of_backend = match (cost.is_some_and(|cost| cost > 1), body.ip.is_some() && body.key.is_some()) {
            (true, _) => Some(("cost", "A cost above 1")),
            (false, true) => Some(("ip", "An `ip`")),
            (false, false) => None,
        };
        if let Some((field, what)) = asked_of_backend {
            let backend =
                body.key.is_some() && Credential::of(request, self.config).is_ok_and(|c| c.is_admin_token(self.config));
            if !backend {
                let message =
                    format!("{what} needs the admin token as this request's bearer token (with `key` in the body).");
                return Err(Error::Exceeds { field, message });
            }
        }
        // The address judged: the body's `ip` from the backend that sends a
        // client's key; the request's own for a key that is its credential
        // (its holder must not choose it).
        let (presented, ip) = match body.key.as_deref() {
            Some(key) => (key, body.ip.map(|ip| ip.0)),
            None if body.ip.is_some() => return Err(Error::validation("ip", rule_of_ip())),
            None => match Credential::of(request, self.config) {
                Ok(credential) => (credential.value, request.client_ip()),
                Err(denial) => return Ok(Response::json(200, &invalid(&denial))),
            },
        };
        let verdict = trace.saw(self.verify(presented, &Requirement { scope, project, cost, ip }).await?);
        let mut answer = match verdict.decision {
            Decision::Allow(grant) => valid(&grant.record, verdict.rate.as_ref()),
            Decision::Deny(denial) => invalid(&denial),
        };
        if let Some(remaining) = verdict.credits {
            answer["credits"] = json!({ "remaining": remaining });
        }
        Ok(Response::json(200, &answer))
    }
}

fn valid(record: &KeyRecord, rate: Option<&RateDecision>) -> Value {
    let ratelimit = rate.map(|rate| {
        let reported = rate.reported_status();
        json!({"limit": reported.limit, "remaining": reported.remaining, "reset": reported.reset_at(rate.now)})
    });
    json!({
        "valid": true,
        "code": "VALID",
        "key_id": record.id,
        "project": record.project,
        "scopes": record.scopes,
        "environment": record.environment,
        "expires_at": record.expires_at.map(rfc3339),
        "ratelimit": ratelimit,
    })
}

/// Why verify refuses an `ip` without a `key`.
fn rule_of_ip() -> &'static str {
    "Only with `key`: a key sent as this request's credential is judged by this request's own address."
}

fn invalid(denial: &Error) -> Value {
    let mut answer = json!({ "valid": false });
    answer.as_object_mut().expect("object").extend(denial.fields());
    answer
}
