//! `POST /v1/secret-scanning/github`: GitHub's secret scanning partner
//! endpoint. A report signed by GitHub names strings found in public places;
//! each that is a key of this deployment is neutralised as
//! `LEAKED_KEY_ACTION` says, and GitHub hears which were real.
//!
//! Guarantees: nothing in the body is read before its signature holds under
//! a current key of the document at `SECRET_SCANNING_KEYS_URL`; every
//! signature failure is 401 `INVALID_SIGNATURE`; the answer names tokens by
//! their SHA-256 only; the document is fetched at most once in
//! [`FETCH_INTERVAL_MILLIS`] per isolate (on first use, for an identifier
//! the copy does not know, and when the copy is over an hour old), so forged
//! identifiers cannot make keygate hammer it.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use crate::app::http::{Request, Response};
use crate::app::limiter::Limiter;
use crate::app::origin::{Origin, Outgoing, OutgoingBody};
use crate::app::projects::Projects;
use crate::app::store::KeyValueStore;
use crate::app::Context;
use crate::error::Error;
use crate::key::ApiKey;
use crate::record::{Leak, UnixMillis};
use crate::secret_scanning::{
    parse_report, Feedback, Label, PublicKeys, ReportError, ReportedToken, SignatureError, SignedBody,
    IDENTIFIER_HEADER, SIGNATURE_HEADER,
};

/// The provider named in audit events.
const PROVIDER: &str = "github";
/// The shortest wait between two fetches of the public-key document: what
/// unsigned requests with made-up identifiers can make keygate fetch.
const FETCH_INTERVAL_MILLIS: UnixMillis = 5 * 60_000;
/// How long a copy of the document is trusted: a key GitHub retired stops
/// verifying within this.
const MAX_AGE_MILLIS: UnixMillis = 60 * 60_000;
/// The most distinct keys of this deployment one report may name: each
/// costs a KV read, a real one a few more calls, within a request's budget
/// of about 1000.
const MAX_KEYS_PER_REPORT: usize = 300;
/// How long GitHub's key document may take to arrive.
const KEYS_FETCH_TIMEOUT_MS: u32 = 10_000;
/// The largest public-key document read.
const MAX_KEYS_DOCUMENT_BYTES: usize = 64 * 1024;
const INVALID: &str = "Invalid secret scanning signature.";

/// The isolate's copy of GitHub's public keys.
#[derive(Clone, Default)]
struct KeyCache {
    /// The document's keys, and when they were fetched.
    keys: Option<(Rc<PublicKeys>, UnixMillis)>,
    /// When a fetch was last tried (whether it worked or not).
    tried_at: Option<UnixMillis>,
}

thread_local! {
    static KEYS: RefCell<KeyCache> = RefCell::new(KeyCache::default());
}

/// A report without both signature headers is refused before its body is read.
pub fn check_head(request: &Request) -> Result<(), Error> {
    if request.header(IDENTIFIER_HEADER).is_none() || request.header(SIGNATURE_HEADER).is_none() {
        return Err(Error::InvalidSignature(INVALID));
    }
    Ok(())
}

