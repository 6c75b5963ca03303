//! `POST /webhooks/{source}`: verify, deduplicate, forward.
//!
//! Guarantees: nothing reaches `forward_to` unless its signature verified; a
//! delivery id seen within the window is answered `duplicate` and not
//! forwarded again; a failed forward releases the id so the sender's retry
//! goes through; every refusal is 401 `INVALID_SIGNATURE`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::http::{Body, Request, Response};
use crate::app::limiter::Limiter;
use crate::app::origin::{forwardable, Origin, Outgoing};
use crate::app::record::UnixMillis;
use crate::app::store::KeyValueStore;
use crate::app::Context;
use crate::error::Error;
use crate::webhook;

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

impl<S: KeyValueStore, L: Limiter + Deliveries, O: Origin> Context<'_, S, L, O> {
    pub async fn handle_webhook(&self, source_name: &str, request: &Request) -> Result<Response, Error> {
        let source = self.config.webhooks.get(source_name).ok_or(Error::NotFound)?;
        let verified = webhook::verify(
            &source.scheme,
            &source.secrets,
            |name| request.header(name),
            &request.body,
            self.now.div_euclid(1000),
            source.tolerance_seconds,
        )
        .map_err(|refusal| Error::InvalidSignature(refusal.message()))?;

        let delivery = verified.delivery_id.as_deref().filter(|_| source.scheme.has_delivery_id());
        let claim_name = delivery.map(|id| format!("{source_name}/{id}"));
        if let Some(name) = &claim_name {
            // Twice the tolerance: a replay is signed-valid until timestamp + tolerance,
            // and the first copy may have arrived as early as timestamp − tolerance.
            let ttl = 2 * source.tolerance_seconds * 1000;
            if !self.limiter.delivery(name, DeliveryCall::Claim { ttl }).await? {
                return Ok(Response::json(200, &json!({"verified": true, "duplicate": true})));
            }
        }
        let Some(forward_to) = &source.forward_to else {
            return Ok(Response::json(200, &json!({"verified": true, "source": source_name, "id": delivery})));
        };
        let mut headers: Vec<(String, String)> =
            request.headers.iter().filter(|(name, _)| forwardable(name)).cloned().collect();
        headers.push(("x-keygate-webhook-source".into(), source_name.to_owned()));
        let body = Body::Bytes(request.body.clone());
        let outgoing = Outgoing { method: "POST".into(), url: forward_to.clone(), headers, body };
        match self.origin.send(outgoing).await {
            Ok(answer) => Ok(answer),
            Err(error) => {
                if let Some(name) = &claim_name {
                    self.limiter.delivery(name, DeliveryCall::Release).await?;
                }
                Err(error)
            }
        }
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
