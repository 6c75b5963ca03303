//! The dashboard's static assets through the runtime's assets binding, with
//! the security headers of [`crate::app::dashboard`] on every answer.

use wasm_bindgen::{JsCast, JsValue};
use worker::{wasm_bindgen_futures::JsFuture, web_sys};

use crate::app::dashboard;
use crate::app::http::{self, Body, Stream};
use crate::error::Error;

/// The assets binding (`[assets] binding` in wrangler.toml).
const ASSETS_BINDING: &str = "ASSETS";

/// The asset `request` names. A path with no asset is the contract's 404
/// `NOT_FOUND`; a missing or failing binding is 503 `UNAVAILABLE`.
pub async fn serve(env: &worker::Env, request: &web_sys::Request) -> http::Response {
    let mut answer = match fetch_asset(env, request).await {
        Ok(response) if response.status() == 404 => http::Response::from(Error::NotFound),
        Ok(response) => http::Response {
            status: response.status(),
            headers: super::runtime::header_pairs(&response.headers()),
            body: response.body().map_or(Body::Bytes(Vec::new()), |stream| Body::Stream(Stream::new(stream))),
        },
        Err(error) => http::Response::from(error),
    };
    answer.headers = dashboard::secured(answer.headers);
    answer
}

async fn fetch_asset(env: &worker::Env, request: &web_sys::Request) -> Result<web_sys::Response, Error> {
    let unavailable = |what: &str| Error::Unavailable(format!("assets binding {ASSETS_BINDING}: {what}"));
    let assets = js_sys::Reflect::get(env, &JsValue::from_str(ASSETS_BINDING))
        .ok()
        .filter(JsValue::is_object)
        .ok_or_else(|| unavailable("missing"))?;
    let fetch = js_sys::Reflect::get(&assets, &JsValue::from_str("fetch"))
        .ok()
        .and_then(|fetch| fetch.dyn_into::<js_sys::Function>().ok())
        .ok_or_else(|| unavailable("no fetch"))?;
    let promise = fetch.call1(&assets, request).map_err(|_| unavailable("fetch threw"))?;
    let answer = JsFuture::from(js_sys::Promise::resolve(&promise)).await.map_err(|_| unavailable("fetch failed"))?;
    answer.dyn_into::<web_sys::Response>().map_err(|_| unavailable("not a Response"))
}