impl<S: KeyValueStore, L: Limiter + Projects, O: Origin> Context<'_, S, L, O> {
    pub async fn handle_secret_scanning(&self, request: &Request) -> Result<Response, Error> {
        check_head(request)?;
        let signed = self.verified(request).await?;
        let reported = parse_report(signed).map_err(|problem| match problem {
            ReportError::TooLarge => Error::PayloadTooLarge { limit_bytes: crate::secret_scanning::MAX_REPORT_BYTES },
            problem => Error::validation("body", problem.to_string()),
        })?;
        // Each distinct key of this deployment costs storage calls: bounded,
        // so a report padded with made-up keys cannot exhaust the request's budget.
        // The distinct keys of this deployment named, each parsed once: each
        // costs storage calls, so they are bounded, and a report padded with
        // made-up keys cannot exhaust the request's budget.
        let mut keys: Vec<(&ReportedToken, ApiKey)> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for item in &reported {
            if let Ok(key) = ApiKey::parse(&item.token, &self.config.key_prefixes) {
                if seen.insert(&item.token) {
                    keys.push((item, key));
                }
            }
        }
        if keys.len() > MAX_KEYS_PER_REPORT {
            let message = format!("A report may name at most {MAX_KEYS_PER_REPORT} distinct keys of this deployment.");
            return Err(Error::validation("body", message));
        }
        // Each named once, at its first place in the report.
        let mut real: HashMap<&str, bool> = HashMap::with_capacity(keys.len());
        for (item, key) in &keys {
            let leak = Leak { at: self.now, url: non_empty(&item.url), source: non_empty(&item.source) };
            real.insert(&item.token, self.report_leak(key, leak, PROVIDER, request).await?);
        }
        let feedback: Vec<Feedback> = reported
            .iter()
            .map(|item| {
                let label = if real.get(item.token.as_str()) == Some(&true) {
                    Label::TruePositive
                } else {
                    Label::FalsePositive
                };
                Feedback::new(item, label)
            })
            .collect();
        Ok(Response::json(200, &serde_json::json!(feedback)))
    }

    /// The body, once its signature holds.
    async fn verified<'b>(&self, request: &'b Request) -> Result<SignedBody<'b>, Error> {
        let check = |keys: &PublicKeys| {
            keys.verify(request.header(IDENTIFIER_HEADER), request.header(SIGNATURE_HEADER), &request.body)
        };
        let invalid = |_| Error::InvalidSignature(INVALID);
        let cache = KEYS.with(|cell| cell.borrow().clone());
        let may_fetch = cache.tried_at.is_none_or(|at| self.now - at >= FETCH_INTERVAL_MILLIS);
        let fresh = cache.keys.as_ref().filter(|(_, fetched_at)| self.now - fetched_at < MAX_AGE_MILLIS);
        match (fresh, cache.keys.as_ref()) {
            (Some((keys, _)), _) => match check(keys) {
                // GitHub may have published a new key since: look once more.
                Err(error) if error.is_unknown_key() && may_fetch => check(&*self.fetch_keys().await?).map_err(invalid),
                verified => verified.map_err(invalid),
            },
            (None, _) if may_fetch => check(&*self.fetch_keys().await?).map_err(invalid),
            // Stale, and fetched (or tried) within the interval: the copy serves until the next fetch.
            (None, Some((keys, _))) => check(keys).map_err(invalid),
            (None, None) => Err(Error::InvalidSignature(INVALID)),
        }
    }

    /// GitHub's public keys, fetched now and kept for the isolate. A failure
    /// (unreachable, not the documented shape) is a refusal like any other,
    /// and counts as a fetch: the next waits the interval too.
    async fn fetch_keys(&self) -> Result<Rc<PublicKeys>, Error> {
        KEYS.with(|cell| cell.borrow_mut().tried_at = Some(self.now));
        let outgoing = Outgoing {
            method: "GET".into(),
            url: self.config.secret_scanning_keys_url.clone(),
            headers: vec![("accept".into(), "application/json".into()), ("user-agent".into(), "keygate".into())],
            body: OutgoingBody::Bytes(&[]),
            timeout_ms: Some(KEYS_FETCH_TIMEOUT_MS),
        };
        let keys = match self.origin.fetch_bytes(outgoing, MAX_KEYS_DOCUMENT_BYTES).await {
            Ok((200, document)) => PublicKeys::parse(&document),
            Ok((status, _)) => Err(SignatureError::KeyDocument(format!("status {status}"))),
            Err(_) => Err(SignatureError::KeyDocument("unreachable".into())),
        };
        let keys = Rc::new(keys.map_err(|_| Error::InvalidSignature(INVALID))?);
        KEYS.with(|cell| cell.borrow_mut().keys = Some((keys.clone(), self.now)));
        Ok(keys)
    }
}

fn non_empty(text: &Option<String>) -> Option<String> {
    text.as_deref().filter(|text| !text.is_empty()).map(|text| text.chars().take(2048).collect())
}
