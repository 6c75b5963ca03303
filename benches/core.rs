//! Microbenchmarks of the pure core: what one verification and one webhook cost natively.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keygate::key::{ApiKey, Environment, KeyPrefixes};
use keygate::ratelimit::{self, LimitState, Quota};
use keygate::scope::{Scope, ScopeSet};
use keygate::webhook::{self, Scheme, WebhookSecret};

fn key_checks(c: &mut Criterion) {
    let key = ApiKey::generate(Environment::Live, &KeyPrefixes::default()).unwrap().expose().to_owned();
    c.bench_function("key parse + checksum + digest", |b| {
        b.iter(|| ApiKey::parse(black_box(&key), &KeyPrefixes::default()).unwrap().digest())
    });
    let scopes = ScopeSet::from_stored(&(0..64).map(|i| format!("resource{i}:write")).collect::<Vec<_>>());
    let wanted = Scope::parse("resource63:read").unwrap();
    c.bench_function("scope check against 64 scopes", |b| b.iter(|| black_box(&scopes).grants(black_box(&wanted))));
}

fn paths(c: &mut Criterion) {
    let plain = "/v1/projects/acme/conversations/9f8e7d6c/messages";
    c.bench_function("path check, plain", |b| b.iter(|| keygate::path::canonical(black_box(plain)).unwrap().len()));
    let encoded = "/v1/projects/acme/conversations/9f8e%37d6c/messages%3Aall";
    c.bench_function("path check, encoded", |b| b.iter(|| keygate::path::canonical(black_box(encoded)).unwrap().len()));
}

fn rate_limit(c: &mut Criterion) {
    let quota = Quota::new(100, 10_000).unwrap();
    let (_, state) = ratelimit::check(quota, LimitState::default(), 1_795_420_800_000_000);
    c.bench_function("rate-limit decision", |b| {
        b.iter(|| ratelimit::check(black_box(quota), black_box(state), black_box(1_795_420_800_500_000)))
    });
}

fn webhooks(c: &mut Criterion) {
    let secret = WebhookSecret::parse(&Scheme::Github, "bench secret").unwrap();
    let mut group = c.benchmark_group("webhook verify (github)");
    for size in [1024usize, 1024 * 1024] {
        let body = vec![b'x'; size];
        let signature = format!("sha256={}", hex::encode(webhook::sign(&secret, &[&body])));
        let secrets = [secret.clone()];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("{} KiB", size / 1024), |b| {
            b.iter(|| {
                let header = |name: &str| match name {
                    "x-hub-signature-256" => Some(signature.as_str()),
                    "x-github-delivery" => Some("bench-delivery"),
                    _ => None,
                };
                webhook::verify(&Scheme::Github, &secrets, header, black_box(&body), 0, 300).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, key_checks, paths, rate_limit, webhooks);
criterion_main!(benches);
