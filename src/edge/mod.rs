//! The only code that touches `worker`: the fetch entry and its adapters.

mod dashboard;
mod delivery;
mod events;
mod kv;
mod limiter;
mod objects;
mod origin;
mod owner;
mod project;
mod runtime;

use std::cell::OnceCell;
use std::future::Future;
use std::rc::Rc;
use std::task::Poll;

use futures_util::StreamExt;
use wasm_bindgen::JsValue;
use worker::{wasm_bindgen_futures, web_sys};

use crate::app::http::{self, Body, MAX_JSON_BODY_BYTES};
use crate::app::store::{KeyStore, RecordCache};
use crate::app::{self as core, App, Clock};
use crate::config::{Config, ConfigError};
use crate::error::Error;

/// The KV namespace binding that holds keys.
pub(crate) const KEYS_BINDING: &str = "KEYS";
/// The Durable Object namespace binding of per-key objects.
const LIMITER_BINDING: &str = "LIMITER";
/// The Durable Object namespace binding of webhook delivery ids.
const DELIVERIES_BINDING: &str = "DELIVERIES";

thread_local! {
    /// Vars and secrets do not change within an isolate: parse them once.
    static CONFIG: OnceCell<Rc<Result<Config, ConfigError>>> = const { OnceCell::new() };
    /// Key records this isolate read lately (see `RecordCache`).
    static RECORDS: Rc<RecordCache> = Rc::new(RecordCache::new(10_000));
    /// Bindings do not change within an isolate either: look them up once
    /// (a KV namespace alone costs six property reads across the JS boundary).
    static BINDINGS: OnceCell<Rc<Bindings>> = const { OnceCell::new() };
}

type Bindings = Result<(kv::KvStore, objects::DurableObjects), Error>;

struct WorkerClock;

impl Clock for WorkerClock {
    fn now(&self) -> i64 {
        now()
    }
}

/// The fetch entry, in place of `#[worker::event(fetch)]`: the handler's future
/// is polled once right here, so a request that never waits on I/O (`/healthz`,
/// a refused key, a bad path) is answered synchronously, with no `Promise`, no
/// task spawned and no microtask; only one still waiting becomes a `Promise`.
/// The raw `web_sys::Request`: `worker::Request` would read `request.cf` and the
/// URL on every request, which keygate never needs.
#[wasm_bindgen::prelude::wasm_bindgen(js_name = fetch)]
pub fn fetch_entry(request: web_sys::Request, env: worker::Env, _ctx: worker::worker_sys::Context) -> JsValue {
    let mut answer = Box::pin(fetch(request, env));
    match answer.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        Poll::Ready(answer) => respond(answer),
        // Every future keygate awaits (`JsFuture`, `worker`'s) takes the waker
        // of its latest poll, so the executor's first poll supersedes the no-op one.
        Poll::Pending => wasm_bindgen_futures::future_to_promise(async move { Ok(respond(answer.await)) }).into(),
    }
}

/// The answer, or as `#[worker::event(fetch)]` would say, a bare 500 after
/// logging the error.
fn respond(answer: Result<web_sys::Response, JsValue>) -> JsValue {
    match answer {
        Ok(response) => response.into(),
        Err(error) => {
            worker::console_error!("{}", worker::Error::from(error));
            worker::Response::error("INTERNAL SERVER ERROR", 500)
                .map_or(JsValue::UNDEFINED, |response| JsValue::from(web_sys::Response::from(response)))
        }
    }
}

/// The isolate's configuration, parsed on first use.
fn config(env: &worker::Env) -> Rc<Result<Config, ConfigError>> {
    CONFIG.with(|cell| cell.get_or_init(|| Rc::new(Config::from_vars(|name| var(env, name)))).clone())
}

/// The isolate's bindings, looked up on first use.
fn bindings(env: &worker::Env) -> Rc<Bindings> {
    BINDINGS.with(|cell| cell.get_or_init(|| Rc::new(bind(env))).clone())
}

fn now() -> i64 {
    // The static `Date.now()`: one crossing, no `Date` object.
    js_sys::Date::now() as i64
}

