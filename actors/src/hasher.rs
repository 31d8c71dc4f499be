//! The password hasher pool: argon2id hashing and verification off the async threads.
//!
//! A `SyncArbiter` runs `threads` [`Hasher`] actors, each owning one preallocated argon2 memory block that it
//! reuses for every request (no 19 MiB allocation per hash). A semaphore in front of the pool bounds the
//! requests queued or running; when it is exhausted [`HasherPool`] answers [`HasherError::Busy`] at once, and
//! the HTTP layer turns that into a 503, instead of letting a login storm queue without limit.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::metrics as m;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory, KiB (OWASP: 19456).
    pub m_kib: u32,
    /// Iterations (OWASP: 2).
    pub t: u32,
    /// Lanes (OWASP: 1).
    pub p: u32,
}

impl HashCost {
    /// OWASP's argon2id recommendation: m = 19 MiB, t = 2, p = 1.
    pub const OWASP: Self = Self {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };
}

/// Why hashing or verifying failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HasherError {
    /// Too many requests queued or running.
    #[error("the password hasher is saturated")]
    Busy,
    /// No answer in time.
    #[error("the password hasher did not answer in time")]
    Timeout,
    /// The pool is gone (shutting down).
    #[error("the password hasher is not running")]
    Stopped,
    /// Invalid parameters or an unreadable stored hash.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Wrong password.
    Mismatch,
    /// Right password; the stored hash is current.
    Match,
    /// Right password, but the stored hash is an imported bcrypt one: store a fresh argon2id hash.
    MatchNeedsRehash,
}

impl Verdict {
    /// Whether the password was right.
    pub fn matched(self) -> bool {
        self != Self::Mismatch
    }
}

/// A single-threaded argon2id hasher holding its memory block.
pub struct PasswordHasher {
    params: Params,
    memory: Vec<Block>,
}

impl PasswordHasher {
    /// A hasher for `cost`, allocating its memory once.
    pub fn new(cost: HashCost) -> Result<Self, HasherError> {
        let params = Params::new(cost.m_kib, cost.t, cost.p, Some(32))
            .map_err(|e| HasherError::Hash(e.to_string()))?;
        let memory = vec![Block::default(); params.block_count()];
        Ok(Self { params, memory })
    }

    /// Hashes `password` with a fresh salt into a PHC string (`$argon2id$v=19$m=…`).
    pub fn hash(&mut self, password: &str) -> Result<String, HasherError> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| HasherError::Hash(e.to_string()))?;
        let params = self.params.clone();
        let out = self.raw(password, &salt, &params)?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params)
                .map_err(|e| HasherError::Hash(e.to_string()))?,
            salt: Some(Salt::new(&salt).map_err(|e| HasherError::Hash(e.to_string()))?),
            hash: Some(Output::new(&out[..]).map_err(|e| HasherError::Hash(e.to_string()))?),
        };
        Ok(phc.to_string())
    }

    /// Checks `password` against `stored`: an argon2id PHC string, or a bcrypt hash imported from DIGIT
    /// (`$2a$`, `$2b$`, `$2y$`), which asks for a rehash when it matches.
    pub fn check(&mut self, password: &str, stored: &str) -> Result<Verdict, HasherError> {
        if ["$2a$", "$2b$", "$2y$"]
            .iter()
            .any(|p| stored.starts_with(p))
        {
            let ok =
                bcrypt::verify(password, stored).map_err(|e| HasherError::Hash(e.to_string()))?;
            return Ok(if ok {
                Verdict::MatchNeedsRehash
            } else {
                Verdict::Mismatch
            });
        }
        Ok(if self.verify(password, stored)? {
            Verdict::Match
        } else {
            Verdict::Mismatch
        })
    }

    /// Spends the time of a real verification on a dummy hash, so an unknown user answers as slowly as a
    /// known one. Always a mismatch.
    pub fn verify_dummy(&mut self, password: &str) -> Verdict {
        let salt = [0x5a; 16];
        let params = self.params.clone();
        let _ = self.raw(password, &salt, &params);
        Verdict::Mismatch
    }

    /// Whether `password` matches the argon2id PHC string `stored`, compared in constant time.
    pub fn verify(&mut self, password: &str, stored: &str) -> Result<bool, HasherError> {
        let phc = PasswordHash::new(stored).map_err(|e| HasherError::Hash(e.to_string()))?;
        if phc.algorithm != Algorithm::Argon2id.ident() {
            return Err(HasherError::Hash("not an argon2id hash".into()));
        }
        let params = Params::try_from(&phc).map_err(|e| HasherError::Hash(e.to_string()))?;
        let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
            return Err(HasherError::Hash("hash without salt or output".into()));
        };
        let out = self.raw(password, salt.as_ref(), &params)?;
        Ok(out[..].ct_eq(expected.as_bytes()).into())
    }

    fn raw(
        &mut self,
        password: &str,
        salt: &[u8],
        params: &Params,
    ) -> Result<Zeroizing<Vec<u8>>, HasherError> {
        let mut out = Zeroizing::new(vec![0u8; params.output_len().unwrap_or(32)]);
        let blocks = params.block_count();
        if self.memory.len() < blocks {
            // A stored hash with a higher memory cost than configured: grow once and keep the block.
            self.memory.resize(blocks, Block::default());
        }
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut out,
                &mut self.memory[..blocks],
            )
            .map_err(|e| HasherError::Hash(e.to_string()))?;
        Ok(out)
    }
}

