//! The JSON bodies and queries of the admin and verify routes, cursors
//! included, through the whole app over the in-memory doubles: never a
//! panic, never a 5xx, and every non-empty answer is JSON.
#![no_main]

use std::cell::{Cell, RefCell};

use keygate::app::http::Request;
use keygate::app::store::KeyStore;
use keygate::app::App;
use keygate::config::Config;
use keygate::testing::{FakeClock, MemoryLimiter, MemoryOrigin, MemoryStore};
use libfuzzer_sys::fuzz_target;

const ADMIN_TOKEN: &str = "admin-token-0123456789";
/// Fresh doubles every so many runs, so stored keys do not pile up.
const RUNS_PER_WORLD: usize = 2000;

struct World {
    store: MemoryStore,
    limiter: MemoryLimiter<&'static FakeClock>,
    origin: MemoryOrigin,
    key_id: String,
    writer: String,
}

thread_local! {
    static CONFIG: Config = Config::from_vars(|name| match name {
        "ADMIN_TOKEN" => Some(ADMIN_TOKEN.into()),
        "KEY_HEADERS" => Some("X-API-Key".into()),
        _ => None,
    })
    .unwrap();
    static CLOCK: &'static FakeClock = Box::leak(Box::new(FakeClock::at(1_795_420_800_000)));
    static WORLD: RefCell<Option<World>> = const { RefCell::new(None) };
    static RUNS: Cell<usize> = const { Cell::new(0) };
}

fn send(world: &World, request: Request) -> keygate::app::http::Response {
    CONFIG.with(|config| {
        let clock = CLOCK.with(|clock| *clock);
        let app =
            App { config, keys: KeyStore::new(&world.store), limiter: &world.limiter, origin: &world.origin, clock };
        futures_executor::block_on(app.handle(&request))
    })
}

fn new_world() -> World {
    let clock = CLOCK.with(|clock| *clock);
    let mut world = World {
        store: MemoryStore::default(),
        limiter: MemoryLimiter::new(clock),
        origin: MemoryOrigin::default(),
        key_id: String::new(),
        writer: String::new(),
    };
    let create = |world: &World, body: &str| {
        let request = Request::new("POST", "/v1/projects/acme/keys")
            .with_header("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
            .with_body(body);
        serde_json::from_slice::<serde_json::Value>(send(world, request).body.bytes()).unwrap()
    };
    let target = create(&world, r#"{"name":"target","scopes":["bots:read"]}"#);
    world.key_id = target["id"].as_str().unwrap().to_owned();
    let writer = create(
        &world,
        r#"{"name":"writer","scopes":["keys:write","bots:*"],"rate_limit":{"per_minute":100000,"per_day":100000000},"expires_at":"2030-01-01T00:00:00Z"}"#,
    );
    world.writer = writer["key"].as_str().unwrap().to_owned();
    world
}

fuzz_target!(|input: (u8, &[u8])| {
    let (selector, data) = input;
    let runs = RUNS.with(|runs| {
        runs.set(runs.get() + 1);
        runs.get()
    });
    WORLD.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() || runs % RUNS_PER_WORLD == 0 {
            *cell = Some(new_world());
        }
        let world = cell.as_ref().unwrap();
        let key_path = format!("/v1/projects/acme/keys/{}", world.key_id);
        let text = String::from_utf8_lossy(data);
        let (method, target, body, as_writer) = match selector % 7 {
            0 => ("POST", "/v1/keys/verify".to_owned(), true, false),
            1 => ("POST", "/v1/projects/acme/keys".to_owned(), true, false),
            2 => ("PATCH", key_path, true, false),
            3 => ("POST", format!("{key_path}/rotate"), true, false),
            4 => ("GET", format!("/v1/projects/acme/keys?{text}"), false, false),
            5 => ("POST", "/v1/projects/acme/keys".to_owned(), true, true),
            _ => ("PATCH", key_path, true, true),
        };
        let credential = if as_writer { world.writer.clone() } else { ADMIN_TOKEN.to_owned() };
        let mut request = Request::new(method, &target).with_header("Authorization", &format!("Bearer {credential}"));
        if body {
            request = request.with_body(data.to_vec());
        }
        let response = send(world, request);
        assert!(
            response.status < 500,
            "{} {target}: {}",
            response.status,
            String::from_utf8_lossy(response.body.bytes())
        );
        let bytes = response.body.bytes();
        assert!(bytes.is_empty() || serde_json::from_slice::<serde_json::Value>(bytes).is_ok());
    });
});
