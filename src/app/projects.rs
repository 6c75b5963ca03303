//! Reaching projects' Durable Objects: the trait the app calls (in memory:
//! `testing::MemoryLimiter`, over a real SQLite).

use crate::error::Error;
use crate::ids::ProjectId;
use crate::project::{ProjectAnswer, ProjectCall};

/// The failure of a project's object that answered with the wrong kind of answer.
pub fn project_out_of_protocol() -> Error {
    Error::Unavailable("the project's Durable Object answered out of protocol".into())
}

/// Reaches the Durable Object of a project, by project id. Failures are `UNAVAILABLE`.
#[allow(async_fn_in_trait)]
pub trait Projects {
    async fn project(&self, project: &ProjectId, call: ProjectCall) -> Result<ProjectAnswer, Error>;
}

impl<T: Projects> Projects for &T {
    async fn project(&self, project: &ProjectId, call: ProjectCall) -> Result<ProjectAnswer, Error> {
        (**self).project(project, call).await
    }
}
