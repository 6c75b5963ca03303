//! keygate's own routes. Everything else is not found (deny by default).
//!
//! Guarantee: [`ROUTE_TABLE`] is the one list of routes and methods; the
//! router, the `Allow` header and the OpenAPI document are checked against it.

/// Which of keygate's routes a row of [`ROUTE_TABLE`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Health,
    OpenApi,
    Verify,
    Keys,
    Key,
    Rotate,
    Credits,
    Usage,
    Projects,
    Audit,
    ProjectUsage,
    Events,
    RetryEvent,
    SecretScanning,
    Webhook,
    Owner,
    Jwks,
    Reveal,
}

/// One of keygate's routes: its path template, its methods, and the
/// namespace it reserves (a path prefix the gateway never forwards; `None`:
/// the template's path alone).
pub struct RouteSpec {
    pub template: &'static str,
    pub methods: &'static [&'static str],
    namespace: Option<&'static str>,
    kind: Kind,
}

const fn spec(
    template: &'static str,
    methods: &'static [&'static str],
    namespace: Option<&'static str>,
    kind: Kind,
) -> RouteSpec {
    RouteSpec { template, methods, namespace, kind }
}

/// Every route keygate serves itself. Parsing, the `Allow` header, the
/// templates in log lines, reserved namespaces and the OpenAPI check all read this.
pub const ROUTE_TABLE: &[RouteSpec] = &[
    spec("/healthz", &["GET", "HEAD"], Some("/healthz"), Kind::Health),
    spec("/openapi.json", &["GET"], Some("/openapi.json"), Kind::OpenApi),
    spec("/v1/keys/verify", &["POST"], Some("/v1/keys"), Kind::Verify),
    spec("/v1/projects/{project}/keys", &["GET", "POST"], Some("/v1/projects/{project}/keys"), Kind::Keys),
    spec(
        "/v1/projects/{project}/keys/{id}",
        &["GET", "PATCH", "DELETE"],
        Some("/v1/projects/{project}/keys"),
        Kind::Key,
    ),
    spec("/v1/projects/{project}/keys/{id}/rotate", &["POST"], Some("/v1/projects/{project}/keys"), Kind::Rotate),
    spec("/v1/projects/{project}/keys/{id}/credits", &["POST"], Some("/v1/projects/{project}/keys"), Kind::Credits),
    spec("/v1/projects/{project}/keys/{id}/usage", &["GET"], Some("/v1/projects/{project}/keys"), Kind::Usage),
    spec("/v1/projects", &["GET"], None, Kind::Projects),
    spec("/v1/projects/{project}/audit", &["GET"], Some("/v1/projects/{project}/audit"), Kind::Audit),
    spec("/v1/projects/{project}/usage", &["GET"], Some("/v1/projects/{project}/usage"), Kind::ProjectUsage),
    spec("/v1/projects/{project}/events", &["GET"], Some("/v1/projects/{project}/events"), Kind::Events),
    spec(
        "/v1/projects/{project}/events/{id}/retry",
        &["POST"],
        Some("/v1/projects/{project}/events"),
        Kind::RetryEvent,
    ),
    spec("/v1/secret-scanning/github", &["POST"], Some("/v1/secret-scanning"), Kind::SecretScanning),
    spec("/webhooks/{source}", &["POST"], Some("/webhooks"), Kind::Webhook),
    spec(
        "/v1/projects/{project}/owners/{owner_id}",
        &["GET", "PUT", "DELETE"],
        Some("/v1/projects/{project}/owners"),
        Kind::Owner,
    ),
    spec("/.well-known/jwks.json", &["GET"], Some("/.well-known"), Kind::Jwks),
    spec("/v1/projects/{project}/keys/{id}/reveal", &["POST"], Some("/v1/projects/{project}/keys"), Kind::Reveal),
];

