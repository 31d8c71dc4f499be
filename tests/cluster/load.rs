//! A mixed client load for the group tests, as DIGIT's clients make it: password logins, `_details` with
//! the token got, searches by userName, OTP sends and their validations — through every running pod,
//! round robin. Each answer is recorded with the partition it is about, and judged: right, retryable (a
//! 503; or a 408, the server's own request timeout, which a client retries and a starved test machine
//! sometimes gives), or wrong (any other answer, or a 200 that says something untrue). A pod that does not answer at
//! all (stopped, killed) is skipped as a client would skip it.
//!
//! [`Recorded::windows`] gives, per partition, the longest stretch from a 503 to the next right answer
//! for it: how long that partition was unavailable to clients during a move.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actors::partition::home_partition;
use serde_json::{Value, json};

use crate::node::{LocalCluster, PARTITIONS};

/// Longest an acknowledged send's SMS may take to arrive before it counts as lost.
const SMS_WAIT: Duration = Duration::from_secs(30);

/// How one answer was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Right,
    Retryable,
    Wrong,
}

/// One answer.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub at: Instant,
    /// The partition the request was about (`None`: any pod answers it alone, e.g. `_details`).
    pub partition: Option<u16>,
    pub verdict: Verdict,
    /// A retryable answer's error code, as its shape names it.
    pub why: Option<String>,
}

/// Every answer so far.
#[derive(Default, Clone)]
pub(crate) struct Recorded(Arc<Mutex<Vec<Answer>>>, Arc<Mutex<Duration>>);

impl Recorded {
    fn push(&self, answer: Answer) {
        self.0.lock().unwrap().push(answer);
    }

    fn sms_delay(&self, delay: Duration) {
        let mut longest = self.1.lock().unwrap();
        *longest = (*longest).max(delay);
    }

    /// The longest an SMS took to arrive after its send was acknowledged.
    pub(crate) fn longest_sms_delay(&self) -> Duration {
        *self.1.lock().unwrap()
    }

    /// The answers between `from` and `to`.
    pub(crate) fn between(&self, from: Instant, to: Instant) -> Vec<Answer> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.at >= from && a.at < to)
            .cloned()
            .collect()
    }

    /// Per partition with a 503 among `answers`, the longest stretch from a 503 to the next right
    /// answer about that partition (or to the last answer, if none came).
    pub(crate) fn windows(answers: &[Answer]) -> BTreeMap<u16, Duration> {
        let mut open: BTreeMap<u16, Instant> = BTreeMap::new();
        let mut longest: BTreeMap<u16, Duration> = BTreeMap::new();
        let last = answers.iter().map(|a| a.at).max();
        for a in answers {
            let Some(p) = a.partition else { continue };
            match a.verdict {
                Verdict::Retryable => {
                    open.entry(p).or_insert(a.at);
                }
                Verdict::Right => {
                    if let Some(since) = open.remove(&p) {
                        let w = longest.entry(p).or_default();
                        *w = (*w).max(a.at - since);
                    }
                }
                Verdict::Wrong => {}
            }
        }
        for (p, since) in open {
            let w = longest.entry(p).or_default();
            *w = (*w).max(last.unwrap_or(since) - since);
        }
        longest
    }

    /// How long after `since` every partition that answered a retryable 503 answered right again (a
    /// partition still not answered right counts to the last answer): what a kill at `since` cost.
    pub(crate) fn served_again(answers: &[Answer], since: Instant) -> Duration {
        let mut sorted: Vec<&Answer> = answers.iter().filter(|a| a.at >= since).collect();
        sorted.sort_by_key(|a| a.at);
        let last = sorted.last().map_or(since, |a| a.at);
        let mut waiting: BTreeMap<u16, ()> = BTreeMap::new();
        let mut served = Duration::ZERO;
        for a in sorted {
            let Some(p) = a.partition else { continue };
            match a.verdict {
                Verdict::Retryable => {
                    waiting.insert(p, ());
                }
                Verdict::Right if waiting.remove(&p).is_some() => {
                    served = served.max(a.at - since);
                }
                _ => {}
            }
        }
        if !waiting.is_empty() {
            served = served.max(last - since);
        }
        served
    }
}

