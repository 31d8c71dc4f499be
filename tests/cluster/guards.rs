//! What the pods refuse to do: answer an internal-only endpoint asked on the public listener through a peer.

use std::time::Duration;

use serde_json::json;

use crate::ask::owner_of;
use crate::failover::spread_over;
use crate::node::{LocalCluster, post};

#[test]
fn public_requests_never_reach_a_peer_internal_only_endpoint() {
    let c = LocalCluster::start(3, 0);
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
    // an OTP create for a number another pod owns: 404 on the public listener, not a code from a peer
    let mobile = (0..)
        .map(|i| format!("98000{i:05}"))
        .find(|m| owner_of(&c, m) != 0)
        .unwrap();
    let body = json!({"otp": {"identity": mobile, "tenantId": "pb"}});
    let (status, _) = post(&format!("{}/otp/v1/_create", c.nodes[0].base), &body);
    assert_eq!(status, 404);
    let (status, _) = post(&format!("{}/cluster/status", c.nodes[0].base), &json!({}));
    assert_eq!(status, 404);
    // the forwarded mark means nothing on the public listener: the request is still routed to its owner
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/user-otp/v1/_send", c.nodes[0].base))
        .header("x-digit-user-forwarded", "1")
        .json(&json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": "register"}}))
        .send()
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        201,
        "not refused as a stray forward"
    );
    // on the internal listener it is routed to the owner; validated and searched through other pods
    let (status, created) = post(&format!("{}/otp/v1/_create", c.nodes[0].internal), &body);
    assert_eq!(status, 201, "{created}");
    let (code, uuid) = (
        created["otp"]["otp"].as_str().unwrap(),
        created["otp"]["UUID"].as_str().unwrap(),
    );
    let (status, checked) = post(
        &format!("{}/otp/v1/_validate", c.nodes[1].base),
        &json!({"otp": {"otp": code, "identity": mobile, "tenantId": "pb"}}),
    );
    assert_eq!(status, 200, "{checked}");
    let (status, found) = post(
        &format!("{}/otp/v1/_search", c.nodes[2].internal),
        &json!({"otp": {"UUID": uuid}}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        (
            found["otp"]["identity"].as_str(),
            found["otp"]["isValidationSuccessful"].as_bool()
        ),
        (Some(mobile.as_str()), Some(true)),
        "{found}"
    );
}