async fn fetch(web_request: web_sys::Request, env: worker::Env) -> Result<web_sys::Response, JsValue> {
    let config = config(&env);
    let bindings = bindings(&env);
    let answer = match read_request(&web_request, Result::as_ref(&config).ok()).await {
        Err(error) => http::Response::from(error),
        Ok(request) => match (config.as_ref(), bindings.as_ref()) {
            (Err(problem), _) => core::unconfigured(&request, problem),
            (Ok(config), _) if core::dashboard::serves(config, &request) => dashboard::serve(&env, &web_request).await,
            (Ok(_), Err(error)) => http::Response::from(error.clone()),
            (Ok(config), Ok((kv, objects))) => {
                let app = App {
                    config,
                    keys: KeyStore::with_cache(kv, RECORDS.with(Rc::clone)),
                    limiter: objects,
                    origin: origin::FetchOrigin,
                    clock: WorkerClock,
                };
                let (answer, line) = app.handle_logged(&request).await;
                if let Ok(json) = serde_json::to_string(&line) {
                    web_sys::console::log_1(&JsValue::from_str(&json));
                }
                answer
            }
        },
    };
    // Fails only on a header the runtime refuses, which keygate never sets: a bug, so 500.
    to_web_response(answer)
}

fn bind(env: &worker::Env) -> Bindings {
    // Events configured but no queue to hand them to would lose every one, unseen.
    if crate::config::events_on(var(env, "EVENTS_URL")) && events::producer(env).is_none() {
        let binding = events::EVENTS_QUEUE_BINDING;
        return Err(Error::Config(format!("EVENTS_URL is set, but the queue binding `{binding}` is missing")));
    }
    Ok((
        kv::KvStore::bind(env, KEYS_BINDING)?,
        objects::DurableObjects::bind(env, LIMITER_BINDING, DELIVERIES_BINDING)?,
    ))
}

/// A var or secret as text; a var given as a TOML table arrives as an object and is read as JSON.
pub(crate) fn var(env: &worker::Env, name: &str) -> Option<String> {
    let value = js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
    if value.is_undefined() || value.is_null() {
        return None;
    }
    value.as_string().or_else(|| js_sys::JSON::stringify(&value).ok()?.as_string())
}

/// The plain request. Gateway bodies (no limit) are left unread, to stream
/// to the origin; keygate's own routes read theirs, capped.
async fn read_request(request: &web_sys::Request, config: Option<&Config>) -> Result<http::Request, Error> {
    // Split, not parsed: a URL parser would resolve dot segments that keygate must see to refuse.
    let (method, url) = runtime::method_and_url(request);
    let mut plain = http::Request::for_url(&method, &url);
    if core::reads_headers(&plain) {
        plain.headers = runtime::header_pairs(&request.headers());
    }
    match config.map_or(Ok(Some(MAX_JSON_BODY_BYTES)), |config| core::body_limit(config, &plain))? {
        Some(limit) => plain.body = read_body(request, limit, plain.header("content-length")).await?,
        None => plain.body_stream = request.body().map(http::Stream::new),
    }
    Ok(plain)
}

/// The body, refused with 413 from `Content-Length` before reading, or while
/// reading past `limit`. Small JSON bodies are read in one promise; larger
/// ones (webhooks) chunk by chunk into one buffer, so memory holds one copy.
async fn read_body(request: &web_sys::Request, limit: usize, declared: Option<&str>) -> Result<Vec<u8>, Error> {
    let too_large = Error::PayloadTooLarge { limit_bytes: limit };
    let declared = declared.and_then(|length| length.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large);
    }
    let Some(stream) = request.body() else { return Ok(Vec::new()) };
    if declared.is_some() && limit <= MAX_JSON_BODY_BYTES {
        // The declared length frames the body: read it whole, in one promise.
        let read = async { wasm_bindgen_futures::JsFuture::from(request.array_buffer()?).await };
        let buffer = read.await.map_err(|_| Error::Unavailable("reading the body failed".into()))?;
        let body = js_sys::Uint8Array::new(&buffer).to_vec();
        return if body.len() > limit { Err(too_large) } else { Ok(body) };
    }
    let mut stream = worker::ByteStream::from(stream);
    let mut body = Vec::with_capacity(declared.map_or(0, |length| length as usize));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::Unavailable(format!("reading the body failed: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The runtime's response, streaming a [`Body::Stream`] (the origin's body) through.
fn to_web_response(answer: http::Response) -> Result<web_sys::Response, JsValue> {
    let body = match &answer.body {
        Body::Stream(stream) => {
            stream.get::<web_sys::ReadableStream>().map_or(JsValue::NULL, |stream| stream.clone().into())
        }
        Body::Bytes(bytes) if bytes.is_empty() => JsValue::NULL,
        // Text crosses cheaper than bytes; with a content type set, a string
        // body gets no default one, so the answer is the same.
        Body::Bytes(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) if answer.header("content-type").is_some() => JsValue::from_str(text),
            _ => js_sys::Uint8Array::from(&bytes[..]).into(),
        },
    };
    runtime::response(&body, answer.status, &answer.headers)
}