/// Counts of a stretch of answers.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub answers: usize,
    pub retryable: usize,
    pub wrong: usize,
}

/// How many retryable answers each error code had.
pub(crate) fn retryable_by_code(answers: &[Answer]) -> BTreeMap<String, usize> {
    let mut by_code = BTreeMap::new();
    for why in answers
        .iter()
        .filter(|a| a.verdict == Verdict::Retryable)
        .filter_map(|a| a.why.clone())
    {
        *by_code.entry(why).or_default() += 1;
    }
    by_code
}

/// The error code of an answer in any of the contract's shapes (`Errors[0].code`, user-otp's
/// `error.fields[0].code`, OAuth's `error`), else its status.
fn error_code(status: u16, body: &Value) -> String {
    [
        &body["Errors"][0]["code"],
        &body["error"]["fields"][0]["code"],
        &body["error"],
    ]
    .into_iter()
    .find_map(|v| v.as_str())
    .map_or_else(|| status.to_string(), str::to_owned)
}

pub(crate) fn tally(answers: &[Answer]) -> Tally {
    Tally {
        answers: answers.len(),
        retryable: answers
            .iter()
            .filter(|a| a.verdict == Verdict::Retryable)
            .count(),
        wrong: answers
            .iter()
            .filter(|a| a.verdict == Verdict::Wrong)
            .count(),
    }
}

/// The running load.
pub(crate) struct MixedLoad {
    stop: Arc<AtomicBool>,
    clients: Vec<std::thread::JoinHandle<()>>,
    pub recorded: Recorded,
}

/// What one client works with.
struct Client {
    bases: Vec<String>,
    data_dirs: Vec<PathBuf>,
    /// Its employees: (userName, uuid).
    users: Vec<(String, String)>,
    /// Its first mobile number for OTP sends (each send takes the next).
    mobile: u64,
    recorded: Recorded,
}

impl MixedLoad {
    /// `clients` threads over `c`'s pods; client `i` logs in as `users[j]` with `j % clients == i`
    /// (every employee's password is `Asha@12345`).
    pub(crate) fn start(c: &LocalCluster, users: &[(String, String)], clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let recorded = Recorded::default();
        let handles = (0..clients)
            .map(|i| {
                let client = Client {
                    bases: c.nodes.iter().map(|n| n.base.clone()).collect(),
                    data_dirs: c.nodes.iter().map(|n| n.data_dir().to_path_buf()).collect(),
                    users: users.iter().skip(i).step_by(clients).cloned().collect(),
                    mobile: 9_100_000_000 + 100_000 * i as u64,
                    recorded: recorded.clone(),
                };
                let stop = stop.clone();
                std::thread::spawn(move || client.run(&stop))
            })
            .collect();
        Self {
            stop,
            clients: handles,
            recorded,
        }
    }

    /// Stops the clients and waits for them.
    pub(crate) fn stop(self) -> Recorded {
        self.stop.store(true, Ordering::SeqCst);
        for c in self.clients {
            c.join().unwrap();
        }
        self.recorded
    }
}

/// A request's answer: (status, body), `None` when nothing answered.
fn send(request: reqwest::blocking::RequestBuilder) -> Option<(u16, Value)> {
    let resp = request.timeout(Duration::from_secs(10)).send().ok()?;
    let code = resp.status().as_u16();
    Some((code, resp.json().unwrap_or(Value::Null)))
}

