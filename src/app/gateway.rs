//! The gateway: every path that is not keygate's own, matched against `ROUTES`.
//!
//! Guarantees: deny by default (no rule, 404); the origin only ever sees
//! requests whose key passed every check, without the credential and with
//! keygate's identity headers, which a client cannot forge.

use serde_json::json;

use crate::app::http::{Body, Request, Response};
use crate::app::limiter::Limiter;
use crate::app::origin::{forwardable, Origin, Outgoing};
use crate::app::store::KeyValueStore;
use crate::app::verify::{presented_key, Decision, Requirement};
use crate::app::Context;
use crate::error::Error;
use crate::rules;

impl<'a, S: KeyValueStore, L: Limiter, O: Origin> Context<'a, S, L, O> {
    pub async fn handle_gateway(&self, request: &Request) -> Result<Response, Error> {
        let config: &'a crate::config::Config = self.config;
        let matched = rules::find(&config.routes, &request.method, &request.path).ok_or(Error::NotFound)?;
        self.route.set(matched.pattern);
        let requirement = Requirement { scope: Some(matched.scope), project: matched.project };
        let grant = match self.verify(presented_key(request, config)?, &requirement).await? {
            Decision::Allow(grant) => grant,
            Decision::Deny(denial) => return Err(denial),
        };
        let record = &grant.record;
        let Some(origin) = &config.origin else {
            return Ok(Response::json(
                200,
                &json!({"ok": true, "key_id": record.id, "project": record.project, "scopes": record.scopes}),
            ));
        };
        let mut url = format!("{origin}{}", request.path);
        if !request.query.is_empty() {
            url.push('?');
            url.push_str(&request.query);
        }
        let mut headers: Vec<(String, String)> = request
            .headers
            .iter()
            .filter(|(name, _)| forwardable(name) && name != "authorization" && !config.key_headers.contains(name))
            .cloned()
            .collect();
        headers.push(("x-keygate-key-id".into(), record.id.clone()));
        headers.push(("x-keygate-project".into(), record.project.clone()));
        headers.push(("x-keygate-scopes".into(), record.scopes.join(" ")));
        let outgoing = Outgoing { method: request.method.clone(), url, headers, body: Body::Stream };
        self.origin.send(outgoing).await
    }
}