/// Hash a password.
#[derive(Message)]
#[rtype(result = "Result<String, HasherError>")]
pub struct HashPassword(pub Zeroizing<String>);

/// Check a password against a stored hash (argon2id or imported bcrypt); `None` = unknown user, checked
/// against a dummy so the time taken does not tell.
#[derive(Message)]
#[rtype(result = "Result<Verdict, HasherError>")]
pub struct VerifyPassword {
    /// The candidate password.
    pub password: Zeroizing<String>,
    /// The stored hash, if the user exists and has one.
    pub stored: Option<String>,
}

/// One hasher thread of the pool.
pub struct Hasher {
    inner: PasswordHasher,
    nice: i32,
}

impl Actor for Hasher {
    type Context = SyncContext<Self>;

    fn started(&mut self, _: &mut Self::Context) {
        lower_priority(self.nice);
    }
}

/// Lowers the calling thread's scheduling priority by `nice` (Linux: a thread is a task with its own nice
/// value). argon2 is meant to take what CPU is left, not to starve the request threads when logins spike;
/// the service's bulk threads (long searches) likewise.
pub fn lower_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    // SAFETY: gettid has no preconditions; setpriority only reads its arguments. A failure (e.g. a
    // seccomp policy) leaves the thread at its default priority, which is correct, only less fair.
    let rc = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
    };
    if rc != 0 {
        tracing::debug!("thread priority unchanged (setpriority failed)");
    }
}

impl Handler<HashPassword> for Hasher {
    type Result = Result<String, HasherError>;

    fn handle(&mut self, msg: HashPassword, _: &mut Self::Context) -> Self::Result {
        self.inner.hash(&msg.0)
    }
}

impl Handler<VerifyPassword> for Hasher {
    type Result = Result<Verdict, HasherError>;

    fn handle(&mut self, msg: VerifyPassword, _: &mut Self::Context) -> Self::Result {
        match &msg.stored {
            Some(stored) => self.inner.check(&msg.password, stored),
            None => Ok(self.inner.verify_dummy(&msg.password)),
        }
    }
}

/// The bounded pool in front of the hasher threads.
#[derive(Clone)]
pub struct HasherPool {
    addr: Addr<Hasher>,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl HasherPool {
    /// Starts `threads` hashers (each allocating its memory now) admitting at most `queue` requests at once.
    /// Must run inside an actix system.
    pub fn start(
        threads: usize,
        queue: usize,
        cost: HashCost,
        timeout: Duration,
    ) -> Result<Self, HasherError> {
        Self::start_with_priority(threads, queue, cost, timeout, 0)
    }

    /// [`Self::start`] with the hasher threads' priority lowered by `nice` (0 = unchanged).
    pub fn start_with_priority(
        threads: usize,
        queue: usize,
        cost: HashCost,
        timeout: Duration,
        nice: i32,
    ) -> Result<Self, HasherError> {
        PasswordHasher::new(cost)?; // fail here, not on the first login, if the cost is invalid
        let addr = SyncArbiter::start(threads.max(1), move || Hasher {
            inner: PasswordHasher::new(cost).expect("cost checked above"),
            nice,
        });
        Ok(Self {
            addr,
            permits: Arc::new(Semaphore::new(queue.max(1))),
            timeout,
        })
    }

    /// Hashes a password.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String, HasherError> {
        self.call("hash", HashPassword(password)).await?
    }