/// Namespaces keygate reserves without an API route of its own: the
/// dashboard's static assets (see [`super::dashboard`]), which the edge serves
/// when `DASHBOARD` is on; otherwise their paths are 404 `NOT_FOUND`.
pub const RESERVED_NAMESPACES: &[&str] = &[super::dashboard::NAMESPACE];

/// A matched route with its path parameters (from the canonical path; callers validate them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'p> {
    Health,
    OpenApi,
    Verify,
    Keys {
        project: &'p str,
    },
    Key {
        project: &'p str,
        id: &'p str,
    },
    Rotate {
        project: &'p str,
        id: &'p str,
    },
    Credits {
        project: &'p str,
        id: &'p str,
    },
    Usage {
        project: &'p str,
        id: &'p str,
    },
    Projects,
    Audit {
        project: &'p str,
    },
    ProjectUsage {
        project: &'p str,
    },
    Events {
        project: &'p str,
    },
    RetryEvent {
        project: &'p str,
        id: &'p str,
    },
    /// GitHub's secret scanning partner endpoint.
    SecretScanning,
    Webhook {
        source: &'p str,
    },
    /// The limits an owner's keys share.
    Owner {
        project: &'p str,
        owner_id: &'p str,
    },
    /// The JWK Set that verifies the origin's assertions.
    Jwks,
    /// The secret of a recoverable key (the admin token's alone).
    Reveal {
        project: &'p str,
        id: &'p str,
    },
}

/// The parameters of `path` when its segments match `template`'s (all of
/// them, or only the template's when `prefix`): `{name}` matches any one segment.
fn captures<'p>(template: &str, path: &'p str, prefix: bool) -> Option<Captures<'p>> {
    captures_by(template, path, prefix, |part, segment| part == segment)
}

/// [`captures`], with literal segments compared by `same`.
fn captures_by<'p>(
    template: &str,
    path: &'p str,
    prefix: bool,
    same: impl Fn(&str, &str) -> bool,
) -> Option<Captures<'p>> {
    let mut wanted = template.strip_prefix('/')?.split('/');
    let mut given = path.strip_prefix('/')?.split('/');
    let mut params = Captures::default();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(params),
            (None, Some(_)) => return prefix.then_some(params),
            (Some(_), None) => return None,
            (Some(part), Some(segment)) if part.starts_with('{') => params.push(segment)?,
            (Some(part), Some(segment)) if same(part, segment) => {}
            _ => return None,
        }
    }
}

/// A template's parameters, without an allocation: no template has more than two.
#[derive(Default)]
struct Captures<'p> {
    values: [&'p str; 2],
    len: usize,
}

impl<'p> Captures<'p> {
    fn push(&mut self, value: &'p str) -> Option<()> {
        *self.values.get_mut(self.len)? = value;
        self.len += 1;
        Some(())
    }

    fn as_slice(&self) -> &[&'p str] {
        &self.values[..self.len]
    }
}

/// What a canonical path is to keygate: one of its routes (a row of
/// [`ROUTE_TABLE`]), its reserved namespace, or the gateway's. Worked out
/// once per request (`Request::route`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathClass {
    Row(usize),
    Reserved,
    Gateway,
}

impl PathClass {
    pub fn of(path: &str) -> PathClass {
        match ROUTE_TABLE.iter().position(|spec| Route::from_spec(spec, path).is_some()) {
            Some(row) => PathClass::Row(row),
            None if Route::is_reserved(path) => PathClass::Reserved,
            None => PathClass::Gateway,
        }
    }

    /// The route of `path`, which this class was worked out from.
    pub fn route<'p>(self, path: &'p str) -> Option<Route<'p>> {
        match self {
            PathClass::Row(row) => Route::from_spec(&ROUTE_TABLE[row], path),
            PathClass::Reserved | PathClass::Gateway => None,
        }
    }
}

