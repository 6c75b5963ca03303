//! Upstream requests through the runtime's `fetch`. Any failure to reach the
//! upstream is `ORIGIN_ERROR` (502); redirects are passed back, not followed.
//! Streams stay streams: the client's body goes up unread and the origin's
//! body comes back unread, each carried as an [`http::Stream`].

use wasm_bindgen::JsValue;
use worker::web_sys::{self, ReadableStream};

use crate::app::http::{self, Body, Stream};
use crate::app::origin::{Origin, Outgoing, OutgoingBody};
use crate::error::Error;

pub struct FetchOrigin;

impl Origin for FetchOrigin {
    async fn send(&self, outgoing: Outgoing<'_>) -> Result<http::Response, Error> {
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::from(outgoing.method))
            .with_headers(worker::Headers(outgoing_headers(&outgoing.headers)?))
            .with_redirect(worker::RequestRedirect::Manual);
        match outgoing.body {
            OutgoingBody::Bytes(bytes) if !bytes.is_empty() => {
                init.with_body(Some(JsValue::from(js_sys::Uint8Array::from(bytes))));
            }
            OutgoingBody::Bytes(_) => {}
            OutgoingBody::Stream(stream) => {
                if let Some(stream) = stream.as_ref().and_then(Stream::get::<ReadableStream>) {
                    init.with_body(Some(stream.clone().into()));
                }
            }
        }
        let request = worker::Request::new_with_init(&outgoing.url, &init).map_err(|_| Error::Origin)?;
        let response = worker::Fetch::Request(request).send().await.map_err(|_| Error::Origin)?;
        let body = match web_sys::Response::from(&response).body() {
            Some(stream) => Body::Stream(Stream::new(stream)),
            None => Body::Bytes(Vec::new()),
        };
        Ok(http::Response { status: response.status_code(), headers: super::header_pairs(&response.headers().0), body })
    }
}

/// The runtime's headers for `pairs`, built in one crossing (a JSON array);
/// should the runtime refuse one, header by header, dropping what it refuses
/// rather than failing the request.
fn outgoing_headers(pairs: &[(String, String)]) -> Result<web_sys::Headers, Error> {
    let at_once = serde_json::to_string(pairs)
        .ok()
        .and_then(|json| js_sys::JSON::parse(&json).ok())
        .and_then(|pairs| web_sys::Headers::new_with_str_sequence_sequence(&pairs).ok());
    if let Some(headers) = at_once {
        return Ok(headers);
    }
    let headers = web_sys::Headers::new().map_err(|_| Error::Origin)?;
    for (name, value) in pairs {
        let _ = headers.append(name, value);
    }
    Ok(headers)
}