    /// Checks a password against a stored hash, or against a dummy when `stored` is `None`.
    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        stored: Option<String>,
    ) -> Result<Verdict, HasherError> {
        self.call("verify", VerifyPassword { password, stored })
            .await?
    }

    async fn call<M>(&self, op: &'static str, msg: M) -> Result<M::Result, HasherError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        Hasher: Handler<M>,
    {
        let Ok(permit) = self.permits.try_acquire() else {
            metrics::counter!(m::HASHER_REJECTED).increment(1);
            return Err(HasherError::Busy);
        };
        let depth = metrics::gauge!(m::HASHER_QUEUE_DEPTH);
        depth.increment(1.0);
        let started = std::time::Instant::now();
        let result = self.addr.send(msg).timeout(self.timeout).await;
        metrics::histogram!(m::HASHER_WAIT_SECONDS, "op" => op)
            .record(started.elapsed().as_secs_f64());
        depth.decrement(1.0);
        drop(permit);
        result.map_err(|e| match e {
            MailboxError::Timeout => HasherError::Timeout,
            MailboxError::Closed => HasherError::Stopped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashCost = HashCost {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    #[test]
    fn hash_then_verify() {
        let mut h = PasswordHasher::new(CHEAP).unwrap();
        let stored = h.hash("Abcdef1@").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{stored}"
        );
        assert!(!stored.contains("Abcdef1@"));
        assert!(h.verify("Abcdef1@", &stored).unwrap());
        assert!(!h.verify("Abcdef1#", &stored).unwrap());
    }

    #[test]
    fn same_password_gets_a_new_salt_each_time() {
        let mut h = PasswordHasher::new(CHEAP).unwrap();
        assert_ne!(h.hash("x").unwrap(), h.hash("x").unwrap());
    }

    #[test]
    fn hashes_made_with_other_costs_still_verify() {
        let stored = PasswordHasher::new(HashCost {
            m_kib: 128,
            t: 2,
            p: 1,
        })
        .unwrap()
        .hash("pw")
        .unwrap();
        assert!(
            PasswordHasher::new(CHEAP)
                .unwrap()
                .verify("pw", &stored)
                .unwrap()
        );
    }

    #[test]
    fn imported_bcrypt_hashes_verify_and_ask_for_a_rehash() {
        let mut h = PasswordHasher::new(CHEAP).unwrap();
        let imported = bcrypt::hash("Abcdef1@", 4).unwrap();
        assert!(imported.starts_with("$2b$"));
        assert_eq!(
            h.check("Abcdef1@", &imported).unwrap(),
            Verdict::MatchNeedsRehash
        );
        assert_eq!(h.check("wrong", &imported).unwrap(), Verdict::Mismatch);
        let a2a = imported.replacen("$2b$", "$2a$", 1);
        assert_eq!(
            h.check("Abcdef1@", &a2a).unwrap(),
            Verdict::MatchNeedsRehash,
            "DIGIT's $2a$ prefix"
        );
        let native = h.hash("Abcdef1@").unwrap();
        assert_eq!(h.check("Abcdef1@", &native).unwrap(), Verdict::Match);
    }

    #[test]
    fn the_dummy_never_matches_whatever_the_password() {
        // It runs the same argon2id computation with the configured parameters as a real verification
        // (`raw`), so it costs the same; timing is for the benches, not for unit tests.
        let mut h = PasswordHasher::new(CHEAP).unwrap();
        for pw in ["", "pw", "Abcdef1@", &"x".repeat(64)] {
            assert_eq!(h.verify_dummy(pw), Verdict::Mismatch);
        }
    }

    #[test]
    fn foreign_hashes_are_errors_not_matches() {
        let mut h = PasswordHasher::new(CHEAP).unwrap();
        assert!(
            h.verify("x", "$2a$10$abcdefghijklmnopqrstuu").is_err(),
            "verify takes argon2id only; check takes bcrypt"
        );
        assert!(h.verify("x", "garbage").is_err());
    }

    #[actix::test]
    async fn the_pool_answers_and_refuses_beyond_its_queue() {
        let pool = HasherPool::start(1, 1, CHEAP, Duration::from_secs(5)).unwrap();
        let stored = pool.hash(Zeroizing::new("pw".into())).await.unwrap();
        assert_eq!(
            pool.verify(Zeroizing::new("pw".into()), Some(stored.clone()))
                .await
                .unwrap(),
            Verdict::Match
        );
        assert_eq!(
            pool.verify(Zeroizing::new("pw".into()), None)
                .await
                .unwrap(),
            Verdict::Mismatch
        );
        // hold the only permit, the next request is refused at once
        let slow = HasherPool::start(
            1,
            1,
            HashCost {
                m_kib: 8 * 1024,
                t: 3,
                p: 1,
            },
            Duration::from_secs(5),
        )
        .unwrap();
        let first = {
            let slow = slow.clone();
            actix::spawn(async move { slow.hash(Zeroizing::new("a".into())).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(
            slow.hash(Zeroizing::new("b".into())).await,
            Err(HasherError::Busy)
        );
        assert!(first.await.unwrap().is_ok());
    }
}
