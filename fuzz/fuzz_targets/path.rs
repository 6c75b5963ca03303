//! The path checks: what `canonical` accepts is a fixed point without any
//! byte or segment a server could read differently, and the route table,
//! the gateway rules and URL splitting take anything without panicking.
#![no_main]

use std::sync::OnceLock;

use keygate::app::http::Request;
use keygate::app::routes::Route;
use keygate::config::Config;
use keygate::path::canonical;
use keygate::rules;
use libfuzzer_sys::fuzz_target;

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| Config::from_vars(|_| None).unwrap())
}

fuzz_target!(|text: &str| {
    let request = Request::for_url("GET", text);
    request.has_method_override();
    for raw in [text, request.path.as_str()] {
        let Ok(path) = canonical(raw) else { continue };
        assert_eq!(canonical(&path).as_deref(), Ok(&*path), "canonical is a fixed point");
        assert!(path.starts_with('/'));
        assert!(path.bytes().all(|b| b.is_ascii_graphic()), "no control, space or non-ASCII byte");
        assert!(!path.contains(';') && !path.contains('\\') && !path.contains("//"));
        for segment in path.split('/') {
            assert!(segment != "." && segment != "..");
            let lower = segment.to_ascii_lowercase();
            assert!(
                !lower.contains("%2f") && !lower.contains("%5c") && !lower.contains("%25") && !lower.contains("%2e")
            );
        }
        Route::parse(&path);
        Route::is_reserved(&path);
        for method in ["GET", "POST", "DELETE", "OPTIONS"] {
            rules::find(&config().routes, method, &path);
        }
    }
});