impl<'p> Route<'p> {
    pub fn parse(path: &'p str) -> Option<Route<'p>> {
        ROUTE_TABLE.iter().find_map(|spec| Route::from_spec(spec, path))
    }

    /// The route of `spec`'s row when `path` matches its template.
    fn from_spec(spec: &RouteSpec, path: &'p str) -> Option<Route<'p>> {
        let params = captures(spec.template, path, false)?;
        Some(match (spec.kind, params.as_slice()) {
            (Kind::Health, []) => Route::Health,
            (Kind::OpenApi, []) => Route::OpenApi,
            (Kind::Verify, []) => Route::Verify,
            (Kind::Keys, [project]) => Route::Keys { project },
            (Kind::Key, [project, id]) => Route::Key { project, id },
            (Kind::Rotate, [project, id]) => Route::Rotate { project, id },
            (Kind::Credits, [project, id]) => Route::Credits { project, id },
            (Kind::Usage, [project, id]) => Route::Usage { project, id },
            (Kind::Projects, []) => Route::Projects,
            (Kind::Audit, [project]) => Route::Audit { project },
            (Kind::ProjectUsage, [project]) => Route::ProjectUsage { project },
            (Kind::Events, [project]) => Route::Events { project },
            (Kind::RetryEvent, [project, id]) => Route::RetryEvent { project, id },
            (Kind::SecretScanning, []) => Route::SecretScanning,
            (Kind::Webhook, [source]) => Route::Webhook { source },
            (Kind::Owner, [project, owner_id]) => Route::Owner { project, owner_id },
            (Kind::Jwks, []) => Route::Jwks,
            (Kind::Reveal, [project, id]) => Route::Reveal { project, id },
            _ => return None,
        })
    }

    /// Whether `path` lies in keygate's own namespace, so the gateway never forwards it
    /// even when no route of ours matches (e.g. `/v1/projects/p/keys/x/y`).
    pub fn is_reserved(path: &str) -> bool {
        // Gateway rules match literal segments in any case (as origins route),
        // so keygate's namespaces are reserved in any case too.
        let reserved = |template: &str, prefix: bool| {
            captures_by(template, path, prefix, |part, segment| part.eq_ignore_ascii_case(segment)).is_some()
        };
        ROUTE_TABLE.iter().any(|spec| match spec.namespace {
            None => reserved(spec.template, false),
            Some(namespace) => reserved(namespace, true),
        }) || RESERVED_NAMESPACES.iter().any(|namespace| reserved(namespace, true))
    }

    fn spec(&self) -> &'static RouteSpec {
        let kind = match self {
            Route::Health => Kind::Health,
            Route::OpenApi => Kind::OpenApi,
            Route::Verify => Kind::Verify,
            Route::Keys { .. } => Kind::Keys,
            Route::Key { .. } => Kind::Key,
            Route::Rotate { .. } => Kind::Rotate,
            Route::Credits { .. } => Kind::Credits,
            Route::Usage { .. } => Kind::Usage,
            Route::Projects => Kind::Projects,
            Route::Audit { .. } => Kind::Audit,
            Route::ProjectUsage { .. } => Kind::ProjectUsage,
            Route::Events { .. } => Kind::Events,
            Route::RetryEvent { .. } => Kind::RetryEvent,
            Route::SecretScanning => Kind::SecretScanning,
            Route::Webhook { .. } => Kind::Webhook,
            Route::Owner { .. } => Kind::Owner,
            Route::Jwks => Kind::Jwks,
            Route::Reveal { .. } => Kind::Reveal,
        };
        ROUTE_TABLE.iter().find(|spec| spec.kind == kind).expect("every kind has its row")
    }

    pub fn template(&self) -> &'static str {
        self.spec().template
    }

    /// Whether answers of `template`'s route may hold secrets or key state, so
    /// no cache may keep them (`Cache-Control: no-store`): verify and admin.
    pub fn is_private_template(template: &str) -> bool {
        template == "/v1/keys/verify"
            || template.starts_with("/v1/projects")
            || template.starts_with("/v1/secret-scanning")
    }

    pub fn methods(&self) -> &'static [&'static str] {
        self.spec().methods
    }
}

#[cfg(test)]
mod tests;
