//! The Durable Object that remembers one webhook delivery id.

use worker::{durable_object, DurableObject, Env, State};

use super::now;
use super::objects::{received_call, status};
use crate::app::webhooks::{DeliveryCall, DeliveryState};

/// Remembers one webhook delivery id until its claim ends, then forgets it entirely.
#[durable_object]
pub struct DeliveryObject {
    state: State,
}

impl DurableObject for DeliveryObject {
    fn new(state: State, _env: Env) -> Self {
        DeliveryObject { state }
    }

    async fn fetch(&self, request: worker::Request) -> worker::Result<worker::Response> {
        let Some(call) = received_call::<DeliveryCall>(request.inner()).await else { return status(400) };
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
