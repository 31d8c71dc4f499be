#!/usr/bin/env python3
"""Writes the four Grafana dashboards of digit-user (dashboards/*.json) from the panel lists below.

The JSON files are committed; edit this file and run `python3 dashboards/src/generate.py` to change them.
Every panel queries Prometheus through the `datasource` variable and filters on the `pod` variable.
"""
import json
import pathlib

OUT = pathlib.Path(__file__).resolve().parent.parent
DS = {"type": "prometheus", "uid": "${datasource}"}
P = 'pod=~"$pod"'


def rate(metric, sel="", by=None, window="$__rate_interval"):
    inner = f"rate({metric}{{{', '.join(x for x in [sel, P] if x)}}}[{window}])"
    return f"sum by ({by}) ({inner})" if by else f"sum({inner})"


def quantile(q, metric, sel="", by="route"):
    inner = f"rate({metric}_bucket{{{', '.join(x for x in [sel, P] if x)}}}[$__rate_interval])"
    return f"histogram_quantile({q}, sum by ({by}, le) ({inner}))"


def gauge(metric, by=None):
    return f"sum by ({by}) ({metric}{{{P}}})" if by else f"sum({metric}{{{P}}})"


def panel(title, exprs, unit="short", kind="timeseries", legend=None, description=""):
    targets = []
    for i, expr in enumerate(exprs if isinstance(exprs, list) else [exprs]):
        target = {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr}
        if legend:
            target["legendFormat"] = legend[i] if isinstance(legend, list) else legend
        targets.append(target)
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
    }