impl Client {
    fn run(mut self, stop: &AtomicBool) {
        let http = reqwest::blocking::Client::new();
        // a client logs in again now and then, and otherwise uses the token it has
        let mut tokens: BTreeMap<String, String> = BTreeMap::new();
        let mut n = 0usize;
        while !stop.load(Ordering::SeqCst) {
            let (name, uuid) = self.users[n % self.users.len()].clone();
            let home = Some(home_partition("pb", &name, PARTITIONS).0);
            let turn = n;
            n += 1;
            let base = |k: usize| self.bases[(turn + k) % self.bases.len()].clone();

            if turn % (4 * self.users.len()) < self.users.len() || !tokens.contains_key(&name) {
                let login = send(
                    http.post(format!("{}/user/oauth/token", base(0)))
                        .basic_auth("egov-user-client", Some(""))
                        .form(&[
                            ("grant_type", "password"),
                            ("username", name.as_str()),
                            ("password", "Asha@12345"),
                            ("tenantId", "pb.amritsar"),
                            ("userType", "EMPLOYEE"),
                            ("scope", "read"),
                        ]),
                );
                let Some(body) = self.judge("login", home, login, |b| {
                    b["access_token"].is_string() && b["UserRequest"]["uuid"] == uuid
                }) else {
                    continue;
                };
                tokens.insert(
                    name.clone(),
                    body["access_token"].as_str().unwrap().to_owned(),
                );
            }
            let token = &tokens[&name];
            let details =
                send(http.post(format!("{}/user/_details?access_token={token}", base(1))));
            self.judge("_details", None, details, |b| b["uuid"] == uuid);

            let found = send(
                http.post(format!("{}/user/v1/_search", base(2)))
                    .json(&json!({"userName": name, "tenantId": "pb.amritsar"})),
            );
            self.judge("search", home, found, |b| {
                b["user"].as_array().is_some_and(|u| u.len() == 1) && b["user"][0]["uuid"] == uuid
            });

            if n.is_multiple_of(3) {
                self.otp(&http, n);
            }
        }
    }

