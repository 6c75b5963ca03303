//! Plain HTTP values, free of the `worker` crate, so handlers test natively.

use std::any::Any;
use std::fmt;
use std::rc::Rc;

use serde_json::Value;

use crate::app::routes::{PathClass, Route};
use crate::error::Error;
use crate::ratelimit::{whole_seconds, RateDecision};

/// The largest JSON body the admin and verify routes read.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// The scheme and host the client addressed, e.g. `https` and `api.example.com`.
    pub scheme: String,
    pub host: String,
    /// Path as sent, still percent-encoded, e.g. `/v1/keys/verify`.
    pub path: String,
    /// Query string without `?`; empty when there is none.
    pub query: String,
    /// Header names lower-cased; a repeated header appears once per value.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body left unread, for the gateway to stream to the origin.
    pub body_stream: Option<Stream>,
    /// [`crate::path::canonical`] of `path`, worked out once (every decision
    /// reads it); `None` when it is `path` itself, as it usually is.
    canonical: std::cell::OnceCell<Result<Option<String>, crate::path::PathError>>,
    /// What the canonical path is to keygate (a route, reserved, the gateway's), also worked out once.
    class: std::cell::OnceCell<PathClass>,
}

impl Request {
    /// A request for `target` (path and query) at `https://keygate.test`.
    pub fn new(method: &str, target: &str) -> Request {
        Request::for_url(method, &format!("https://keygate.test{target}"))
    }

    /// A request for an absolute URL, split as sent: the path is not decoded or
    /// resolved here ([`crate::path::canonical`] decides what it means).
    pub fn for_url(method: &str, url: &str) -> Request {
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host, path) = rest.find('/').map_or((rest, "/"), |slash| rest.split_at(slash));
        Request {
            method: method.to_owned(),
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            ..Request::default()
        }
    }

    /// The canonical path ([`crate::path::canonical`]), or why `path` has none.
    pub fn canonical_path(&self) -> Result<&str, crate::path::PathError> {
        let canonical = self.canonical.get_or_init(|| {
            crate::path::canonical(&self.path).map(|path| match path {
                std::borrow::Cow::Borrowed(_) => None,
                std::borrow::Cow::Owned(changed) => Some(changed),
            })
        });
        match canonical {
            Ok(changed) => Ok(changed.as_deref().unwrap_or(&self.path)),
            Err(error) => Err(*error),
        }
    }

    /// The route the canonical path names (`None`: none of keygate's).
    pub fn route(&self) -> Result<Option<Route<'_>>, crate::path::PathError> {
        let path = self.canonical_path()?;
        Ok(self.class(path).route(path))
    }

    /// Whether the canonical path lies in keygate's namespace without naming
    /// one of its routes (never forwarded; see [`Route::is_reserved`]).
    pub fn is_reserved(&self) -> bool {
        self.canonical_path().is_ok_and(|path| self.class(path) == PathClass::Reserved)
    }

    fn class(&self, canonical: &str) -> PathClass {
        *self.class.get_or_init(|| PathClass::of(canonical))
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Every value of a header, by lower-case name.
    pub fn header_values<'a, 'n>(&'a self, lower_name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers.iter().filter(move |(name, _)| name == lower_name).map(|(_, value)| value.as_str())
    }

    pub fn header(&self, lower_name: &str) -> Option<&str> {
        self.header_values(lower_name).next()
    }

    /// The client's address: `CF-Connecting-IP`, which Cloudflare's edge sets
    /// over anything the client sent (trusted for that reason alone; no other
    /// header is read). `None` when it is absent, repeated or no address.
    pub fn client_ip(&self) -> Option<std::net::IpAddr> {
        let mut values = self.header_values("cf-connecting-ip");
        let first = values.next()?;
        values.next().is_none().then(|| crate::allowlist::client_address(first)).flatten()
    }

    /// Whether the query carries `_method` (in any case or encoding), which
    /// Rails, Laravel, Symfony and others read as the request's real method.
    pub fn has_method_override(&self) -> bool {
        self.query.split('&').any(|pair| {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            let decoded: Vec<u8> = url_decode(name.as_bytes());
            decoded.len() >= 7 && decoded[..7].eq_ignore_ascii_case(b"_method")
        })
    }

    /// The query's parameters in order, decoded as forms are (`+` is a space).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let decoded = |text: &str| String::from_utf8_lossy(&url_decode(text.as_bytes())).into_owned();
        self.query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decoded(name), decoded(value))
            })
            .collect()
    }
}

