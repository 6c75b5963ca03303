//! Every webhook scheme's header parsers take any header values, body and
//! clock without panicking (timestamps included: no overflow).
#![no_main]

use std::sync::OnceLock;

use keygate::webhook::{verify, Scheme, WebhookSecret};
use libfuzzer_sys::fuzz_target;

const HEADERS: [&str; 12] = [
    "x-signature",
    "x-hub-signature-256",
    "x-github-delivery",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "stripe-signature",
    "x-slack-signature",
    "x-slack-request-timestamp",
];

fn schemes() -> &'static [(Scheme, Vec<WebhookSecret>)] {
    static SCHEMES: OnceLock<Vec<(Scheme, Vec<WebhookSecret>)>> = OnceLock::new();
    SCHEMES.get_or_init(|| {
        ["hmac-sha256", "github", "standard", "stripe", "slack"]
            .iter()
            .map(|name| {
                let scheme = Scheme::parse(name, None).unwrap();
                let texts = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2Vjb25kIHNlY3JldA=="];
                let secrets = texts.iter().map(|text| WebhookSecret::parse(&scheme, text).unwrap()).collect();
                (scheme, secrets)
            })
            .collect()
    })
}

fuzz_target!(|input: (u8, Vec<String>, &[u8], i64, i64)| {
    let (which, values, body, now, tolerance) = input;
    let (scheme, secrets) = &schemes()[which as usize % 5];
    let header = |name: &str| HEADERS.iter().position(|h| *h == name).and_then(|i| values.get(i)).map(String::as_str);
    scheme.has_signature_headers(header);
    let _ = verify(scheme, secrets, header, body, now, tolerance.rem_euclid(100_000));
});