    /// A register code sent to a new number, read from the pods' files and validated.
    fn otp(&mut self, http: &reqwest::blocking::Client, n: usize) {
        self.mobile += 1;
        let mobile = self.mobile.to_string();
        let session = Some(home_partition("pb", &mobile, PARTITIONS).0);
        let base = |k: usize| self.bases[(n + k) % self.bases.len()].clone();
        let sent =
            send(http.post(format!("{}/user-otp/v1/_send", base(0))).json(
                &json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": "register"}}),
            ));
        if self
            .judge_status("otp send", session, sent.as_ref(), 201)
            .is_none()
        {
            return;
        }
        // an SMS waits at most until the partition's next owner has it (a move under way)
        let sent_at = Instant::now();
        let code = loop {
            let codes = self.codes_to(&mobile);
            if codes.len() > 1 {
                // a code that never counted went out beside the one that did (an SMS sent for a write
                // the journal refused)
                eprintln!(
                    "{} different codes sent to {mobile} (partition {session:?}) for one send",
                    codes.len()
                );
                self.record(
                    session,
                    Verdict::Wrong,
                    Some("two codes for one send".into()),
                );
                return;
            }
            if let Some(code) = codes.into_iter().next() {
                break code;
            }
            if sent_at.elapsed() >= SMS_WAIT {
                eprintln!("no SMS to {mobile} within {SMS_WAIT:?} of an acknowledged send");
                self.record(session, Verdict::Wrong, None);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let delay = sent_at.elapsed();
        if delay > Duration::from_secs(2) {
            eprintln!("SMS to {mobile} (partition {session:?}) came {delay:?} after its send");
        }
        self.recorded.sms_delay(delay);
        let validated = send(
            http.post(format!("{}/otp/v1/_validate", base(1)))
                .json(&json!({"otp": {"otp": code, "identity": mobile, "tenantId": "pb"}})),
        );
        self.judge("otp validate", session, validated, |b| {
            b["otp"]["isValidationSuccessful"] == true
        });
    }

    /// The distinct codes of the SMS to `mobile` in the pods' files.
    fn codes_to(&self, mobile: &str) -> BTreeSet<String> {
        self.data_dirs
            .iter()
            .filter_map(|dir| std::fs::read_to_string(dir.join("notifications.jsonl")).ok())
            .flat_map(|text| {
                text.lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .filter(|n| n["payload"]["mobileNumber"] == mobile)
                    .filter_map(|n| {
                        n["payload"]["message"]
                            .as_str()?
                            .split(|c: char| !c.is_ascii_digit())
                            .find(|run| run.len() == 6)
                            .map(str::to_owned)
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Records an answer that must be a 200 whose body passes `right`; the body when it was.
    fn judge(
        &self,
        what: &'static str,
        partition: Option<u16>,
        answer: Option<(u16, Value)>,
        right: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let (code, body) = answer?;
        let verdict = match code {
            200 if right(&body) => Verdict::Right,
            503 | 408 => Verdict::Retryable,
            _ => {
                eprintln!("wrong answer to {what} (partition {partition:?}): {code} {body}");
                Verdict::Wrong
            }
        };
        let why = match verdict {
            Verdict::Retryable => Some(error_code(code, &body)),
            Verdict::Wrong => Some(format!("{what} answered {code}")),
            Verdict::Right => None,
        };
        self.record(partition, verdict, why);
        (verdict == Verdict::Right).then_some(body)
    }

    fn judge_status(
        &self,
        what: &'static str,
        partition: Option<u16>,
        answer: Option<&(u16, Value)>,
        expected: u16,
    ) -> Option<()> {
        let (code, body) = answer?;
        let verdict = match *code {
            c if c == expected => Verdict::Right,
            503 | 408 => Verdict::Retryable,
            _ => {
                eprintln!("wrong answer to {what} (partition {partition:?}): {code} {body}");
                Verdict::Wrong
            }
        };
        let why = match verdict {
            Verdict::Retryable => Some(error_code(*code, body)),
            Verdict::Wrong => Some(format!("{what} answered {code}")),
            Verdict::Right => None,
        };
        self.record(partition, verdict, why);
        (verdict == Verdict::Right).then_some(())
    }

    fn record(&self, partition: Option<u16>, verdict: Verdict, why: Option<String>) {
        self.recorded.push(Answer {
            at: Instant::now(),
            partition,
            verdict,
            why,
        });
    }
}

#[test]
fn a_window_runs_from_a_503_to_the_next_right_answer_about_its_partition() {
    let t0 = Instant::now();
    let at = |ms: u64, partition: u16, verdict: Verdict| Answer {
        at: t0 + Duration::from_millis(ms),
        partition: Some(partition),
        verdict,
        why: (verdict == Verdict::Retryable).then(|| "PARTITION_MOVING".to_owned()),
    };
    let answers = vec![
        at(0, 1, Verdict::Right),
        at(100, 1, Verdict::Retryable),
        at(300, 2, Verdict::Retryable),
        at(400, 1, Verdict::Retryable),
        at(900, 1, Verdict::Right),
        at(1000, 1, Verdict::Retryable),
        at(1200, 1, Verdict::Right),
        at(2300, 3, Verdict::Right),
    ];
    let windows = Recorded::windows(&answers);
    assert_eq!(windows[&1], Duration::from_millis(800), "the longer of two");
    assert_eq!(
        windows[&2],
        Duration::from_millis(2000),
        "never answered again: open to the last answer"
    );
    assert!(!windows.contains_key(&3));
    // from the start: partition 1 right again at 1.2 s, partition 2 never (to the last answer, 2.3 s)
    assert_eq!(
        Recorded::served_again(&answers, t0),
        Duration::from_millis(2300)
    );
    assert_eq!(
        Recorded::served_again(&answers[..7], t0),
        Duration::from_millis(1200),
        "partition 2 still waiting counts to the last answer, 1.2 s"
    );
    assert_eq!(
        Recorded::served_again(&answers, t0 + Duration::from_millis(950)),
        Duration::from_millis(250),
        "only what came after: partition 1's 503 at 1.0 s, right at 1.2 s"
    );
    assert_eq!(
        retryable_by_code(&answers),
        [("PARTITION_MOVING".to_owned(), 4)].into_iter().collect()
    );
    assert_eq!(
        error_code(503, &json!({"error": "temporarily_unavailable"})),
        "temporarily_unavailable"
    );
    assert_eq!(
        error_code(
            503,
            &json!({"error": {"fields": [{"code": "OTP.UNAVAILABLE"}]}})
        ),
        "OTP.UNAVAILABLE"
    );
    assert_eq!(error_code(408, &Value::Null), "408");
    assert_eq!(
        tally(&answers),
        Tally {
            answers: 8,
            retryable: 4,
            wrong: 0
        }
    );
}
