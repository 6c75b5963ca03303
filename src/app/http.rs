//! Plain HTTP values, free of the `worker` crate, so handlers test natively.

use serde_json::Value;

use crate::error::Error;
use crate::ratelimit::RateDecision;

/// The largest JSON body the admin and verify routes read.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// Path as sent, still percent-encoded, e.g. `/v1/keys/verify`.
    pub path: String,
    /// Query string without `?`; empty when there is none.
    pub query: String,
    /// Header names lower-cased; a repeated header appears once per value.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Request {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        Request { method: method.to_owned(), path: path.to_owned(), query: query.to_owned(), ..Request::default() }
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

    /// A query parameter's raw value (keygate's own parameters never need decoding).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then_some(value)
        })
    }
}

/// A body keygate either holds or only passes along.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Bytes(Vec<u8>),
    /// A stream only the shell holds and never buffers: the client's request
    /// body on its way to the origin, or the origin's body on its way back.
    Stream,
}

impl Body {
    /// The bytes held; empty for a stream.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Body::Bytes(bytes) => bytes,
            Body::Stream => &[],
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
    pub fn json(status: u16, value: &Value) -> Response {
        Response {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: Body::Bytes(value.to_string().into_bytes()),
        }
    }

    pub fn no_content() -> Response {
        Response { status: 204, headers: Vec::new(), body: Body::Bytes(Vec::new()) }
    }

    pub fn header(&self, lower_name: &str) -> Option<&str> {
        self.headers.iter().find(|(name, _)| name == lower_name).map(|(_, value)| value.as_str())
    }

    /// `X-RateLimit-*` for the reported policy, and the IETF `RateLimit-Policy` / `RateLimit` fields.
    pub fn add_rate_headers(&mut self, rate: &RateDecision) {
        let reported = rate.reported_status();
        let seconds = |micros: i64| (micros.max(0) as u64).div_ceil(1_000_000);
        let fields = [
            ("x-ratelimit-limit", reported.limit.to_string()),
            ("x-ratelimit-remaining", reported.remaining.to_string()),
            ("x-ratelimit-reset", seconds(rate.now + reported.reset_after).to_string()),
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
                    seconds(reported.reset_after)
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
