//! The gateway: every path that is not keygate's own, matched against `ROUTES`.
//!
//! Guarantees: deny by default (no rule, 404); the origin only ever sees
//! requests whose key passed every check, at the canonical path that was
//! matched, without the credential or any method or URL override, and with
//! keygate's identity and forwarding headers, which a client cannot forge
//! (and, with `ASSERTION_SIGNING_KEY`, the same identity signed for this request).

use serde_json::json;

use crate::app::credential::{credential_headers, Credential};
use crate::app::http::{Request, Response};
use crate::app::limiter::Limiter;
use crate::app::origin::{upstream_headers, Origin, Outgoing, OutgoingBody};
use crate::app::store::KeyValueStore;
use crate::app::verify::{Decision, Requirement};
use crate::app::{Context, Trace};
use crate::assertion::{self, Claims, KeySet};
use crate::error::Error;
use crate::rules;

impl<'a, S: KeyValueStore, L: Limiter, O: Origin> Context<'a, S, L, O> {
    /// Serves `request`, whose canonical path is `path` ([`crate::path::canonical`]).
    pub async fn handle_gateway(
        &self,
        request: &Request,
        path: &str,
        trace: &mut Trace<'a>,
    ) -> Result<Response, Error> {
        let config: &'a crate::config::Config = self.config;
        if request.has_method_override() {
            return Err(Error::MethodOverride);
        }
        // Deny by default: a method no rule can name (PROPFIND, PURGE, …) is
        // refused, so what the origin gets is the method the rules judged.
        if !rules::METHODS.contains(&request.method.as_str()) {
            return Err(Error::MethodNotAllowed { allow: rules::METHODS });
        }
        let matched = rules::find(&config.routes, &request.method, path).ok_or(Error::NotFound)?;
        trace.route = matched.pattern;
        let ip = request.client_ip();
        let requirement = Requirement { scope: Some(matched.scope), project: matched.project, cost: matched.cost, ip };
        let grant = match trace.saw(self.verify(Credential::of(request, config)?.value, &requirement).await?).decision {
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
        let mut url = format!("{origin}{path}");
        // The URL the origin receives, without its query: the assertion's `htu`.
        let htu_len = url.len();
        if !request.query.is_empty() {
            url.push('?');
            url.push_str(&request.query);
        }
        let mut headers = upstream_headers(request, credential_headers(config));
        headers.push(("x-keygate-key-id".into(), record.id.to_string()));
        headers.push(("x-keygate-project".into(), record.project.to_string()));
        headers.push(("x-keygate-scopes".into(), record.scopes.join(" ")));
        if let Some(assertion) = &config.assertion {
            // Issued for this request alone; without randomness nothing goes out unsigned (503).
            let jti = assertion::new_jti().map_err(|e| Error::Unavailable(format!("no randomness: {e}")))?;
            let issuer = match &assertion.issuer {
                Some(issuer) => std::borrow::Cow::from(issuer.as_str()),
                None => format!("{}://{}", request.scheme, request.host).into(),
            };
            let claims = Claims::new(&issuer, origin, record, &request.method, &url[..htu_len], self.now, jti);
            let input = assertion.keys.signing_input(&claims);
            let signature = self.origin.sign(&assertion.keys, &input).await?;
            headers.push((assertion::HEADER.into(), KeySet::token(input, &signature)));
        }
        let outgoing = Outgoing {
            method: request.method.clone(),
            url,
            headers,
            body: OutgoingBody::Stream(request.body_stream.clone()),
            timeout_ms: None,
        };
        self.origin.send(outgoing).await
    }
}
