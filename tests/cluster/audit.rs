//! The audit trail in a sharded deployment: an event that arises on another pod than the user's (a
//! fanned-out search showing a masked field in clear) is written by the user's pod, and the trail is read
//! through any pod.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::ask::owner_of;
use crate::failover::spread_over;
use crate::node::{LocalCluster, post};

#[test]
fn a_plain_access_on_another_pod_lands_in_the_user_s_trail() {
    let c = LocalCluster::start(3, 0);
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
    let mobile = (0..)
        .map(|i| format!("97100{i:05}"))
        .find(|m| owner_of(&c, m) == 0)
        .unwrap();
    let (status, created) = post(
        &format!("{}/user/users/_createnovalidate", c.nodes[1].internal),
        &json!({"user": {"userName": mobile, "name": "Asha Devi", "mobileNumber": mobile, "type": "CITIZEN",
                         "tenantId": "pb", "active": true, "roles": [{"code": "CITIZEN"}]}}),
    );
    assert_eq!(status, 200, "{created}");
    let uuid = created["user"][0]["uuid"].as_str().unwrap().to_owned();
    // a search by name asks every pod; pod 2 (not the user's) masks the answer and grants the plain access
    let gro = json!({"userInfo": {"uuid": "aaaaaaaa-0000-4000-8000-00000000000c", "type": "EMPLOYEE",
                                  "roles": [{"code": "GRO"}]},
                     "plainAccessRequest": {"recordId": uuid, "plainRequestFields": ["mobileNumber"]}});
    let (status, found) = post(
        &format!("{}/user/_search", c.nodes[2].base),
        &json!({"RequestInfo": gro, "name": "Asha Devi", "tenantId": "pb"}),
    );
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["user"][0]["mobileNumber"], mobile.as_str());
    assert_eq!(found["user"][0]["name"], "A*** D***");
    // read through pod 1: routed to pod 0, which wrote it
    let deadline = Instant::now() + Duration::from_secs(20);
    let events = loop {
        let body: Value = reqwest::blocking::get(format!(
            "{}/admin/audit?user={uuid}&kind=plain_access",
            c.nodes[1].internal
        ))
        .unwrap()
        .json()
        .unwrap();
        if body["events"].as_array().is_some_and(|e| !e.is_empty()) || Instant::now() > deadline {
            break body["events"].clone();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        events,
        json!([{"at": events[0]["at"], "actor": "aaaaaaaa-0000-4000-8000-00000000000c",
                "kind": "plain_access", "fields": ["mobileNumber"]}])
    );
}
