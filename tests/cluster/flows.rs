//! Three pods in the group: every flow through every pod, fan-out paging, revocations on every pod, a
//! dead pod and its return.

use std::time::{Duration, Instant};

use actors::partition::home_partition;
use serde_json::{Value, json};

use crate::ask::{details, login, owner_of, post, search, token, uuids, wait_code};
use crate::failover::{spread_over, status};
use crate::node::{LocalCluster, PARTITIONS, employee, post as post_once};

/// Waits until every pod stores the users of the partitions it serves or follows as a standby (its copies
/// caught up). It may store more: a partition it served in an earlier round of the group's rebalancing
/// stays on its disk, answering nothing.
fn stored_where_served_or_followed(c: &LocalCluster, names: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let view = status(c, 0)["group"].clone();
        let holds = |pod: u16, name: &str| {
            let p = home_partition("pb", name, PARTITIONS).0.to_string();
            view["routes"][&p]["ordinal"] == pod
                || view["standbys"][&p]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|o| *o == pod))
        };
        let off: Vec<(u16, u64, usize)> = (0..3u16)
            .map(|pod| {
                let expected = names.iter().filter(|n| holds(pod, n)).count();
                let stored = status(c, pod)["stored"]["users"].as_u64().unwrap();
                (pod, stored, expected)
            })
            .filter(|(_, stored, expected)| (*stored as usize) < *expected)
            .collect();
        if off.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "(pod, stored, served or followed): {off:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn three_pods_serve_every_flow_through_any_pod() {
    let mut c = LocalCluster::start(3, 0);
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
    let bases: Vec<String> = c.nodes.iter().map(|n| n.base.clone()).collect();
    let base = |o: usize| bases[o].clone();

    // users created through every pod land on their owners (and standbys) and are found through every pod
    let names: Vec<String> = (0..30).map(|i| format!("CLUSTERUSER{i:02}")).collect();
    let mut created = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (status, body) = post(
            &format!("{}/user/users/_createnovalidate", base(i % 3)),
            &json!({"RequestInfo": {}, "user": employee(name, "9876500000")}),
        );
        assert_eq!(status, 200, "{body}");
        created.push((
            body["user"][0]["id"].as_i64().unwrap(),
            body["user"][0]["uuid"].as_str().unwrap().to_owned(),
        ));
    }
    let owners: Vec<u16> = names.iter().map(|n| owner_of(&c, n)).collect();
    for pod in 0..3u16 {
        assert!(owners.contains(&pod), "the names spread over all pods");
    }
    stored_where_served_or_followed(&c, &names);
    for (name, (_, uuid)) in names.iter().zip(&created) {
        for pod in 0..3 {
            let (status, body) = search(
                &base(pod),
                json!({"userName": name, "tenantId": "pb.amritsar"}),
            );
            assert_eq!(
                (status, uuids(&body)),
                (200, vec![uuid.clone()]),
                "{name} via pod {pod}"
            );
        }
    }

    // an admin update through a pod that does not own the user, seen through a third
    let update_via = (owners[3] + 1) % 3;
    let (status, body) = search(
        &base(0),
        json!({"userName": names[3], "tenantId": "pb.amritsar"}),
    );
    assert_eq!(status, 200);
    let mut user = body["user"][0].clone();
    user["name"] = json!("Asha Renamed");
    let (status, body) = post(
        &format!(
            "{}/user/users/_updatenovalidate",
            base(usize::from(update_via))
        ),
        &json!({"RequestInfo": {}, "user": user}),
    );
    assert_eq!(status, 200, "{body}");
    let (_, body) = search(
        &base(usize::from((update_via + 1) % 3)),
        json!({"userName": names[3], "tenantId": "pb.amritsar"}),
    );
    assert_eq!(body["user"][0]["name"], "Asha Renamed");

    // a forwarded request keeps its correlation id: the owner serves under it and answers with it (a pod
    // relays the owner's header as it came, so an id lost on the way would show as the owner's own)
    let via = usize::from((owners[3] + 1) % 3);
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/user/v1/_search", base(via)))
        .header("x-correlation-id", "corr-forwarded-1")
        .json(&json!({"userName": names[3], "tenantId": "pb.amritsar"}))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["x-correlation-id"], "corr-forwarded-1");

    // a fan-out search pages exactly: every page equals the slice of the whole list in id order
    let mut all_ids: Vec<i64> = created.iter().map(|(id, _)| *id).collect();
    all_ids.sort_unstable();
    let ids = |body: &Value| -> Vec<i64> {
        body["user"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect()
    };
    let (status, whole) = search(
        &base(1),
        json!({"tenantId": "pb.amritsar", "roleCodes": ["EMPLOYEE"], "pageSize": 100}),
    );
    assert_eq!(status, 200, "{whole}");
    assert_eq!(ids(&whole), all_ids);
    // mGramSeva's _searchByTenant asks every pod too
    let (status, by_tenant) = post(
        &format!("{}/user/_searchByTenant", base(2)),
        &json!({"userType": "EMPLOYEE", "tenantIds": ["pb.amritsar"], "roleCodes": ["EMPLOYEE"]}),
    );
    assert_eq!(status, 200, "{by_tenant}");
    assert_eq!(ids(&by_tenant), all_ids);
    for offset in (0..30).step_by(7) {
        let (status, page) = search(
            &base(offset % 3),
            json!({"tenantId": "pb.amritsar", "roleCodes": ["EMPLOYEE"], "pageSize": 7, "pageNumber": offset}),
        );
        assert_eq!(status, 200);
        assert_eq!(
            ids(&page),
            all_ids[offset..(offset + 7).min(30)].to_vec(),
            "page at {offset}"
        );
    }

    // login on one pod, the token works on every pod; logout on pod 1 ends it everywhere within a second
    let name = &names[0];
    let (status, session) = login(&base(2), name, "Asha@12345", "pb.amritsar", "EMPLOYEE");
    assert_eq!(status, 200, "{session}");
    let access = session["access_token"].as_str().unwrap().to_owned();
    for pod in 0..3 {
        assert_eq!(
            details(&base(pod), &access),
            200,
            "token accepted on pod {pod}"
        );
    }
    let (status, _) = post(
        &format!("{}/user/_logout", base(1)),
        &json!({"access_token": access}),
    );
    assert_eq!(status, 200);
    let started = Instant::now();
    while [0, 2].iter().any(|p| details(&base(*p), &access) == 200) {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "logout not applied everywhere within 1 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // password logins of one user through every pod, and a password change through a pod that does not own them
    for pod in 0..3 {
        assert_eq!(
            login(
                &base(pod),
                &names[4],
                "Asha@12345",
                "pb.amritsar",
                "EMPLOYEE"
            )
            .0,
            200,
            "login via pod {pod}"
        );
    }
    let (_, session) = login(&base(0), &names[4], "Asha@12345", "pb.amritsar", "EMPLOYEE");
    let change_via = usize::from((owners[4] + 2) % 3);
    let (status, body) = post(
        &format!("{}/user/password/_update", base(change_via)),
        &json!({"RequestInfo": {"authToken": session["access_token"], "userInfo": {"userName": names[4]}},
                "existingPassword": "Asha@12345", "newPassword": "Changed@135", "tenantId": "pb.amritsar", "type": "EMPLOYEE"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        login(
            &base((change_via + 1) % 3),
            &names[4],
            "Changed@135",
            "pb.amritsar",
            "EMPLOYEE"
        )
        .0,
        200
    );
    assert_eq!(
        login(
            &base(change_via),
            &names[4],
            "Asha@12345",
            "pb.amritsar",
            "EMPLOYEE"
        )
        .0,
        400
    );

    // a pod that was down while a logout happened refuses the token as soon as it is ready again
    let elsewhere = names.iter().find(|n| owner_of(&c, n) != 0).unwrap();
    let (_, session) = login(&base(1), elsewhere, "Asha@12345", "pb.amritsar", "EMPLOYEE");
    let access = session["access_token"].as_str().unwrap().to_owned();
    assert_eq!(details(&base(0), &access), 200);
    c.stop(0);
    let (status, body) = post(
        &format!("{}/user/_logout", base(2)),
        &json!({"access_token": access}),
    );
    assert_eq!(status, 200, "{body}");
    // ready only once it read the journal's revocations topic to its end
    c.start_node(0);
    assert_ne!(
        details(&base(0), &access),
        200,
        "revoked as soon as the pod is ready"
    );

    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));

    // a refresh through any pod reaches the pod holding the family
    let (_, session) = login(&base(0), &names[1], "Asha@12345", "pb.amritsar", "EMPLOYEE");
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();
    let (status, refreshed) = token(
        &base(usize::from((owner_of(&c, &names[1]) + 1) % 3)),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    );
    assert_eq!(status, 200, "{refreshed}");

    // a citizen registers and logs in by OTP through three different pods
    let mobile = "9123400001";
    let (status, body) = post(
        &format!("{}/user-otp/v1/_send", base(0)),
        &json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": "register"}}),
    );
    assert_eq!(status, 201, "{body}");
    let code = wait_code(&c, mobile, None);
    let (status, body) = post(
        &format!("{}/user/citizen/_create", base(1)),
        &json!({"RequestInfo": {}, "User": {"name": "Ravi Kumar", "username": mobile, "otpReference": code, "tenantId": "pb"}}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &format!("{}/user-otp/v1/_send", base(2)),
        &json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": "login", "userType": "CITIZEN"}}),
    );
    assert_eq!(status, 201, "{body}");
    let login_code = wait_code(&c, mobile, Some(&code));
    let (status, body) = login(&base(0), mobile, &login_code, "pb", "CITIZEN");
    assert_eq!(status, 200, "citizen otp login: {body}");

    // an employee whose mobile's session lives on another pod resets the password by OTP
    let emp = (0..)
        .map(|i| format!("RESETEMP{i}"))
        .find(|n| owner_of(&c, n) != owner_of(&c, "9123400002"))
        .unwrap();
    let (status, _) = post(
        &format!("{}/user/users/_createnovalidate", base(0)),
        &json!({"user": employee(&emp, "9123400002")}),
    );
    assert_eq!(status, 200);
    let (status, body) = post(
        &format!("{}/user-otp/v1/_send", base(1)),
        &json!({"otp": {"mobileNumber": "9123400002", "tenantId": "pb.amritsar", "type": "passwordreset", "userType": "EMPLOYEE"}}),
    );
    assert_eq!(status, 201, "the employee is found on another pod: {body}");
    let reset_code = wait_code(&c, "9123400002", None);
    let (status, body) = post(
        &format!("{}/user/password/nologin/_update", base(2)),
        &json!({"RequestInfo": {}, "otpReference": reset_code, "userName": emp, "newPassword": "Fresh@2468", "tenantId": "pb.amritsar", "type": "EMPLOYEE"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        login(&base(1), &emp, "Fresh@2468", "pb.amritsar", "EMPLOYEE").0,
        200
    );

    // mGramSeva's reset naming the state: the number typed is the userName; the code goes to, and lives
    // with, the stored number, whose session is on another pod than the one the request was routed to
    let stored = "9123400077";
    let typed = (0..)
        .map(|i| format!("98123{i:05}"))
        .find(|n| owner_of(&c, n) != owner_of(&c, stored))
        .unwrap();
    let mut sevak = employee(&typed, stored);
    sevak["tenantId"] = json!("pb.lodhipur");
    let (status, body) = post(
        &format!("{}/user/users/_createnovalidate", base(0)),
        &json!({"user": sevak}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &format!("{}/user-otp/v1/_send", base(1)),
        &json!({"otp": {"mobileNumber": typed, "tenantId": "pb", "type": "passwordreset", "locale": "en_IN", "userType": "Employee"}}),
    );
    assert_eq!(status, 201, "{body}");
    let reset_code = wait_code(&c, stored, None);
    let (status, body) = post(
        &format!("{}/user/password/nologin/_update", base(2)),
        &json!({"otpReference": reset_code, "userName": typed, "newPassword": "Naljal@2026", "tenantId": "pb", "type": "Employee"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        login(&base(0), &typed, "Naljal@2026", "pb", "EMPLOYEE").0,
        200
    );

    // every spelling of a tenant is one tenant on every pod: one session, one user
    let (status, body) = post(
        &format!("{}/user-otp/v1/_send", base(0)),
        &json!({"otp": {"mobileNumber": "9123400088", "tenantId": "PB", "type": "register"}}),
    );
    assert_eq!(status, 201, "{body}");
    let code = wait_code(&c, "9123400088", None);
    let (status, body) = post(
        &format!("{}/otp/v1/_validate", base(1)),
        &json!({"otp": {"otp": code, "identity": "9123400088", "tenantId": " pb "}}),
    );
    assert_eq!(status, 200, "the code of PB validates as pb: {body}");
    let mut shouted = employee("SHOUTED", "9123400089");
    shouted["tenantId"] = json!("PB.Amritsar");
    let (status, body) = post(
        &format!("{}/user/users/_createnovalidate", base(2)),
        &json!({"user": shouted}),
    );
    assert_eq!(status, 200, "{body}");
    let (_, found) = search(
        &base(1),
        json!({"userName": "SHOUTED", "tenantId": "pb.amritsar"}),
    );
    assert_eq!(
        uuids(&found),
        vec![body["user"][0]["uuid"].as_str().unwrap().to_owned()]
    );
    let (status, body) = post(
        &format!("{}/user/users/_createnovalidate", base(0)),
        &json!({"user": employee("SHOUTED", "9123400089")}),
    );
    assert_eq!(
        (status, body["Errors"][0]["code"].as_str()),
        (400, Some("DuplicateUserNameException")),
        "{body}"
    );

    // a body a pod cannot take is refused in the endpoint's shape, even before routing
    let (status, body) = post(
        &format!("{}/user-otp/v1/_send", base(0)),
        &json!({"otp": {"mobileNumber": "9".repeat(70_000), "tenantId": "pb"}}),
    );
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["fields"][0]["code"], "PAYLOAD_TOO_LARGE",
        "{body}"
    );

    // pod 2 dies: until the group drops it its users answer a retryable 503 within the forward timeout
    // and the owner wait, everybody else is served; then the others serve its users too
    let on_two = (5..names.len())
        .find(|i| owner_of(&c, &names[*i]) == 2)
        .unwrap();
    // (users 0..5 had their passwords and sessions changed above)
    let on_zero = (5..names.len())
        .find(|i| owner_of(&c, &names[*i]) == 0)
        .unwrap();
    c.kill(2);
    let asked = Instant::now();
    let (status, body) = post_once(
        &format!("{}/user/v1/_search", base(0)),
        &json!({"userName": names[on_two], "tenantId": "pb.amritsar"}),
    );
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "bounded by the forward timeout and the owner wait"
    );
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["Errors"][0]["code"], "OWNER_UNAVAILABLE", "{body}");
    let (status, body) = search(
        &base(1),
        json!({"userName": names[on_zero], "tenantId": "pb.amritsar"}),
    );
    assert_eq!(
        (status, uuids(&body)),
        (200, vec![created[on_zero].1.clone()])
    );
    assert_eq!(
        login(
            &base(0),
            &names[on_zero],
            "Asha@12345",
            "pb.amritsar",
            "EMPLOYEE"
        )
        .0,
        200
    );

    // the session timeout (6 s), then the takeover
    let deadline = Instant::now() + Duration::from_secs(30);
    let (status, body) = loop {
        let (status, body) = post_once(
            &format!("{}/user/v1/_search", base(1)),
            &json!({"userName": names[on_two], "tenantId": "pb.amritsar"}),
        );
        if status != 503 || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        (status, uuids(&body)),
        (200, vec![created[on_two].1.clone()]),
        "taken over by the others"
    );

    // back from its volume: it gets its share again and everything is found through it
    c.start_node(2);
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
    for (name, (_, uuid)) in names.iter().zip(&created).skip(5) {
        let (status, body) = search(
            &base(2),
            json!({"userName": name, "tenantId": "pb.amritsar"}),
        );
        assert_eq!((status, uuids(&body)), (200, vec![uuid.clone()]), "{name}");
    }
}
