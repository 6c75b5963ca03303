//! `DELETE …/keys/{id}`, finishing what a deletion that failed half-way left.

use super::{kept_changing, WRITE_ATTEMPTS};
use crate::app::admin::author::Author;
use crate::app::admin::reads::Found;
use crate::app::admin::Target;
use crate::app::http::{Request, Response};
use crate::app::limiter::{out_of_protocol, Limiter};
use crate::app::principal::Principal;
use crate::app::projects::Projects;
use crate::app::store::KeyValueStore;
use crate::app::Context;
use crate::error::Error;
use crate::keystate::{LimiterAnswer, LimiterCall};
use crate::project::{Action, CatalogChange};

impl<S: KeyValueStore, L: Limiter + Projects, O> Context<'_, S, L, O> {
    /// Deletes the key. A key acting as admin deletes only the version it
    /// judged (another write may have made the key untouchable), as does
    /// `If-Match`; the admin token's plain DELETE is unconditional. A key
    /// already deleted in its object, whose KV entries a failed attempt left
    /// behind, is cleaned up: a retried DELETE finishes the job.
    pub(in super::super) async fn delete(&self, target: &Target<'_>, request: &Request) -> Result<Response, Error> {
        let author = Author::of(target.principal, request)?;
        self.delete_by(target, &author).await
    }

    /// [`delete`](Self::delete), its audit event naming `author`.
    pub(in super::super) async fn delete_by(&self, target: &Target<'_>, author: &Author) -> Result<Response, Error> {
        let Target { project, id, principal, ref precondition } = *target;
        for _ in 0..WRITE_ATTEMPTS {
            let found = match self.find(project, id).await? {
                // What a half-failed deletion left in KV is cleaned up (and any
                // catalog row imported from it), by whoever may touch that key in
                // this project; else it is gone.
                Found::Deleted { digest_hex: Some(digest_hex) } => {
                    let left = self.keys.record_at(&digest_hex).await?;
                    let Some(left) = left.filter(|left| &left.project == project && &left.id == id) else {
                        return Err(Error::KeyNotFound);
                    };
                    // Its version is moot: the key is already gone from its object.
                    Target { precondition: None, ..*target }.may_write(&left)?;
                    self.keys.remove(Some(&digest_hex), project, id).await?;
                    let change = CatalogChange::Remove { key_id: id.clone(), version: self.now };
                    self.deliver(project, vec![author.entry(project, change, None)?]).await;
                    return Ok(Response::no_content());
                }
                Found::Deleted { digest_hex: None } => return Err(Error::KeyNotFound),
                Found::Live(found) => found,
            };
            target.may_write(&found.record)?;
            let conditional = precondition.is_some() || matches!(principal, Principal::Key(..));
            let expected = conditional.then_some(found.record.updated_at);
            let version = self.next_version(&found.record);
            let change = CatalogChange::Remove { key_id: id.clone(), version };
            let entry = author.entry(project, change, Some((Action::KeyDeleted, id, version)))?;
            let delete = LimiterCall::Delete { expected, entry: Some(entry.clone()) };
            let ours = match self.limiter.call(id, delete).await? {
                LimiterAnswer::Done => true,
                // Another DELETE won: its event is the one; this one just finishes the cleanup.
                LimiterAnswer::Gone => false,
                LimiterAnswer::Conflict if precondition.is_some() => return Err(Error::PreconditionFailed),
                LimiterAnswer::Conflict => continue,
                _ => return Err(out_of_protocol()),
            };
            self.keys.remove(Some(&found.digest_hex), project, id).await?;
            if ours {
                self.deliver(project, vec![entry]).await;
            }
            return Ok(Response::no_content());
        }
        Err(kept_changing(id))
    }
}
