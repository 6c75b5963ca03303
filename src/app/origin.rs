//! Requests keygate sends on: to the gateway's origin and a webhook's `forward_to`.
//!
//! Guarantees: no client header reaches upstream that a server could read as
//! keygate's identity headers, a credential, a method or URL override, or a
//! forwarding header, under any spelling a CGI/WSGI server folds onto the same
//! variable (case, `_` for `-`); hop-by-hop headers never pass. keygate sets
//! the forwarding headers itself from what the runtime saw, and adds its own
//! `X-Keygate-*` headers after the filter.

use std::net::IpAddr;

use crate::app::http::{Request, Response, Stream};
use crate::assertion::KeySet;
use crate::error::Error;

/// A request to send upstream, fully formed.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing<'b> {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: OutgoingBody<'b>,
    /// Give up (as unreachable) after this many milliseconds; `None`: wait
    /// as long as the runtime lets the request run (the gateway's origin).
    pub timeout_ms: Option<u32>,
}

/// What goes upstream as the body: bytes keygate holds (lent, never copied
/// here: a webhook body is kept once), or the client's body as a stream
/// (`None` when it sent none).
#[derive(Debug, Clone, PartialEq)]
pub enum OutgoingBody<'b> {
    Bytes(&'b [u8]),
    Stream(Option<Stream>),
}

/// Sends requests upstream; an unreachable upstream is [`Error::Origin`].
#[allow(async_fn_in_trait)]
pub trait Origin {
    async fn send(&self, request: Outgoing<'_>) -> Result<Response, Error>;

    /// Sends `request` and reads the whole answer: its status and at most
    /// `limit` bytes of body (more is [`Error::Origin`]).
    async fn fetch_bytes(&self, request: Outgoing<'_>, limit: usize) -> Result<(u16, Vec<u8>), Error>;

    /// The Ed25519 signature of `input` by the signing key of `keys`, for the
    /// origin's assertion. Here in Rust; the worker uses the runtime's
    /// WebCrypto, faster and far smaller than curve arithmetic in wasm. A
    /// failure is [`Error::Unavailable`]: nothing goes out unsigned.
    async fn sign(&self, keys: &KeySet, input: &str) -> Result<[u8; 64], Error> {
        Ok(keys.sign_input(input))
    }
}

/// Headers that only the hop they arrived on may read.
const HOP_BY_HOP: &[&str] =
    &["host", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"];
/// Headers with which frameworks and proxies let a client replace the method or URL that keygate checked.
const OVERRIDES: &[&str] =
    &["x-http-method-override", "x-http-method", "x-method-override", "x-original-url", "x-rewrite-url"];
/// Headers that say who the client is: keygate sets them, a client never does.
const FORWARDING: &[&str] = &["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-real-ip"];

/// `byte` as CGI/WSGI servers fold header names: lower case, `_` read as `-`.
fn fold(byte: u8) -> u8 {
    if byte == b'_' {
        b'-'
    } else {
        byte.to_ascii_lowercase()
    }
}

/// Whether two header names fold to the same one.
fn same_header(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| fold(x) == fold(y))
}

/// Whether a client's header may be passed upstream; `credentials` are the
/// headers that carry keys.
pub fn forwardable<'c>(name: &str, mut credentials: impl Iterator<Item = &'c str>) -> bool {
    let folded_prefix = |prefix: &str| name.len() >= prefix.len() && same_header(&name[..prefix.len()], prefix);
    let listed = |list: &[&str]| list.iter().any(|listed| same_header(name, listed));
    name.is_ascii()
        && !listed(HOP_BY_HOP)
        && !listed(OVERRIDES)
        && !listed(FORWARDING)
        && !credentials.any(|credential| same_header(name, credential))
        && !folded_prefix("proxy-")
        && !folded_prefix("x-keygate-")
        && !same_header(name, crate::app::CREDITS_HEADER)
}

/// The client's headers that may pass (see [`forwardable`]), then the
/// forwarding headers as keygate saw the request: the client address from
/// `CF-Connecting-IP` (which Cloudflare sets), the scheme and the host.
pub fn upstream_headers<'c>(
    request: &Request,
    credentials: impl Iterator<Item = &'c str> + Clone,
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> =
        request.headers.iter().filter(|(name, _)| forwardable(name, credentials.clone())).cloned().collect();
    let client = request.header("cf-connecting-ip").and_then(|ip| ip.trim().parse::<IpAddr>().ok());
    let mut forwarded = Vec::new();
    if let Some(ip) = client {
        headers.push(("x-forwarded-for".into(), ip.to_string()));
        forwarded.push(match ip {
            IpAddr::V4(ip) => format!("for={ip}"),
            IpAddr::V6(ip) => format!("for=\"[{ip}]\""),
        });
    }
    if !request.scheme.is_empty() && request.scheme.bytes().all(|b| b.is_ascii_alphanumeric()) {
        headers.push(("x-forwarded-proto".into(), request.scheme.clone()));
        forwarded.push(format!("proto={}", request.scheme));
    }
    if !request.host.is_empty() && request.host.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') {
        headers.push(("x-forwarded-host".into(), request.host.clone()));
        forwarded.push(format!("host=\"{}\"", request.host));
    }
    if !forwarded.is_empty() {
        headers.push(("forwarded".into(), forwarded.join(";")));
    }
    headers
}

impl<T: Origin> Origin for &T {
    async fn send(&self, request: Outgoing<'_>) -> Result<Response, Error> {
        (**self).send(request).await
    }

    async fn fetch_bytes(&self, request: Outgoing<'_>, limit: usize) -> Result<(u16, Vec<u8>), Error> {
        (**self).fetch_bytes(request, limit).await
    }

    async fn sign(&self, keys: &KeySet, input: &str) -> Result<[u8; 64], Error> {
        (**self).sign(keys, input).await
    }
}
