//! The abuse caps are the deployment's, not each pod's: one address spreading its OTP sends and its failed
//! logins over every pod meets the cap once (each key is counted at the owner of its partition).

use std::time::Duration;

use serde_json::json;

use crate::failover::spread_over;
use crate::node::{LocalCluster, employee_login, post};

const SENDS_PER_IP: usize = 6;
const FAILURES_PER_ADDRESS: usize = 5;

#[test]
fn one_address_spread_over_three_pods_gets_the_cap_once() {
    let c = LocalCluster::start_with(
        3,
        0,
        &[
            ("DIGIT_USER__OTP__MAX_SENDS_PER_IP_PER_HOUR", "6"),
            ("DIGIT_USER__LOGIN__MAX_FAILURES_PER_ADDRESS", "5"),
        ],
    );
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));

    // registration codes to 24 numbers of their own, each request to the next pod
    let mut answers = Vec::new();
    for i in 0..24usize {
        let pod = &c.nodes[i % 3];
        let body = json!({"otp": {"mobileNumber": format!("97{:08}", 1_000_003 * (i + 1)),
            "tenantId": "pb", "type": "register"}});
        let (status, reply) = post(&format!("{}/user-otp/v1/_send", pod.base), &body);
        assert!(matches!(status, 201 | 429), "{status} {reply}");
        answers.push(status);
    }
    assert_eq!(
        answers.iter().filter(|s| **s == 201).count(),
        SENDS_PER_IP,
        "every pod took a third of the sends: {answers:?}"
    );
    assert_eq!(
        &answers[..SENDS_PER_IP],
        &[201; SENDS_PER_IP],
        "the first sends pass, then every pod refuses: {answers:?}"
    );

    // wrong passwords for made-up employees, each request to the next pod
    let mut answers = Vec::new();
    for i in 0..15usize {
        let pod = &c.nodes[i % 3];
        let (status, reply) = employee_login(&pod.base, &format!("guess{i}"), "Wrong@12345");
        assert!(matches!(status, 400 | 401 | 429), "{status} {reply}");
        answers.push(status);
    }
    assert_eq!(
        answers.iter().filter(|s| **s != 429).count(),
        FAILURES_PER_ADDRESS,
        "failed logins from one address over three pods: {answers:?}"
    );
    assert_eq!(answers.last(), Some(&429), "{answers:?}");
}
