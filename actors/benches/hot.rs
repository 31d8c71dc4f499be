//! The pure functions on digit-user's hot paths: OTP code derivation and its keyed hash (every send and
//! validation), PII sealing and opening (every user read and write), blind indexes (every lookup).
//! Run: `cargo bench -p actors --bench hot`. (Access-token verification: `cargo bench --bench details`.)

use std::hint::black_box;

use actors::domain::otp::OtpKeys;
use actors::seal::{BlindIndexer, IndexedField, KEY_LEN, Keyring};
use criterion::{Criterion, criterion_group, criterion_main};

fn otp(c: &mut Criterion) {
    let keys = OtpKeys::new(&[3; KEY_LEN]);
    let nonce = [9u8; 16];
    c.bench_function("otp/derive_code", |b| {
        b.iter(|| keys.derive_code(black_box(&nonce), 6))
    });
    c.bench_function("otp/hash", |b| {
        b.iter(|| {
            keys.hash(
                black_box(&uuid::Uuid::from_u128(
                    0x5f0e2c1a_8d3b_4c7e_9f10_2b3c4d5e6f70,
                )),
                black_box("482913"),
            )
        })
    });
}

fn seal(c: &mut Criterion) {
    let ring = Keyring::new(&[(1, [1; KEY_LEN])]).unwrap();
    // about the size of a sealed user record
    let record = vec![b'x'; 1200];
    let sealed = ring.seal(&record, b"users/42").unwrap();
    c.bench_function("seal/user_record_1200b", |b| {
        b.iter(|| ring.seal(black_box(&record), b"users/42").unwrap())
    });
    c.bench_function("open/user_record_1200b", |b| {
        b.iter(|| ring.open(black_box(&sealed), b"users/42").unwrap())
    });
}

fn blind(c: &mut Criterion) {
    let index = BlindIndexer::new(&[2; KEY_LEN]);
    c.bench_function("blind_index/mobile", |b| {
        b.iter(|| index.digest(IndexedField::MobileNumber, black_box("9876543210")))
    });
}

criterion_group!(benches, otp, seal, blind);
criterion_main!(benches);