/// `%XX` and `+` decoded, as form parsers do; malformed escapes kept as they are.
fn url_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| Some(hex_digit(hex[0])? << 4 | hex_digit(hex[1])?));
        match (bytes[index], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                index += 1;
            }
            (byte, None) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    out
}

fn hex_digit(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|digit| digit as u8)
}

/// A runtime stream the pure core carries without reading: only the shell
/// that made it knows its type (a `ReadableStream` in the worker).
#[derive(Clone)]
pub struct Stream(Rc<dyn Any>);

impl Stream {
    pub fn new(stream: impl Any) -> Stream {
        Stream(Rc::new(stream))
    }

    /// The stream, if it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Stream")
    }
}

/// The same stream, not an equal one.
impl PartialEq for Stream {
    fn eq(&self, other: &Stream) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// A body keygate either holds or only passes along.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Bytes(Vec<u8>),
    /// A stream keygate never buffers: the origin's body on its way back.
    Stream(Stream),
}

impl Body {
    /// The bytes held; empty for a stream.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Body::Bytes(bytes) => bytes,
            Body::Stream(_) => &[],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    /// `value` as the JSON body (a `Value`, or any type that serializes as one
    /// without building it first).
    pub fn json(status: u16, value: &impl serde::Serialize) -> Response {
        Response {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            // Serializing a JSON value or a derived struct cannot fail.
            body: Body::Bytes(serde_json::to_vec(value).unwrap_or_default()),
        }
    }

    pub fn no_content() -> Response {
        Response { status: 204, headers: Vec::new(), body: Body::Bytes(Vec::new()) }
    }

    pub fn header(&self, lower_name: &str) -> Option<&str> {
        self.headers.iter().find(|(name, _)| name == lower_name).map(|(_, value)| value.as_str())
    }

    /// `X-RateLimit-*` for the reported policy, and the IETF `RateLimit-Policy` / `RateLimit` fields.
    /// Sets `name` (lower case) to `value`, replacing any the origin sent.
    pub fn set_header(&mut self, name: &str, value: String) {
        self.headers.retain(|(held, _)| !held.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value));
    }

    pub fn add_rate_headers(&mut self, rate: &RateDecision) {
        let reported = rate.reported_status();
        let fields = [
            ("x-ratelimit-limit", reported.limit.to_string()),
            ("x-ratelimit-remaining", reported.remaining.to_string()),
            ("x-ratelimit-reset", reported.reset_at(rate.now).to_string()),
            (
                "ratelimit-policy",
                format!("\"minute\";q={};w=60, \"day\";q={};w=86400", rate.minute.limit, rate.day.limit),
            ),
            (
                "ratelimit",
                format!(
                    "\"{}\";r={};t={}",
                    reported.policy.as_str(),
                    reported.remaining,
                    whole_seconds(reported.reset_after)
                ),
            ),
        ];
        // Ours replace any the origin sent under the same names.
        self.headers.retain(|(name, _)| !fields.iter().any(|(ours, _)| ours == name));
        for (name, value) in fields {
            self.headers.push((name.to_owned(), value));
        }
    }

    /// The body as JSON (for tests and logs); `Null` when it is not JSON.
    pub fn json_body(&self) -> Value {
        serde_json::from_slice(self.body.bytes()).unwrap_or(Value::Null)
    }
}

impl From<&Error> for Response {
    fn from(error: &Error) -> Response {
        let mut response = Response::json(error.status(), &error.to_json());
        for (name, value) in error.headers() {
            response.headers.push((name.to_owned(), value));
        }
        response
    }
}

impl From<Error> for Response {
    fn from(error: Error) -> Response {
        Response::from(&error)
    }
}
