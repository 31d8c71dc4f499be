//! What the pods refuse to do: answer an internal-only endpoint asked on the public listener through a peer,
//! and move partitions in ways that would lose data.

use actors::partition::home_partition;
use serde_json::json;

use crate::flows::{owner_of, search, uuids};
use crate::node::{LocalCluster, PARTITIONS, employee, post};

#[test]
fn public_requests_never_reach_a_peer_internal_only_endpoint() {
    let c = LocalCluster::start(3, 0);
    // an OTP create for a number another pod owns: 404 on the public listener, not a code from a peer
    let mobile = (0..)
        .map(|i| format!("98000{i:05}"))
        .find(|m| owner_of(m) != 0)
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

#[test]
fn partition_moves_refuse_what_would_lose_data() {
    let c = LocalCluster::start(3, 0);
    let internal = &c.nodes[0].internal;
    let (status, body) = post(
        &format!("{internal}/user/users/_createnovalidate"),
        &json!({"user": employee("KEEPME", "9876500000")}),
    );
    assert_eq!(status, 200, "{body}");
    let owned = home_partition("pb", "KEEPME", PARTITIONS).0;
    let owner = usize::from(owner_of("KEEPME"));
    // dropping a partition the pod still owns under its map is refused, and nothing is deleted
    let (status, body) = post(
        &format!("{}/cluster/partitions/_drop", c.nodes[owner].internal),
        &json!({"partitions": [owned]}),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["Errors"][0]["code"], "PARTITION_OWNED");
    let (status, body) = search(
        &c.nodes[0].base,
        json!({"userName": "KEEPME", "tenantId": "pb.amritsar"}),
    );
    assert_eq!((status, uuids(&body).len()), (200, 1));
    // a partition the deployment does not have is refused by a replay
    let (status, body) = post(
        &format!("{internal}/cluster/partitions/_replay"),
        &json!({"partitions": [PARTITIONS]}),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["Errors"][0]["code"], "UNKNOWN_PARTITION");
}
