//! Upstream requests through the runtime's `fetch`. Any failure to reach the
//! upstream is `ORIGIN_ERROR` (502); redirects are passed back, not followed.

use wasm_bindgen::JsValue;

use crate::app::http;
use crate::app::origin::{Origin, Outgoing};
use crate::error::Error;

pub struct FetchOrigin;

impl Origin for FetchOrigin {
    async fn send(&self, outgoing: Outgoing) -> Result<http::Response, Error> {
        let headers = worker::Headers::new();
        for (name, value) in &outgoing.headers {
            // A header the runtime refuses to send is dropped rather than failing the delivery.
            let _ = headers.append(name, value);
        }
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::from(outgoing.method))
            .with_headers(headers)
            .with_redirect(worker::RequestRedirect::Manual);
        if !outgoing.body.is_empty() {
            init.with_body(Some(JsValue::from(js_sys::Uint8Array::from(outgoing.body.as_slice()))));
        }
        let request = worker::Request::new_with_init(&outgoing.url, &init).map_err(|_| Error::Origin)?;
        let mut response = worker::Fetch::Request(request).send().await.map_err(|_| Error::Origin)?;
        let body = response.bytes().await.map_err(|_| Error::Origin)?;
        Ok(http::Response { status: response.status_code(), headers: response.headers().entries().collect(), body })
    }
}
