//! The only code that touches `worker`: the fetch entry and its adapters.

mod kv;
mod limiter;
mod origin;

use std::cell::OnceCell;
use std::rc::Rc;

use futures_util::StreamExt;
use wasm_bindgen::JsValue;

use crate::app::http::{self, Body, MAX_JSON_BODY_BYTES};
use crate::app::store::{KeyStore, RecordCache};
use crate::app::{self as core, App, Clock};
use crate::config::{Config, ConfigError};
use crate::error::Error;

/// The KV namespace binding that holds keys.
const KEYS_BINDING: &str = "KEYS";
/// The Durable Object namespace binding of per-key objects.
const LIMITER_BINDING: &str = "LIMITER";
/// The Durable Object namespace binding of webhook delivery ids.
const DELIVERIES_BINDING: &str = "DELIVERIES";

thread_local! {
    /// Vars and secrets do not change within an isolate: parse them once.
    static CONFIG: OnceCell<Rc<Result<Config, ConfigError>>> = const { OnceCell::new() };
    /// Key records this isolate read lately (see `RecordCache`).
    static RECORDS: Rc<RecordCache> = Rc::new(RecordCache::new(10_000));
}

struct WorkerClock;

impl Clock for WorkerClock {
    fn now(&self) -> i64 {
        worker::Date::now().as_millis() as i64
    }
}

#[worker::event(fetch)]
async fn fetch(request: worker::Request, env: worker::Env, _ctx: worker::Context) -> worker::Result<worker::Response> {
    let config = CONFIG.with(|cell| cell.get_or_init(|| Rc::new(Config::from_vars(|name| var(&env, name)))).clone());
    // Gateway bodies (no limit) stream to the origin; keygate's own routes read theirs, capped.
    let limit = match config.as_ref() {
        Ok(config) => core::body_limit(config, &request.path()),
        Err(_) => Some(MAX_JSON_BODY_BYTES),
    };
    let origin = origin::FetchOrigin::default();
    if limit.is_none() {
        *origin.incoming.borrow_mut() = request.inner().body();
    }
    let answer = match read_request(request, limit).await {
        Err(error) => http::Response::from(error),
        Ok(request) => match (config.as_ref(), bind(&env)) {
            (Err(problem), _) => core::unconfigured(&request, problem),
            (Ok(_), Err(error)) => http::Response::from(error),
            (Ok(config), Ok((kv, objects))) => {
                let app = App {
                    config,
                    keys: KeyStore::with_cache(kv, RECORDS.with(Rc::clone)),
                    limiter: objects,
                    origin: &origin,
                    clock: WorkerClock,
                };
                let (answer, line) = app.handle_logged(&request).await;
                if let Ok(json) = serde_json::to_string(&line) {
                    worker::console_log!("{json}");
                }
                answer
            }
        },
    };
    let stream = origin.answer.borrow_mut().take();
    Ok(to_worker_response(answer, stream))
}

fn bind(env: &worker::Env) -> Result<(kv::KvStore, limiter::DurableObjects), Error> {
    Ok((
        kv::KvStore::bind(env, KEYS_BINDING)?,
        limiter::DurableObjects::bind(env, LIMITER_BINDING, DELIVERIES_BINDING)?,
    ))
}

/// A var or secret as text; a var given as a TOML table arrives as an object and is read as JSON.
fn var(env: &worker::Env, name: &str) -> Option<String> {
    let value = js_sys::Reflect::get(env, &JsValue::from_str(name)).ok()?;
    if value.is_undefined() || value.is_null() {
        return None;
    }
    value.as_string().or_else(|| js_sys::JSON::stringify(&value).ok()?.as_string())
}

async fn read_request(mut request: worker::Request, limit: Option<usize>) -> Result<http::Request, Error> {
    let url = request.url().map_err(|e| Error::Unavailable(e.to_string()))?;
    let mut plain = http::Request {
        method: request.method().to_string(),
        path: url.path().to_owned(),
        query: url.query().unwrap_or_default().to_owned(),
        headers: request.headers().entries().collect(),
        body: Vec::new(),
    };
    if let Some(limit) = limit {
        plain.body = read_body(&mut request, limit).await?;
    }
    Ok(plain)
}

/// The body, refused with 413 from `Content-Length` before reading, or while reading past `limit`.
async fn read_body(request: &mut worker::Request, limit: usize) -> Result<Vec<u8>, Error> {
    let too_large = Error::PayloadTooLarge { limit_bytes: limit };
    let declared = request.headers().get("content-length").ok().flatten();
    if declared.and_then(|length| length.trim().parse::<u64>().ok()).is_some_and(|length| length > limit as u64) {
        return Err(too_large);
    }
    let Ok(mut stream) = request.stream() else { return Ok(Vec::new()) };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::Unavailable(format!("reading the body failed: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The worker response; a [`Body::Stream`] answer takes `stream`, the origin's body.
fn to_worker_response(answer: http::Response, stream: Option<worker::web_sys::ReadableStream>) -> worker::Response {
    let headers = worker::Headers::new();
    for (name, value) in &answer.headers {
        // Our own header names and values are always valid; a failure here would be a bug.
        let _ = headers.append(name, value);
    }
    let builder = worker::Response::builder().with_status(answer.status).with_headers(headers);
    match (answer.body, stream) {
        (Body::Stream, Some(stream)) => builder.stream(stream),
        (Body::Bytes(bytes), _) if !bytes.is_empty() => builder.fixed(bytes),
        _ => builder.empty(),
    }
}
