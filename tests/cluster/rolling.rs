//! Under a mixed load (`load.rs`: logins, `_details`, searches, OTP sends and validations through every
//! running pod): a rolling restart of all three pods, one at a time with SIGTERM, then a SIGKILL and the
//! killed pod's return. Nothing is answered wrongly; the retryable 503s are counted, and per handover
//! the longest window in which a moved partition answered 503 is reported.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::failover::{post_retrying, spread_over};
use crate::load::{MixedLoad, Recorded, retryable_by_code, tally};
use crate::node::{LocalCluster, employee};

/// One move: what happened, from when to when the group had settled again.
struct Phase {
    what: String,
    from: Instant,
    to: Instant,
}

#[test]
fn a_rolling_restart_and_a_kill_under_a_mixed_load_answer_nothing_wrong() {
    // every OTP send of the load comes from one client address, to a few ranges of numbers
    let mut c = LocalCluster::start_with(
        3,
        0,
        &[
            ("DIGIT_USER__OTP__MAX_SENDS_PER_IP_PER_HOUR", "1000000"),
            ("DIGIT_USER__OTP__MAX_SENDS_PER_PREFIX", "1000000"),
            ("DIGIT_USER__OTP__MAX_SENDS_PER_STATE", "1000000"),
        ],
    );
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
    let mut users = Vec::new();
    for i in 0..12 {
        let name = format!("ROLLUSER{i:02}");
        let (code, body, _) = post_retrying(
            &format!("{}/user/users/_createnovalidate", c.nodes[i % 3].base),
            &json!({"RequestInfo": {}, "user": employee(&name, &format!("98765022{i:02}"))}),
        );
        assert_eq!(code, 200, "{body}");
        users.push((name, body["user"][0]["uuid"].as_str().unwrap().to_owned()));
    }
    let load = MixedLoad::start(&c, &users, 3);
    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();

    let mut phases = Vec::new();
    let mut phase = |what: String, from: Instant| {
        phases.push(Phase {
            what,
            from,
            to: Instant::now(),
        })
    };
    for pod in 0..3u16 {
        let others: Vec<u16> = (0..3).filter(|o| *o != pod).collect();
        let from = Instant::now();
        c.stop(pod);
        spread_over(&c, &others, Duration::from_secs(60));
        phase(format!("pod {pod} leaves (SIGTERM)"), from);
        let from = Instant::now();
        c.start_node(pod);
        spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
        phase(format!("pod {pod} joins"), from);
    }
    let rolled = Instant::now();
    let from = Instant::now();
    c.kill(1);
    spread_over(&c, &[0, 2], Duration::from_secs(60));
    phase("pod 1 killed (SIGKILL)".into(), from);
    let killed_at = from;
    let from = Instant::now();
    let back_at = from;
    c.start_node(1);
    // after it rejoins, the load spreads again
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
    phase("pod 1 back".into(), from);
    std::thread::sleep(Duration::from_secs(1));
    let recorded = load.stop();

    for p in &phases {
        let answers = recorded.between(p.from, p.to);
        let t = tally(&answers);
        let windows = Recorded::windows(&answers);
        let longest = windows.values().max().copied().unwrap_or_default();
        eprintln!(
            "{}: settled after {:.1} s; {} answers, {} retryable 503s, {} wrong; longest 503 window {:.2} s over {} partitions",
            p.what,
            (p.to - p.from).as_secs_f64(),
            t.answers,
            t.retryable,
            t.wrong,
            longest.as_secs_f64(),
            windows.len()
        );
    }
    // the killed pod's partitions: from the kill until each answered right again (the group may go on
    // rebalancing among the others after that; "settled" above counts it)
    let killed = Recorded::served_again(&recorded.between(killed_at, back_at), killed_at);
    eprintln!(
        "the killed pod's partitions answered right again {:.1} s after the kill",
        killed.as_secs_f64()
    );
    let rolling = tally(&recorded.between(started, rolled));
    eprintln!(
        "retryable answers by code, rolling restart: {:?}; kill and return: {:?}",
        retryable_by_code(&recorded.between(started, rolled)),
        retryable_by_code(&recorded.between(rolled, Instant::now()))
    );
    let all = tally(&recorded.between(started, Instant::now()));
    eprintln!(
        "rolling restart of three pods: {} answers, {} retryable 503s ({:.3} %), {} wrong; with the kill: {} answers, {} retryable ({:.3} %), {} wrong",
        rolling.answers,
        rolling.retryable,
        100.0 * rolling.retryable as f64 / rolling.answers.max(1) as f64,
        rolling.wrong,
        all.answers,
        all.retryable,
        100.0 * all.retryable as f64 / all.answers.max(1) as f64,
        all.wrong
    );
    eprintln!(
        "longest wait for an SMS after its send was acknowledged: {:.1} s",
        recorded.longest_sms_delay().as_secs_f64()
    );
    assert!(rolling.answers > 200, "the load ran: {rolling:?}");
    // measured 0.1 s; 16.5 s while a replay could overwrite another partition's outbox key
    assert!(
        recorded.longest_sms_delay() <= Duration::from_secs(10),
        "an SMS waited {:?} after its send was acknowledged",
        recorded.longest_sms_delay()
    );
    assert_eq!(all.wrong, 0, "no wrong and no non-retryable answer");
    // target 0.1 % (measured 0.014–0.066 %: a request the handover overtook is served again by the next
    // owner); five times the target for a loaded CI machine
    assert!(
        rolling.retryable * 1000 <= rolling.answers * 5,
        "retryable 503s in the rolling restart: {rolling:?}"
    );
    // target 10 s: the session timeout (6 s), tansu's rebalance (one or two rounds) and the takeover;
    // measured 8.4–15.4 s, slack for a loaded CI machine
    assert!(
        killed <= Duration::from_secs(20),
        "the killed pod's partitions answered 503 for {killed:?}"
    );
}
