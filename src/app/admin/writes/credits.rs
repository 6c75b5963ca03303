//! `POST …/keys/{id}/credits`, and a successor taking over its predecessor's credits.

use crate::app::admin::author::Author;
use crate::app::admin::Target;
use crate::app::bodies::{parse_body, ChangeCredits};
use crate::app::http::{Request, Response};
use crate::app::limiter::{out_of_protocol, Limiter};
use crate::app::principal::Principal;
use crate::app::projects::Projects;
use crate::app::store::KeyValueStore;
use crate::app::Context;
use crate::error::Error;
use crate::keystate::{credits_change, CreditOp, LimiterAnswer, LimiterCall};
use crate::project::{Action, CatalogChange};
use crate::record::KeyRecord;

impl<S: KeyValueStore, L: Limiter + Projects, O> Context<'_, S, L, O> {
    /// Sets the balance of `record`'s key (which has credits) with no audit
    /// event: a successor taking over its predecessor's credits.
    pub(super) async fn hand_over_credits(&self, record: &KeyRecord, remaining: u64) -> Result<(), Error> {
        let call = LimiterCall::Credits { change: CreditOp::Set, amount: remaining, entry: None };
        match self.limiter.call(&record.id, call).await? {
            LimiterAnswer::Credits { .. } => Ok(()),
            LimiterAnswer::Gone => Err(Error::KeyNotFound),
            _ => Err(out_of_protocol()),
        }
    }

    /// `POST …/keys/{id}/credits`: `set`, `increment` or `decrement` (down to
    /// 0) the balance, atomically in the key's object, audited as
    /// `key.credits_updated`. A key acting as admin may only decrement.
    pub(in super::super) async fn change_credits(
        &self,
        target: &Target<'_>,
        request: &Request,
    ) -> Result<Response, Error> {
        let Target { project, id, principal, .. } = *target;
        let author = Author::of(principal, request)?;
        let body: ChangeCredits = parse_body(&request.body, false)?;
        if matches!(principal, Principal::Key(..)) && body.op != CreditOp::Decrement {
            let message = "A key may only decrement credits; only the admin token sets or increments them.";
            return Err(Error::Exceeds { field: "credits", message: message.into() });
        }
        // A balance is no version: `If-Match` does not apply here.
        let found = self.find_writable(&Target { precondition: None, ..*target }).await?;
        if found.record.credits.is_none() {
            return Err(Error::NoCredits);
        }
        let action = (Action::KeyCreditsUpdated, id, self.now);
        let mut entry = author.entry(project, CatalogChange::Unchanged, Some(action))?;
        let call = LimiterCall::Credits { change: body.op, amount: body.amount.0, entry: Some(entry.clone()) };
        let (from, to) = match self.limiter.call(id, call).await? {
            LimiterAnswer::Credits { from, to } => (from, to),
            LimiterAnswer::Gone => return Err(Error::KeyNotFound),
            LimiterAnswer::NoCredits => return Err(Error::NoCredits),
            _ => return Err(out_of_protocol()),
        };
        // The same event as the object queued (which filled in the change).
        if let Some(event) = &mut entry.event {
            event.changes = Some(credits_change(from, to));
        }
        self.deliver(project, vec![entry]).await;
        Ok(Response::json(200, &serde_json::json!({ "remaining": to })))
    }
}
