//! Key rotation in a sharded deployment: the keys are files every pod reads (as from a mounted Secret),
//! `admin rotate-keys --add` appends a new key to each list, every pod loads them, then promotes them, then
//! re-seals. A token of a login before verifies on every pod, a code sent before logs in, every pod's values
//! (standby copies included, through the journal) end under the new sealing key, and so do the journal's
//! latest values.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::failover::spread_over;
use crate::node::{LocalCluster, employee, employee_login, post, token};

fn keys_of(internal: &str) -> Value {
    reqwest::blocking::get(format!("{internal}/admin/keys?count=true"))
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn keys_rotate_on_every_pod_logging_nobody_out() {
    let secrets = tempfile::tempdir().unwrap();
    let b64 = |byte: u8| base64::engine::general_purpose::STANDARD.encode([byte; 32]);
    let file = |name: &str, text: String| {
        let path = secrets.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let (sealing, token_key, pepper) = (
        file("sealing", format!("1:{}", b64(11))),
        file("token", b64(13)),
        file("pepper", b64(14)),
    );
    // the pods read the lists from the files (an empty variable is no value)
    let c = LocalCluster::start_with(
        3,
        0,
        &[
            ("DIGIT_USER_SEALING_KEYS", ""),
            ("DIGIT_USER_SEALING_KEYS_FILE", &sealing),
            ("DIGIT_USER_TOKEN_KEY", ""),
            ("DIGIT_USER_TOKEN_KEY_FILE", &token_key),
            ("DIGIT_USER_OTP_PEPPER", ""),
            ("DIGIT_USER_OTP_PEPPER_FILE", &pepper),
        ],
    );
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
    let (status, body) = post(
        &format!("{}/user/users/_createnovalidate", c.nodes[0].internal),
        &json!({"user": employee("EMP-ROT-C", "9000000071")}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, login) = employee_login(&c.nodes[1].base, "EMP-ROT-C", "Asha@12345");
    assert_eq!(status, 200, "{login}");
    let access = login["access_token"].as_str().unwrap().to_owned();
    let citizen = "9720000071";
    let (status, body) = post(
        &format!("{}/user/users/_createnovalidate", c.nodes[0].internal),
        &json!({"user": {"userName": citizen, "name": "Citizen", "mobileNumber": citizen, "type": "CITIZEN",
                         "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &format!("{}/user-otp/v1/_send", c.nodes[2].base),
        &json!({"otp": {"mobileNumber": citizen, "tenantId": "pb", "type": "login", "userType": "citizen"}}),
    );
    assert_eq!(status, 201, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(code) = c.last_code_to(citizen) {
            break code;
        }
        assert!(Instant::now() < deadline, "no code sent");
        std::thread::sleep(Duration::from_millis(100));
    };

    let (ok, out, err) = c.admin(&["rotate-keys", "--add", "--url", &c.nodes[0].internal]);
    assert!(ok, "{out}{err}");
    println!("rotate-keys said:\n{out}");
    assert!(
        out.contains("3 pod(s) use sealing key 2, token key 2, OTP pepper 2"),
        "{out}"
    );
    assert!(
        out.contains("nothing here is sealed under key(s) [1] any more"),
        "{out}"
    );
    assert!(
        out.contains(
            "journal (every partition from its earliest offset): latest values by sealing key {2: "
        ),
        "the journal's latest values are all under the new key: {out}"
    );
    for node in &c.nodes {
        let keys = keys_of(&node.internal);
        for list in ["sealing", "token", "pepper"] {
            assert_eq!(
                keys["keys"][list]["current"], 2,
                "{list} on {}: {keys}",
                node.internal
            );
        }
        // nobody logged out, whichever pod answers
        let (status, body) = post(
            &format!("{}/user/_details?access_token={access}", node.base),
            &json!({}),
        );
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = token(
        &c.nodes[2].base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", login["refresh_token"].as_str().unwrap()),
        ],
    );
    assert_eq!(status, 200, "a session from before refreshes: {body}");
    let (status, body) = token(
        &c.nodes[1].base,
        &[
            ("grant_type", "password"),
            ("username", citizen),
            ("password", &code),
            ("tenantId", "pb"),
            ("userType", "CITIZEN"),
            ("scope", "read"),
        ],
    );
    assert_eq!(status, 200, "a code sent before logs in: {body}");
    // the standbys' copies follow their owners' re-sealing through the journal
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let old: Vec<Value> = c
            .nodes
            .iter()
            .map(|n| keys_of(&n.internal)["sealedByKey"].clone())
            .filter(|by_key| by_key.get("1").is_some())
            .collect();
        if old.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "values still under key 1: {old:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
