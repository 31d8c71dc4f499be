//! Warm standbys (`journal.standby_replicas = 1`): every partition is followed by one pod other than its
//! owner, caught up, as `admin cluster-status` shows; a standby's copy delivers nothing (a code goes out
//! once).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::ask::wait_code;
use crate::failover::{post_retrying, spread_over, status};
use crate::node::{LocalCluster, PARTITIONS, employee, post};

/// What pod `pod` says of the standbys.
#[derive(Debug, PartialEq)]
struct View {
    /// Per partition its owner, as routed.
    owners: BTreeMap<u16, u16>,
    /// Per partition its standbys, as placed.
    placement: BTreeMap<u16, Vec<u16>>,
    /// What the pod follows, with its lag.
    following: BTreeMap<u16, i64>,
}

fn standby_view(c: &LocalCluster, pod: u16) -> View {
    let group = status(c, pod)["group"].clone();
    let parse = |v: &Value| -> BTreeMap<u16, Value> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.parse().unwrap(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    View {
        owners: parse(&group["routes"])
            .into_iter()
            .map(|(p, r)| (p, r["ordinal"].as_u64().unwrap() as u16))
            .collect(),
        placement: parse(&group["standbys"])
            .into_iter()
            .map(|(p, v)| {
                let pods = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o.as_u64().unwrap() as u16);
                (p, pods.collect())
            })
            .collect(),
        following: parse(&group["following"])
            .into_iter()
            .map(|(p, v)| (p, v.as_i64().unwrap()))
            .collect(),
    }
}

#[test]
fn every_partition_is_followed_by_another_pod_than_its_owner_and_a_code_goes_out_once() {
    let c = LocalCluster::start(3, 0);
    spread_over(&c, &[0, 1, 2], Duration::from_secs(60));
    for i in 0..12 {
        let name = format!("STANDBYUSER{i:02}");
        let (code, body, _) = post_retrying(
            &format!("{}/user/users/_createnovalidate", c.nodes[i % 3].base),
            &json!({"RequestInfo": {}, "user": employee(&name, "9876500000")}),
        );
        assert_eq!(code, 200, "{body}");
    }

    // every pod places one standby per partition, never its owner, the same as the others, and follows
    // what it is placed on, caught up
    let started = Instant::now();
    loop {
        let views: Vec<View> = (0..3).map(|pod| standby_view(&c, pod)).collect();
        let agreed = views
            .iter()
            .all(|v| v.owners == views[0].owners && v.placement == views[0].placement);
        let placed = views[0].owners.len() == usize::from(PARTITIONS)
            && views[0]
                .placement
                .iter()
                .all(|(p, pods)| pods.len() == 1 && Some(&pods[0]) != views[0].owners.get(p));
        let followed = views.iter().enumerate().all(|(pod, v)| {
            let mine: BTreeSet<u16> = v
                .placement
                .iter()
                .filter(|(_, pods)| pods.contains(&(pod as u16)))
                .map(|(p, _)| *p)
                .collect();
            v.following.keys().copied().collect::<BTreeSet<u16>>() == mine
                && v.following.values().all(|lag| *lag == 0)
        });
        if agreed && placed && followed {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "standbys not placed and caught up within 20 s: {views:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "standbys placed and caught up {:.1} s after the group spread",
        started.elapsed().as_secs_f64()
    );

    // the operator's view: every partition with its owner and its standby, caught up, from any pod
    let (ok, table, err) = c.admin(&["cluster-status", "--url", &c.nodes[2].internal]);
    assert!(ok, "{err}");
    let view = standby_view(&c, 0);
    for (p, owner) in &view.owners {
        let standby = view.placement[p][0];
        let line = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&p.to_string()))
            .unwrap_or_else(|| panic!("no line for partition {p}: {table}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[1], owner.to_string(), "{line}");
        assert_eq!(&words[3..], [standby.to_string().as_str(), "(0)"], "{line}");
    }
    assert_eq!(
        table.lines().filter(|l| l.starts_with("pod ")).count(),
        3,
        "{table}"
    );

    // a code sent while every store follows another's partition goes out once
    let mobile = "9123400077";
    let (code, body) = post(
        &format!("{}/user-otp/v1/_send", c.nodes[0].base),
        &json!({"otp": {"mobileNumber": mobile, "tenantId": "pb", "type": "register"}}),
    );
    assert_eq!(code, 201, "{body}");
    wait_code(&c, mobile, None);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(c.sms_count_to(mobile), 1, "one SMS, from the owner alone");
}
