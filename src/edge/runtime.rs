//! The per-request runtime calls, one crossing each (`runtime.js`): the
//! request line, header lists, a new `Response`, an upstream `fetch`.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::web_sys;

#[wasm_bindgen(module = "/src/edge/runtime.js")]
extern "C" {
    #[wasm_bindgen(js_name = requestLine)]
    fn request_line(request: &web_sys::Request) -> String;

    #[wasm_bindgen(js_name = headerPairs)]
    fn header_pairs_json(headers: &web_sys::Headers) -> String;

    #[wasm_bindgen(catch, js_name = newResponse)]
    fn new_response(body: &JsValue, status: u16, headers: &str) -> Result<web_sys::Response, JsValue>;

    #[wasm_bindgen(js_name = fetchWith)]
    fn fetch_with(url: &str, init: &str, body: &JsValue, timeout_ms: Option<u32>) -> js_sys::Promise;
}

/// `request`'s method and URL.
pub fn method_and_url(request: &web_sys::Request) -> (String, String) {
    let line = request_line(request);
    let (method, url) = line.split_once(' ').unwrap_or((&line, ""));
    (method.to_owned(), url.to_owned())
}

/// Every header as (lower-case name, value), fetched across the JS boundary as
/// one JSON string rather than a few calls per header.
pub fn header_pairs(headers: &web_sys::Headers) -> Vec<(String, String)> {
    let strings: Vec<String> = serde_json::from_str(&header_pairs_json(headers)).unwrap_or_default();
    let mut strings = strings.into_iter();
    std::iter::from_fn(|| Some((strings.next()?, strings.next()?))).collect()
}

/// A `Response` of `body` (a string, bytes, a stream or null) with `status` and `headers`.
pub fn response(body: &JsValue, status: u16, headers: &[(String, String)]) -> Result<web_sys::Response, JsValue> {
    let headers = serde_json::to_string(&Headers(headers)).map_err(|e| JsValue::from_str(&e.to_string()))?;
    new_response(body, status, &headers)
}

/// `fetch(url)` with `method`, `headers`, `body` and the rest as `fetch` takes them.
pub fn fetch(
    url: &str,
    method: &str,
    headers: &[(String, String)],
    body: &JsValue,
    redirect_manual: bool,
    timeout_ms: Option<u32>,
) -> Result<js_sys::Promise, JsValue> {
    let redirect = redirect_manual.then_some("manual");
    let init = Init { method, redirect, headers: Headers(headers) };
    let init = serde_json::to_string(&init).map_err(|e| JsValue::from_str(&e.to_string()))?;
    Ok(fetch_with(url, &init, body, timeout_ms))
}

/// An upstream request's `init`, but for its body and deadline.
#[derive(serde::Serialize)]
struct Init<'a> {
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect: Option<&'a str>,
    headers: Headers<'a>,
}

/// Headers as a JSON record when no name repeats (the runtime converts a
/// record faster than a list), else as a list of pairs, which keeps repeats.
struct Headers<'a>(&'a [(String, String)]);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let pairs = self.0;
        let repeats = pairs.iter().enumerate().any(|(i, (name, _))| pairs[..i].iter().any(|(seen, _)| seen == name));
        if repeats {
            let mut list = serializer.serialize_seq(Some(pairs.len()))?;
            for pair in pairs {
                list.serialize_element(pair)?;
            }
            list.end()
        } else {
            let mut record = serializer.serialize_map(Some(pairs.len()))?;
            for (name, value) in pairs {
                record.serialize_entry(name, value)?;
            }
            record.end()
        }
    }
}
