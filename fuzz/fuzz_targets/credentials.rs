//! Credential extraction from arbitrary headers never panics, and what it
//! returns is one of the values presented in a credential header.
#![no_main]

use std::sync::OnceLock;

use keygate::app::credential::Credential;
use keygate::app::http::Request;
use keygate::config::Config;
use libfuzzer_sys::fuzz_target;

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        Config::from_vars(|name| match name {
            "KEY_HEADERS" => Some("X-API-Key, X-TLM-Key".into()),
            "ADMIN_TOKEN" => Some("admin-token-0123456789".into()),
            _ => None,
        })
        .unwrap()
    })
}

const NAMES: [&str; 4] = ["authorization", "x-api-key", "x-tlm-key", "x-other"];

fuzz_target!(|input: Vec<(u8, String)>| {
    let request = input
        .iter()
        .fold(Request::new("GET", "/"), |request, (name, value)| request.with_header(NAMES[*name as usize % 4], value));
    if let Ok(credential) = Credential::of(&request, config()) {
        assert!(request.headers.iter().any(|(name, value)| name != "x-other" && value.ends_with(credential.value)));
    }
});
