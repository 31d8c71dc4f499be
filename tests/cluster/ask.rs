//! Asking the cluster as a client of the group would: a retryable 503 asked again, the owner of a key as
//! the pods route it, the answers' uuids, a code from the SMS the pods wrote.

use std::time::{Duration, Instant};

use actors::partition::home_partition;
use serde_json::{Value, json};

use crate::failover::{post_retrying, status};
use crate::node::{LocalCluster, PARTITIONS, token as token_once};

/// POSTs as a client of the group would: a retryable 503 (a partition moving for a moment — tansu may
/// rebalance again after the group looked settled) is asked again, for 10 s at most; (status, body).
pub(crate) fn post(url: &str, body: &Value) -> (u16, Value) {
    let (status, body, _) = post_retrying(url, body);
    (status, body)
}

/// [`post`] for `/user/oauth/token`.
pub(crate) fn token(base: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = token_once(base, form);
        if status != 503 || Instant::now() > deadline {
            return (status, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The pod serving (pb, name) now, as pod 0 routes it.
pub(crate) fn owner_of(c: &LocalCluster, name: &str) -> u16 {
    let partition = home_partition("pb", name, PARTITIONS).0;
    let routes = &status(c, 0)["group"]["routes"];
    let ordinal = routes[partition.to_string()]["ordinal"].as_u64();
    u16::try_from(ordinal.expect("every partition routed")).unwrap()
}

pub(crate) fn search(base: &str, criteria: Value) -> (u16, Value) {
    post(&format!("{base}/user/v1/_search"), &criteria)
}

pub(crate) fn uuids(body: &Value) -> Vec<String> {
    body["user"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|u| u["uuid"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn login(
    base: &str,
    user: &str,
    password: &str,
    tenant: &str,
    kind: &str,
) -> (u16, Value) {
    token(
        base,
        &[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("tenantId", tenant),
            ("userType", kind),
            ("scope", "read"),
        ],
    )
}

pub(crate) fn details(base: &str, access: &str) -> u16 {
    post(
        &format!("{base}/user/_details?access_token={access}"),
        &json!({}),
    )
    .0
}

/// Waits for an SMS code to `mobile` other than `not`.
pub(crate) fn wait_code(c: &LocalCluster, mobile: &str, not: Option<&str>) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(code) = c.last_code_to(mobile)
            && Some(code.as_str()) != not
        {
            return code;
        }
        assert!(
            Instant::now() < deadline,
            "no sms to {mobile}: {:?}",
            c.nodes
                .iter()
                .map(
                    |n| std::fs::read_to_string(n.data_dir().join("notifications.jsonl"))
                        .unwrap_or_default()
                )
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