def dashboard(uid, title, description, rows):
    panels, y, pid = [], 0, 1
    for row_title, row_panels in rows:
        panels.append({"type": "row", "title": row_title, "id": pid, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        pid += 1
        y += 1
        for i, p in enumerate(row_panels):
            width = 24 // min(len(row_panels), 3) if len(row_panels) < 3 else 8
            p = dict(p, id=pid, gridPos={"h": 8, "w": width, "x": (i % 3) * width, "y": y + (i // 3) * 8})
            panels.append(p)
            pid += 1
        y += ((len(row_panels) + 2) // 3) * 8
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["digit-user", "digit"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [{"title": "digit-user dashboards", "type": "dashboards", "tags": ["digit-user"],
                   "asDropdown": True, "includeVars": True, "keepTime": True, "icon": "external link",
                   "targetBlank": False, "tooltip": "The other digit-user dashboards"}],
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "hide": 0, "refresh": 1, "current": {"text": "", "value": ""}},
            {"name": "pod", "label": "Pod", "type": "query", "datasource": DS,
             "query": {"query": "label_values(digit_user_build_info, pod)", "refId": "pod"},
             "includeAll": True, "multi": True, "allValue": ".*", "hide": 0, "refresh": 2, "sort": 1,
             "current": {"text": ["All"], "value": ["$__all"]}},
        ]},
        "panels": panels,
    }


S5XX = 'status="5xx"'
DASHBOARDS = {
    "overview.json": dashboard(
        "digit-user-overview", "digit-user / Service overview",
        "Requests, errors and latency per endpoint; saturation of the bounded queues.",
        [
            ("Traffic", [
                panel("Requests per second by endpoint", rate("digit_user_http_requests_total", by="route"), "reqps", legend="{{route}}"),
                panel("Server errors (5xx) ratio",
                      rate("digit_user_http_requests_total", sel=S5XX) + " / clamp_min("
                      + rate("digit_user_http_requests_total") + ", 1e-9)",
                      "percentunit"),
                panel("Client errors (4xx) by endpoint", rate("digit_user_http_requests_total", sel='status="4xx"', by="route"), "reqps", legend="{{route}}"),
            ]),
            ("Latency", [
                panel("p99 latency by endpoint", quantile(0.99, "digit_user_http_request_duration_seconds"), "s", legend="{{route}}"),
                panel("p50 latency by endpoint", quantile(0.5, "digit_user_http_request_duration_seconds"), "s", legend="{{route}}"),
                panel("/user/_details: rate and p99 (the gateway's hot path)",
                      [rate("digit_user_http_requests_total", sel='route="/user/_details"'),
                       quantile(0.99, "digit_user_http_request_duration_seconds", sel='route="/user/_details"', by="route")],
                      "short", legend=["requests/s", "p99 s"]),
            ]),
            ("Saturation", [
                panel("Password hasher queue", gauge("digit_user_hasher_queue_depth"), "short"),
                panel("Notifications waiting in the outbox", gauge("digit_user_outbox_depth"), "short"),
                panel("Instances and builds", "count by (version, git_sha) (digit_user_build_info{" + P + "})", "short", legend="{{version}} {{git_sha}}"),
            ]),
        ]),
    "otp-funnel.json": dashboard(
        "digit-user-otp-funnel", "digit-user / OTP funnel",
        "Sent → delivered to the sink → verified, per state tenant and purpose; throttling and the outbox.",
        [
            ("Funnel", [
                panel("Codes sent by tenant and purpose", rate("digit_user_otp_sends_total", sel='result=~"new|resend"', by="tenant, purpose"), "ops", legend="{{tenant}} {{purpose}}"),
                panel("SMS delivered to the sink by tenant and purpose", rate("digit_user_notifications_total", sel='channel="sms", result="delivered"', by="tenant, purpose"), "ops", legend="{{tenant}} {{purpose}}"),
                panel("Codes verified by tenant and purpose", rate("digit_user_otp_validations_total", sel='result="success"', by="tenant, purpose"), "ops", legend="{{tenant}} {{purpose}}"),
                panel("Conversion: verified / new codes (1 h) by tenant",
                      f'sum by (tenant) (increase(digit_user_otp_validations_total{{result="success", {P}}}[1h])) / clamp_min(sum by (tenant) (increase(digit_user_otp_sends_total{{result="new", {P}}}[1h])), 1)',
                      "percentunit", legend="{{tenant}}"),
                panel("Expired unused by purpose", rate("digit_user_otp_expired_total", by="purpose"), "ops", legend="{{purpose}}"),
                panel("Wrong codes and exhausted codes", rate("digit_user_otp_validations_total", sel='result=~"invalid|exhausted"', by="result"), "ops", legend="{{result}}"),
            ]),
            ("Throttling and delivery", [
                panel("Sends refused by reason", rate("digit_user_otp_throttled_total", by="reason"), "ops", legend="{{reason}}"),
                panel("Resends held (answered 201, no SMS) by reason", rate("digit_user_otp_resends_held_total", by="reason"), "ops", legend="{{reason}}"),
                panel("Outbox depth and oldest age", [gauge("digit_user_outbox_depth"), f"max(digit_user_outbox_oldest_age_seconds{{{P}}})"], "short", legend=["waiting", "oldest (s)"]),
                panel("Delivery latency p99 by channel", quantile(0.99, "digit_user_notification_delivery_seconds", by="channel"), "s", legend="{{channel}}"),
            ]),
        ]),
    "security.json": dashboard(
        "digit-user-security", "digit-user / Security",
        "Failed logins, lockouts, refresh-token reuse, revocations and throttled OTP sends.",
        [
            ("Logins", [
                panel("Failed logins by user type", rate("digit_user_logins_total", sel='result="invalid"', by="user_type"), "ops", legend="{{user_type}}"),
                panel("Logins by grant and result", rate("digit_user_logins_total", by="grant, result"), "ops", legend="{{grant}} {{result}}"),
                panel("Lockouts and unlocks", [rate("digit_user_lockouts_total"), rate("digit_user_unlocks_total", by="reason")], "ops", legend=["locked", "unlocked: {{reason}}"]),
            ]),
            ("Tokens and OTP abuse", [
                panel("Refresh-token reuse detected (theft signal)", f"sum(increase(digit_user_refresh_reuse_total{{{P}}}[1h]))", "short"),
                panel("Token revocations by reason", rate("digit_user_token_revocations_total", by="reason"), "ops", legend="{{reason}}"),
                panel("Throttled OTP sends by reason (pumping)", rate("digit_user_otp_throttled_total", by="reason"), "ops", legend="{{reason}}"),
                panel("SMS by destination: country code and first two digits (a pumped range stands out)", rate("digit_user_otp_sends_by_destination_total", by="country, bucket"), "ops", legend="{{country}} {{bucket}}"),
            ]),
            ("Abuse defences", [
                panel("Token requests refused before any credential check (an address or subnet failed too often)", rate("digit_user_login_throttled_total"), "ops",
                      description="login.max_failures_per_address / _per_subnet; counted where the request arrived"),
                panel("Addresses blocked for one user (targeted-lockout attempts; the account not locked)", rate("digit_user_login_source_blocks_total"), "ops",
                      description="lockout.stranger_block_secs; sustained guessing still locks at lockout.sustained_failures"),
                panel("OTP tries refused to an address that spent its share (the code lives on)", rate("digit_user_otp_validations_total", sel='result="source_blocked"'), "ops",
                      description="otp.max_attempts per address, otp.max_attempts_total per code"),
                panel("SMS refused or held at an address's share of a number", [rate("digit_user_otp_throttled_total", sel='reason="source_cap"'), rate("digit_user_otp_resends_held_total", sel='reason="source_cap"')], "ops", legend=["refused", "held"],
                      description="otp.max_sends_per_source_per_hour"),
                panel("Abuse counters asked of the pod counting their key", rate("digit_user_cluster_calls_total", sel='kind="tally"', by="result"), "ops", legend="{{result}}",
                      description="unavailable: the key was counted where the request arrived instead (the cap loosened for that moment)"),
            ]),
            ("Privacy and audit", [
                panel("Masked fields shown in clear on a plainAccessRequest, by field", rate("digit_user_plain_access_total", by="field"), "ops", legend="{{field}}"),
                panel("Audit events recorded by kind", rate("digit_user_audit_events_total", sel='result="ok"', by="kind"), "ops", legend="{{kind}}"),
                panel("Audit events lost (not recorded; dropped from the SIEM feed)", [rate("digit_user_audit_events_total", sel='result="failed"'), rate("digit_user_audit_published_total", sel='result="dropped"')], "ops", legend=["not recorded", "dropped from the feed"],
                      description="audit.feed_max_pending bounds the feed's queue during a broker outage"),
                panel("SIEM feed: published, failed and waiting", [rate("digit_user_audit_published_total", by="result"), gauge("digit_user_audit_feed_depth")], "short", legend=["{{result}}/s", "waiting"],
                      description="audit.kafka_topic; empty when the feed is off"),
            ]),
        ]),
    "internals.json": dashboard(
        "digit-user-internals", "digit-user / Internals",
        "Actors and their mailboxes, the password hasher, sharding, storage and Kafka.",
        [
            ("Actors", [
                panel("Live OTP session and lockout actors", [gauge("digit_user_otp_sessions_live"), gauge("digit_user_lockout_actors_live")], "short", legend=["otp sessions", "lockouts"]),
                panel("Messages that did not reach an actor", rate("digit_user_mailbox_errors_total", by="actor, kind"), "ops", legend="{{actor}} {{kind}}"),
                panel("Hasher wait p99 by operation", quantile(0.99, "digit_user_hasher_wait_seconds", by="op"), "s", legend="{{op}}"),
                panel("Hasher queue and rejections", [gauge("digit_user_hasher_queue_depth"), rate("digit_user_hasher_rejected_total")], "short", legend=["queued", "rejected/s"]),
            ]),
            ("Sharding", [
                panel("Calls to other pods by kind and result", rate("digit_user_cluster_calls_total", by="kind, result"), "ops", legend="{{kind}} {{result}}",
                      description="forward: a request sent to its key's owner; fanout: one leg of a search; otp: a code checked at its owner. unavailable = a 503 for the caller."),
                panel("Partitions owned by pod", gauge("digit_user_partitions_owned", by="pod"), "short", legend="{{pod}}"),
            ]),
            ("Storage and Kafka", [
                panel("Store size on disk", gauge("digit_user_storage_bytes", by="pod"), "bytes", legend="{{pod}}"),
                panel("Kafka brokers reachable", f"min(digit_user_kafka_brokers_up{{{P}}})", "short"),
                panel("Kafka produce latency p99 by channel", quantile(0.99, "digit_user_kafka_produce_seconds", by="channel"), "s", legend="{{channel}}"),
                panel("Deliveries by sink and result", rate("digit_user_notifications_total", by="sink, result"), "ops", legend="{{sink}} {{result}}"),
            ]),
            ("Journal", [
                panel("Journal acknowledging appends", f"min by (pod) (digit_user_journal_up{{{P}}})", "short", legend="{{pod}}"),
                panel("Journal append latency p99", quantile(0.99, "digit_user_journal_append_seconds", by="pod"), "s", legend="{{pod}}"),
                panel("Journal appends by result", rate("digit_user_journal_appends_total", by="result"), "ops", legend="{{result}}"),
                panel("Partitions restored from the journal", gauge("digit_user_journal_partitions", by="pod, state"), "short", legend="{{pod}} {{state}}"),
            ]),
            ("Ownership by the group", [
                panel("Partitions assigned and served by pod", [gauge("digit_user_partitions_assigned", by="pod"), gauge("digit_user_partitions_owned", by="pod")], "short", legend=["{{pod}} assigned", "{{pod}} served"],
                      description="Assigned but not served = a takeover under way (or failing)."),
                panel("Partitions followed as warm standby, and their lag", [gauge("digit_user_partitions_standby", by="pod"), gauge("digit_user_standby_lag_records", by="pod")], "short", legend=["{{pod}} followed", "{{pod}} records behind"],
                      description="journal.standby_replicas: partitions this pod reads from the journal for their owner's takeover, and how many records its copies were behind after their last read."),
                panel("Rebalances by change", rate("digit_user_group_rebalances_total", by="change"), "ops", legend="{{change}}"),
                panel("Takeover time p99", quantile(0.99, "digit_user_takeover_seconds", by="pod"), "s", legend="{{pod}}",
                      description="From a partition's assignment to the pod serving it: its claim and its replay."),
                panel("Claims, gaps and fenced writes", [rate("digit_user_journal_claims_total"), rate("digit_user_journal_gaps_total"), rate("digit_user_journal_fenced_writes_total")], "ops", legend=["claims", "gaps", "fenced writes"],
                      description="A fenced write was refused because another pod had claimed its partition: a pod cut off from the group, or two pods given one partition for a moment."),
            ]),
        ]),
}

if __name__ == "__main__":
    import sys

    check = "--check" in sys.argv  # scripts/test.sh: the committed JSON must be what this file generates
    stale = []
    for name, board in DASHBOARDS.items():
        text = json.dumps(board, indent=2) + "\n"
        if check:
            if (OUT / name).read_text() != text:
                stale.append(name)
        else:
            (OUT / name).write_text(text)
            print(f"wrote dashboards/{name}")
    if stale:
        sys.exit(f"stale dashboards (run python3 dashboards/src/generate.py): {', '.join(stale)}")
