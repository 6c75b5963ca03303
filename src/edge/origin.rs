//! Upstream requests through the runtime's `fetch`. Any failure to reach the
//! upstream is `ORIGIN_ERROR` (502); redirects are passed back, not followed.
//! Streams stay streams: the client's body goes up unread and the origin's
//! body comes back unread, each carried as an [`http::Stream`].

use std::cell::RefCell;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{self, ReadableStream};

use crate::app::http::{self, Body, Stream};
use crate::app::origin::{Origin, Outgoing, OutgoingBody};
use crate::assertion::KeySet;
use crate::error::Error;

use super::runtime;

#[wasm_bindgen]
extern "C" {
    /// `crypto.subtle.importKey(format, keyData, algorithm, extractable, usages)`.
    #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = importKey)]
    fn import_key(
        format: &str,
        key: &js_sys::Uint8Array,
        algorithm: &str,
        extractable: bool,
        usages: &js_sys::Array,
    ) -> Result<js_sys::Promise, JsValue>;

    /// `crypto.subtle.sign(algorithm, key, data)` (`data` is copied before it returns).
    #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = sign)]
    fn subtle_sign(algorithm: &str, key: &JsValue, data: &[u8]) -> Result<js_sys::Promise, JsValue>;
}

thread_local! {
    /// The assertion's signing key, imported into WebCrypto (not extractable)
    /// on first use: secrets do not change within an isolate.
    static SIGNING_KEY: RefCell<Option<JsValue>> = const { RefCell::new(None) };
}

/// Awaits `promise`; a throw or rejection is [`Error::Unavailable`] (never with the key's bytes).
async fn crypto(promise: Result<js_sys::Promise, JsValue>) -> Result<JsValue, Error> {
    let failed = |_| Error::Unavailable("signing the origin's assertion failed (WebCrypto Ed25519)".into());
    JsFuture::from(promise.map_err(failed)?).await.map_err(failed)
}

pub struct FetchOrigin;

impl Origin for FetchOrigin {
    /// One `fetch(url, init)` on the runtime's own types: `worker::Fetch` would
    /// build a `Request` first, and its `Response` reads `cf` and `webSocket` and,
    /// to reach the body, copies the whole answer into another `Response`.
    async fn send(&self, outgoing: Outgoing<'_>) -> Result<http::Response, Error> {
        let body = match &outgoing.body {
            OutgoingBody::Bytes(bytes) if !bytes.is_empty() => js_sys::Uint8Array::from(*bytes).into(),
            OutgoingBody::Bytes(_) => JsValue::NULL,
            OutgoingBody::Stream(stream) => {
                stream.as_ref().and_then(Stream::get::<ReadableStream>).map_or(JsValue::NULL, |s| s.clone().into())
            }
        };
        let response = fetch(&outgoing, &body, true).await?;
        let body = match response.body() {
            Some(stream) => Body::Stream(Stream::new(stream)),
            None => Body::Bytes(Vec::new()),
        };
        Ok(http::Response {
            status: response.status(),
            headers: super::runtime::header_pairs(&response.headers()),
            body,
        })
    }

    /// The runtime's Ed25519 (native code, one promise) rather than curve
    /// arithmetic in wasm: measured with `bench/pairs.mjs`, see the README.
    async fn sign(&self, keys: &KeySet, input: &str) -> Result<[u8; 64], Error> {
        let key = match SIGNING_KEY.with(|cell| cell.borrow().clone()) {
            Some(key) => key,
            None => {
                let der = js_sys::Uint8Array::from(&keys.signing_pkcs8()[..]);
                let usages = js_sys::Array::of1(&JsValue::from_str("sign"));
                let key = crypto(import_key("pkcs8", &der, "Ed25519", false, &usages)).await?;
                der.fill(0, 0, der.length());
                SIGNING_KEY.with(|cell| cell.replace(Some(key.clone())));
                key
            }
        };
        let signature = js_sys::Uint8Array::new(&crypto(subtle_sign("Ed25519", &key, input.as_bytes())).await?);
        let mut bytes = [0u8; 64];
        if signature.length() != 64 {
            return Err(Error::Unavailable("WebCrypto's Ed25519 signature is not 64 bytes".into()));
        }
        signature.copy_to(&mut bytes);
        Ok(bytes)
    }

    async fn fetch_bytes(&self, outgoing: Outgoing<'_>, limit: usize) -> Result<(u16, Vec<u8>), Error> {
        let response = fetch(&outgoing, &JsValue::NULL, false).await?;
        let buffer =
            JsFuture::from(response.array_buffer().map_err(|_| Error::Origin)?).await.map_err(|_| Error::Origin)?;
        let bytes = js_sys::Uint8Array::new(&buffer);
        if bytes.length() as usize > limit {
            return Err(Error::Origin);
        }
        Ok((response.status(), bytes.to_vec()))
    }
}

/// `outgoing` with the method exactly as judged (the gateway forwards only the
/// rules' methods), its headers and deadline, and `body`; redirects are passed
/// back when `redirect_manual`, else followed.
async fn fetch(outgoing: &Outgoing<'_>, body: &JsValue, redirect_manual: bool) -> Result<web_sys::Response, Error> {
    let promise =
        runtime::fetch(&outgoing.url, &outgoing.method, &outgoing.headers, body, redirect_manual, outgoing.timeout_ms)
            .map_err(|_| Error::Origin)?;
    JsFuture::from(promise).await.map_err(|_| Error::Origin)?.dyn_into().map_err(|_| Error::Origin)
}
