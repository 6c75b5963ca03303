//! The per-key Durable Object (SQLite-backed). It will hold the key's
//! authoritative state and rate-limit counters; until then it answers nothing.

use worker::{durable_object, DurableObject, Env, Request, Response, State};

#[durable_object]
pub struct LimiterObject {
    _state: State,
}

impl DurableObject for LimiterObject {
    fn new(state: State, _env: Env) -> Self {
        LimiterObject { _state: state }
    }

    async fn fetch(&self, _request: Request) -> worker::Result<Response> {
        Ok(Response::builder().with_status(501).empty())
    }
}
