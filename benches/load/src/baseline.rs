//! The baselines a scenario is measured against, in the same run on the same machine: what a bare HTTP server,
//! raw argon2id and the disk can do.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};

/// A bare actix-web server (same worker count as digit-user) answering a fixed JSON body of `body_len`
/// bytes on any POST; returns its base URL and a handle that stops it.
pub fn http_server(workers: usize, body_len: usize) -> (String, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // a JSON object padded to the size of a `/user/_details` answer
    let pad = "x".repeat(body_len.saturating_sub(12));
    let body: &'static str = Box::leak(format!("{{\"pad\":\"{pad}\"}}").into_boxed_str());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(move || {
                actix_web::App::new().default_service(actix_web::web::to(move || async move {
                    actix_web::HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }))
            })
            .workers(workers)
            .listen(listener)
            .unwrap()
            .run();
            tx.send(server.handle()).unwrap();
            let _ = server.await;
        });
    });
    (url, rx.recv().unwrap())
}

/// Raw argon2id verifications per second with the service's parameters (m = 19 MiB, t = 2, p = 1) on
/// `threads` threads, each with its own preallocated memory, for `duration`.
pub fn argon2_per_sec(threads: usize, duration: Duration) -> f64 {
    let params = Params::new(19_456, 2, 1, Some(32)).unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (done, stop, params) = (done.clone(), stop.clone(), params.clone());
            std::thread::spawn(move || {
                let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
                let mut memory = vec![argon2::Block::default(); params.block_count()];
                let mut out = [0u8; 32];
                while !stop.load(Ordering::Relaxed) {
                    argon
                        .hash_password_into_with_memory(
                            b"Abcdef1@",
                            b"a salt of 16 b..",
                            &mut out,
                            &mut memory,
                        )
                        .unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// sled writes of `record_len` bytes, each made durable with a flush, by one writer, per second: what the
/// disk gives an OTP send that waits for its own flush.
pub fn fsync_per_sec(record_len: usize, duration: Duration) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path().join("db"))
        .flush_every_ms(None)
        .open()
        .unwrap();
    let tree = db.open_tree("bench").unwrap();
    // the service's acknowledgement: sled's flush, then an fdatasync of its log (actors' `DiskSync`)
    let log = std::fs::File::open(dir.path().join("db").join("db")).unwrap();
    let value = vec![7u8; record_len];
    let started = Instant::now();
    let mut n: u64 = 0;
    while started.elapsed() < duration {
        let mut batch = sled::Batch::default();
        batch.insert(&n.to_be_bytes(), value.as_slice());
        tree.apply_batch(batch).unwrap();
        db.flush().unwrap();
        log.sync_data().unwrap();
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}
