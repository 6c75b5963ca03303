//! The worker's way to reach its Durable Objects: one `fetch` to an object per
//! call, JSON each way, and what an object reads of a call it receives.

use wasm_bindgen::{JsCast, JsValue};
use worker::url;
use worker::{js_sys, wasm_bindgen_futures, web_sys, Env};

use crate::app::limiter::Limiter;
use crate::app::owners::Owners;
use crate::app::projects::Projects;
use crate::app::webhooks::{Deliveries, DeliveryCall};
use crate::error::Error;
use crate::ids::{KeyId, ProjectId};
use crate::keystate::{LimiterAnswer, LimiterCall};
use crate::owner::{OwnerAnswer, OwnerCall};
use crate::project::{ProjectAnswer, ProjectCall};

/// The Durable Object namespace binding of per-project objects (also read by key objects).
pub const PROJECTS_BINDING: &str = "PROJECTS";
/// The Durable Object namespace binding of per-owner objects (asked by key objects).
pub const OWNERS_BINDING: &str = "OWNERS";

/// The worker's side: one `fetch` to the object per call.
pub struct DurableObjects {
    keys: Namespace,
    deliveries: Namespace,
    projects: Namespace,
    owners: Namespace,
}

/// A Durable Object namespace and the binding that names it (for the log line).
pub(super) struct Namespace {
    objects: worker::ObjectNamespace,
    binding: &'static str,
}

impl Namespace {
    pub(super) fn bind(env: &Env, binding: &'static str) -> Result<Namespace, Error> {
        env.durable_object(binding)
            .map(|objects| Namespace { objects, binding })
            .map_err(|_| Error::Config(format!("the Durable Object binding `{binding}` is missing")))
    }
}

impl DurableObjects {
    pub fn bind(env: &Env, keys: &'static str, deliveries: &'static str) -> Result<DurableObjects, Error> {
        Ok(DurableObjects {
            keys: Namespace::bind(env, keys)?,
            deliveries: Namespace::bind(env, deliveries)?,
            projects: Namespace::bind(env, PROJECTS_BINDING)?,
            owners: Namespace::bind(env, OWNERS_BINDING)?,
        })
    }
}

const OBJECT_URL: &str = "https://object.keygate/";
const CALL_PARAMETER: &str = "call";
/// The largest call (as JSON) sent in a URL; percent-encoding can triple it.
const MAX_CALL_IN_URL: usize = 2048;

/// The longest part of an object's own error kept for the log line.
const MAX_DETAIL_CHARS: usize = 200;

/// Sends `call` to the object `name` of `namespace` as JSON and reads its JSON
/// answer. A small call that may travel in a URL (`in_url`: checks,
/// reads, queries) goes in the URL's query, which spares streaming a request
/// body; a large one, or one holding a key's digest or an audit event (which
/// runtime traces of URLs must not show), in a POST body.
pub(super) async fn call_object<A: serde::de::DeserializeOwned>(
    namespace: &Namespace,
    name: &str,
    call: &impl serde::Serialize,
    in_url: bool,
) -> Result<A, Error> {
    let binding = namespace.binding;
    let unavailable =
        |error: &dyn std::fmt::Display| Error::Unavailable(format!("Durable Object {binding} call failed: {error}"));
    let json = serde_json::to_string(call).map_err(|e| unavailable(&e))?;
    let stub = namespace.objects.get_by_name(name).map_err(|e| unavailable(&e))?;
    // The runtime's stub: `worker`'s would copy each answer into a new `Response`.
    let stub: worker::worker_sys::DurableObject = stub.into_rpc();
    let sent = if in_url && json.len() <= MAX_CALL_IN_URL {
        let query: String = url::form_urlencoded::byte_serialize(json.as_bytes()).collect();
        stub.fetch_with_str(&format!("{OBJECT_URL}?{CALL_PARAMETER}={query}"))
    } else {
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::Post).with_body(Some(JsValue::from_str(&json)));
        let request = worker::Request::new_with_init(OBJECT_URL, &init).map_err(|e| unavailable(&e))?;
        stub.fetch_with_request(request.inner())
    };
    let answered = async { wasm_bindgen_futures::JsFuture::from(sent?).await };
    let response: web_sys::Response = answered.await.map_err(|e| unavailable(&format!("{e:?}")))?.unchecked_into();
    if response.status() != 200 {
        let said = read_text(response.text()).await.unwrap_or_default();
        let said: String = said.chars().take(MAX_DETAIL_CHARS).collect();
        return Err(unavailable(&format!("status {}: {said}", response.status())));
    }
    read_json(response.text()).await.ok_or_else(|| unavailable(&"the answer is not the expected JSON"))
}

/// The call a worker sent (see [`call_object`]): from the URL, else the body.
pub(super) async fn received_call<T: serde::de::DeserializeOwned>(request: &web_sys::Request) -> Option<T> {
    let url = request.url();
    let in_url = url
        .split_once('?')
        .and_then(|(_, query)| url::form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == CALL_PARAMETER));
    match in_url {
        Some((_, json)) => serde_json::from_str(&json).ok(),
        None => read_json(request.text()).await,
    }
}

/// Parses the body behind `text` (a `Request` or `Response` `.text()`): one
/// promise, where `worker`'s readers go chunk by chunk or field by field.
async fn read_json<T: serde::de::DeserializeOwned>(text: Result<js_sys::Promise, JsValue>) -> Option<T> {
    serde_json::from_str(&read_text(text).await?).ok()
}

async fn read_text(text: Result<js_sys::Promise, JsValue>) -> Option<String> {
    wasm_bindgen_futures::JsFuture::from(text.ok()?).await.ok()?.as_string()
}

impl Limiter for DurableObjects {
    async fn call(&self, key_id: &KeyId, call: LimiterCall) -> Result<LimiterAnswer, Error> {
        call_object(&self.keys, key_id.as_str(), &call, call.fits_in_url()).await
    }
}

impl Projects for DurableObjects {
    async fn project(&self, project: &ProjectId, call: ProjectCall) -> Result<ProjectAnswer, Error> {
        call_object(&self.projects, project.as_str(), &call, call.fits_in_url()).await
    }
}

impl Owners for DurableObjects {
    async fn owner(&self, name: &str, call: OwnerCall) -> Result<OwnerAnswer, Error> {
        let in_url = matches!(call, OwnerCall::Admit { .. } | OwnerCall::Get { .. });
        call_object(&self.owners, name, &call, in_url).await
    }
}

impl Deliveries for DurableObjects {
    async fn delivery(&self, name: &str, call: DeliveryCall) -> Result<bool, Error> {
        call_object(&self.deliveries, name, &call, true).await
    }
}

/// An object's answer without a body.
pub(super) fn status(code: u16) -> worker::Result<worker::Response> {
    Ok(worker::Response::builder().with_status(code).empty())
}

/// Runs `f` on the object `loaded` holds, loaded with `load` on first use; if
/// `f` fails, the next call loads again instead of trusting memory.
pub(super) fn with_loaded<O, T>(
    loaded: &std::cell::RefCell<Option<O>>,
    load: impl FnOnce() -> worker::Result<O>,
    f: impl FnOnce(&mut O) -> worker::Result<T>,
) -> worker::Result<T> {
    let mut loaded = loaded.borrow_mut();
    let object = match loaded.as_mut() {
        Some(object) => object,
        None => loaded.insert(load()?),
    };
    let result = f(object);
    if result.is_err() {
        *loaded = None;
    }
    result
}
