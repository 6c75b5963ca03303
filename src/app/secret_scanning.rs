//! `POST /v1/secret-scanning/github`: GitHub's secret scanning partner
//! endpoint. A report signed by GitHub names strings found in public places;
//! each that is a key of this deployment is neutralised as
//! `LEAKED_KEY_ACTION` says, and GitHub hears which were real.
//!
//! Guarantees: nothing in the body is read before its signature holds under
//! a current key of the document at `SECRET_SCANNING_KEYS_URL`; every
//! signature failure is 401 `INVALID_SIGNATURE`; the answer names tokens by
//! their SHA-256 only; the document is fetched once per isolate and again at
//! most once a minute (for an identifier it does not know), so forged
//! identifiers cannot make keygate hammer it.

use std::cell::RefCell;
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
    parse_report, Feedback, Label, PublicKeys, ReportError, SignatureError, SignedBody, IDENTIFIER_HEADER,
    SIGNATURE_HEADER,
};

/// The provider named in audit events.
const PROVIDER: &str = "github";
/// The shortest wait between two fetches of the public-key document.
const REFETCH_MILLIS: UnixMillis = 60_000;
/// The largest public-key document read.
const MAX_KEYS_DOCUMENT_BYTES: usize = 64 * 1024;
const INVALID: &str = "Invalid secret scanning signature.";

thread_local! {
    /// The isolate's copy of GitHub's public keys, and when a fetch was last tried.
    static KEYS: RefCell<(Option<Rc<PublicKeys>>, Option<UnixMillis>)> = const { RefCell::new((None, None)) };
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
        let mut feedback = Vec::with_capacity(reported.len());
        for item in &reported {
            let real = match ApiKey::parse(&item.token, &self.config.key_prefixes) {
                Err(_) => false,
                Ok(key) => {
                    let leak = Leak { at: self.now, url: non_empty(&item.url), source: non_empty(&item.source) };
                    self.report_leak(&key, leak, PROVIDER, request).await?
                }
            };
            let label = if real { Label::TruePositive } else { Label::FalsePositive };
            feedback.push(Feedback::new(item, label));
        }
        Ok(Response::json(200, &serde_json::json!(feedback)))
    }

    /// The body, once its signature holds.
    async fn verified<'b>(&self, request: &'b Request) -> Result<SignedBody<'b>, Error> {
        let check = |keys: &PublicKeys| {
            keys.verify(request.header(IDENTIFIER_HEADER), request.header(SIGNATURE_HEADER), &request.body)
        };
        let invalid = |_| Error::InvalidSignature(INVALID);
        let (cached, last_fetch) = KEYS.with(|cell| cell.borrow().clone());
        let may_fetch = last_fetch.is_none_or(|at| self.now - at >= REFETCH_MILLIS);
        match cached {
            Some(keys) => match check(&keys) {
                Err(error) if error.is_unknown_key() && may_fetch => check(&*self.fetch_keys().await?).map_err(invalid),
                verified => verified.map_err(invalid),
            },
            None if may_fetch => check(&*self.fetch_keys().await?).map_err(invalid),
            None => Err(Error::InvalidSignature(INVALID)),
        }
    }

    /// GitHub's public keys, fetched now and kept for the isolate. A failure
    /// (unreachable, not the documented shape) is a refusal like any other,
    /// and counts as a fetch: the next waits a minute too.
    async fn fetch_keys(&self) -> Result<Rc<PublicKeys>, Error> {
        KEYS.with(|cell| cell.borrow_mut().1 = Some(self.now));
        let outgoing = Outgoing {
            method: "GET".into(),
            url: self.config.secret_scanning_keys_url.clone(),
            headers: vec![("accept".into(), "application/json".into()), ("user-agent".into(), "keygate".into())],
            body: OutgoingBody::Bytes(&[]),
        };
        let keys = match self.origin.fetch_bytes(outgoing, MAX_KEYS_DOCUMENT_BYTES).await {
            Ok((200, document)) => PublicKeys::parse(&document),
            Ok((status, _)) => Err(SignatureError::KeyDocument(format!("status {status}"))),
            Err(_) => Err(SignatureError::KeyDocument("unreachable".into())),
        };
        let keys = Rc::new(keys.map_err(|_| Error::InvalidSignature(INVALID))?);
        KEYS.with(|cell| cell.borrow_mut().0 = Some(keys.clone()));
        Ok(keys)
    }
}

fn non_empty(text: &Option<String>) -> Option<String> {
    text.as_deref().filter(|text| !text.is_empty()).map(|text| text.chars().take(2048).collect())
}
