//! `POST /webhooks/{source}`: verify, deduplicate, forward.
//!
//! Guarantees: nothing reaches `forward_to` unless its signature verified; a
//! delivery seen within the window (by its id, or by its signature for
//! schemes without ids) is answered `duplicate` and not forwarded again; a
//! forward that fails, answers 5xx or 429 releases the delivery so the
//! sender's retry goes through; every refusal is 401 `INVALID_SIGNATURE`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::credential::credential_headers;
use crate::app::http::{Request, Response};
use crate::app::limiter::Limiter;
use crate::app::origin::{upstream_headers, Origin, Outgoing, OutgoingBody};
use crate::app::store::KeyValueStore;
use crate::app::Context;
use crate::config::Config;
use crate::error::Error;
use crate::record::UnixMillis;
use crate::webhook::{self, WebhookError};

/// What the worker asks of a delivery's Durable Object (named `<source>/<id>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DeliveryCall {
    /// Remember the id for `ttl` ms; answers whether it was new.
    Claim { ttl: UnixMillis },
    /// Forget the id (its forward failed).
    Release,
}

/// A delivery's remembered state: claimed until when.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryState {
    pub claimed_until: Option<UnixMillis>,
}

impl DeliveryState {
    /// Applies `call` at `now`; returns whether a claim was new.
    pub fn apply(&mut self, call: DeliveryCall, now: UnixMillis) -> bool {
        match call {
            DeliveryCall::Claim { ttl } => {
                if self.claimed_until.is_some_and(|until| until > now) {
                    return false;
                }
                self.claimed_until = Some(now + ttl);
                true
            }
            DeliveryCall::Release => {
                self.claimed_until = None;
                true
            }
        }
    }
}

/// Reaches delivery Durable Objects. Failures are `UNAVAILABLE`.
#[allow(async_fn_in_trait)]
pub trait Deliveries {
    /// Applies `call` to the delivery `name`; `true` when a claim was new.
    async fn delivery(&self, name: &str, call: DeliveryCall) -> Result<bool, Error>;
}

impl<T: Deliveries> Deliveries for &T {
    async fn delivery(&self, name: &str, call: DeliveryCall) -> Result<bool, Error> {
        (**self).delivery(name, call).await
    }
}

/// Refuses, before its body is read, a delivery that cannot verify: an
/// unknown source (404) or missing signature headers (401).
pub fn check_head(config: &Config, source_name: &str, request: &Request) -> Result<(), Error> {
    let source = config.webhooks.get(source_name).ok_or(Error::NotFound)?;
    if !source.scheme.has_signature_headers(|name| request.header(name)) {
        return Err(Error::InvalidSignature(WebhookError::MissingHeader.message()));
    }
    Ok(())
}

impl<S: KeyValueStore, L: Limiter + Deliveries, O: Origin> Context<'_, S, L, O> {
    pub async fn handle_webhook(&self, source_name: &str, request: &Request) -> Result<Response, Error> {
        check_head(self.config, source_name, request)?;
        let source = &self.config.webhooks[source_name];
        let verified = webhook::verify(
            &source.scheme,
            &source.secrets,
            |name| request.header(name),
            &request.body,
            self.now.div_euclid(1000),
            source.tolerance_seconds,
        )
        .map_err(|refusal| Error::InvalidSignature(refusal.message()))?;

        let claim_name = verified.replay_id.as_ref().map(|id| format!("{source_name}/{id}"));
        if let Some(name) = &claim_name {
            // Twice the tolerance: a replay is signed-valid until timestamp + tolerance,
            // and the first copy may have arrived as early as timestamp − tolerance.
            let ttl = 2 * source.tolerance_seconds * 1000;
            if !self.limiter.delivery(name, DeliveryCall::Claim { ttl }).await? {
                return Ok(Response::json(200, &json!({"verified": true, "duplicate": true})));
            }
        }
        let Some(forward_to) = &source.forward_to else {
            let id = verified.delivery_id;
            return Ok(Response::json(200, &json!({"verified": true, "source": source_name, "id": id})));
        };
        let mut headers = upstream_headers(request, credential_headers(self.config));
        headers.push(("x-keygate-webhook-source".into(), source_name.to_owned()));
        let outgoing = Outgoing {
            method: "POST".into(),
            url: forward_to.clone(),
            headers,
            body: OutgoingBody::Bytes(&request.body),
            timeout_ms: None,
        };
        let answer = self.origin.send(outgoing).await;
        // Unreachable, failing or busy: the sender will retry, and the retry must go through.
        let retryable = answer.as_ref().map_or(true, |answer| answer.status >= 500 || answer.status == 429);
        if let (Some(name), true) = (&claim_name, retryable) {
            self.limiter.delivery(name, DeliveryCall::Release).await?;
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_holds_for_its_ttl_and_a_release_frees_it() {
        let mut state = DeliveryState::default();
        assert!(state.apply(DeliveryCall::Claim { ttl: 1000 }, 0));
        assert!(!state.apply(DeliveryCall::Claim { ttl: 1000 }, 999));
        assert!(state.apply(DeliveryCall::Claim { ttl: 1000 }, 1000));
        state.apply(DeliveryCall::Release, 1001);
        assert!(state.apply(DeliveryCall::Claim { ttl: 1000 }, 1002));
    }
}
