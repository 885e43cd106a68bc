//! Electronic supervision (issue 9) on a real node: cases pushed with chosen times become
//! late-entry alarms, warnings and overdue alarms; later versions update them in any arrival
//! order; the evaluator moves levels on with time; the stats count on-time and early
//! completions; a forwarded case is supervised upstairs with its first entry time.
//!
//! Times are chosen relative to now where a level depends on "now", and absolute (autumn 2026,
//! in the bundled calendar) where only the records' own times matter.

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, Utc};
use domain::calendar::{Calendar, Level};
use e2e::{Network, Node, fixture};
use serde_json::{Value, json};

const MR: &str = "/v1/ingest/market-regulation";
const XIFENG: &str = "621002000000";
/// 董志镇, a township of Xifeng.
const DONGZHI: &str = "621002101000";

type Instant = DateTime<FixedOffset>;

fn at(s: &str) -> Instant {
    DateTime::parse_from_rfc3339(s).unwrap()
}

/// Now in China Standard Time, to the second.
fn now() -> Instant {
    let cst = domain::calendar::china_standard_time();
    DateTime::from_timestamp(Utc::now().timestamp(), 0)
        .unwrap()
        .with_timezone(&cst)
}

fn text(t: Instant) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// One native market-regulation record (the fixture's in-progress record, renumbered).
struct Case {
    no: &'static str,
    version: i64,
    region: &'static str,
    promise: u32,
    occurred: Instant,
    received: Instant,
    accepted: Option<Instant>,
    finished: Option<Instant>,
    holds: Vec<(Instant, Instant)>,
}

impl Case {
    fn new(no: &'static str, occurred: Instant, accepted: Option<Instant>, promise: u32) -> Case {
        Case {
            no,
            version: 1,
            region: XIFENG,
            promise,
            occurred,
            received: occurred + Duration::minutes(5),
            accepted,
            finished: None,
            holds: Vec::new(),
        }
    }

    /// The next version, completed (办结) at `at`.
    fn finished(&self, at: Instant) -> Case {
        Case {
            version: self.version + 1,
            finished: Some(at),
            holds: self.holds.clone(),
            ..*self
        }
    }

    fn native(&self) -> Value {
        let batch: Value =
            serde_json::from_slice(&fixture("market-regulation/batch-valid.json")).unwrap();
        let mut r = batch["records"][1].clone();
        let state = match (self.accepted, self.finished) {
            (_, Some(_)) => "FINISHED",
            (Some(_), None) => "HANDLING",
            (None, None) => "RECEIVED",
        };
        r["caseNo"] = json!(self.no);
        r["version"] = json!(self.version);
        r["areaCode"] = json!(self.region);
        r["promiseDays"] = json!(self.promise);
        r["state"] = json!(state);
        r["applyTime"] = json!(text(self.occurred));
        r["receiveTime"] = json!(text(self.received));
        r["acceptTime"] = json!(self.accepted.map(text));
        r["finishTime"] = json!(self.finished.map(text));
        r["suspensions"] = json!(
            self.holds
                .iter()
                .map(|(s, e)| json!({"reason": "现场核查", "start": text(*s), "end": text(*e)}))
                .collect::<Vec<_>>()
        );
        if self.finished.is_some() {
            r["result"] = json!({"decision": "APPROVE", "remark": "准予登记"});
        }
        r.as_object_mut()
            .unwrap()
            .retain(|_, v| !v.is_null() && v != &json!([]));
        r
    }
}

impl Clone for Case {
    fn clone(&self) -> Case {
        Case {
            holds: self.holds.clone(),
            ..*self
        }
    }
}

async fn push_to(node: &Node, principal: &str, query: &str, cases: &[&Case]) -> Value {
    let records: Vec<Value> = cases.iter().map(|c| c.native()).collect();
    let body = serde_json::to_vec(&json!({"sender": "test", "records": records})).unwrap();
    let resp = node
        .client(principal)
        .post(&format!("{MR}{query}"), "application/json", body)
        .await
        .unwrap();
    let receipt = resp.json().unwrap();
    assert_eq!(resp.status.as_u16(), 200, "{receipt}");
    assert_eq!(
        receipt["summary"]["accepted"],
        cases.len(),
        "every record accepted: {receipt}"
    );
    receipt
}

async fn push(node: &Node, cases: &[&Case]) -> Value {
    push_to(node, "xifeng-amr-system", "", cases).await
}

async fn get(node: &Node, who: &str, path: &str, status: u16) -> Value {
    let resp = node.web_client(who).get(path).await.unwrap();
    let body = resp.json().unwrap();
    assert_eq!(resp.status.as_u16(), status, "{path}: {body}");
    body
}

/// The alerts of `query` as the supervisor sees them, by case number.
async fn alerts(node: &Node, query: &str) -> Vec<Value> {
    let answer = get(
        node,
        "qingyang-supervisor",
        &format!("/v1/supervision/alerts{query}"),
        200,
    )
    .await;
    answer["alerts"].as_array().unwrap().clone()
}

fn case_nos(alerts: &[Value]) -> Vec<&str> {
    let mut nos: Vec<&str> = alerts
        .iter()
        .map(|a| a["case_no"].as_str().unwrap())
        .collect();
    nos.sort();
    nos
}

fn alert<'a>(alerts: &'a [Value], no: &str) -> &'a Value {
    alerts
        .iter()
        .find(|a| a["case_no"] == no)
        .unwrap_or_else(|| panic!("no alert for {no}: {alerts:#?}"))
}

/// The stored level of a case.
async fn level(node: &Node, no: &str) -> String {
    node.db()
        .await
        .query_one(
            "SELECT level FROM supervision_cases WHERE case_no = $1",
            &[&no],
        )
        .await
        .unwrap()
        .get(0)
}

/// A promised limit under which a case accepted at `accepted` (with `holds`) is in warning now
/// and still in ten minutes, found with the bundled calendar.
fn warning_limit(accepted: Instant, holds: &[(Instant, Instant)]) -> (u32, Instant) {
    let cal = Calendar::bundled().unwrap();
    let holds: Vec<_> = holds.iter().map(|(s, e)| (*s, Some(*e))).collect();
    let level = |n, t| cal.progress(accepted, n, &holds, t).unwrap();
    let n = (1..=30)
        .find(|&n| {
            level(n, now()) == Level::Warning
                && level(n, now() + Duration::minutes(10)) == Level::Warning
        })
        .expect("a limit in warning now");
    let due = cal.deadline(accepted, n, &holds).unwrap().due().unwrap();
    (n, due)
}

#[tokio::test]
async fn alerts_follow_the_cases_and_their_latest_versions() {
    let node = Node::start().await;
    let t = now();
    // Entered 72 hours after it occurred, not accepted yet: a late-entry alarm only.
    let late = Case::new("SV-LATE", t - Duration::hours(72), None, 3);
    // A limit of 0 (即办件) accepted 30 hours ago: overdue since the end of that day; entered
    // 40 hours after it occurred, so in time.
    let overdue = Case::new(
        "SV-OVERDUE",
        t - Duration::hours(40),
        Some(t - Duration::hours(30)),
        0,
    );
    // Accepted two weeks ago with a day on hold, and a limit that puts it past 80 % now.
    let accepted = t - Duration::days(14);
    let mut warn = Case::new("SV-WARN", accepted - Duration::hours(1), Some(accepted), 0);
    warn.holds = vec![(accepted + Duration::days(3), accepted + Duration::days(4))];
    let (limit, due) = warning_limit(accepted, &warn.holds);
    warn.promise = limit;
    // Accepted an hour ago with three working days: nothing to report.
    let normal = Case::new(
        "SV-NORMAL",
        t - Duration::hours(2),
        Some(t - Duration::hours(1)),
        3,
    );
    // A dry run stores no supervision state either.
    let dry = Case::new("SV-DRY", t - Duration::hours(100), None, 3);
    push_to(&node, "xifeng-amr-system", "?dry_run=true", &[&dry]).await;
    push(&node, &[&late, &overdue, &warn, &normal]).await;
    assert_eq!(
        node.count("SELECT count(*) FROM supervision_cases").await,
        4
    );

    let all = alerts(&node, "").await;
    assert_eq!(case_nos(&all), ["SV-LATE", "SV-OVERDUE", "SV-WARN"]);
    // Most urgent first.
    assert_eq!(all[0]["case_no"], "SV-OVERDUE", "{all:#?}");
    let a = alert(&all, "SV-LATE");
    assert_eq!(
        (&a["level"], &a["alarms"], &a["deadline"]),
        (&json!("pending"), &json!(["late_entry"]), &Value::Null)
    );
    assert_eq!(a["entry"]["late"], true);
    assert!(a["entry"]["delay_seconds"].as_i64().unwrap() > 72 * 3600 - 60);
    let a = alert(&all, "SV-OVERDUE");
    assert_eq!(
        (&a["level"], &a["alarms"], &a["entry"]["late"]),
        (&json!("overdue"), &json!(["overdue"]), &json!(false))
    );
    let accepted_day = (t - Duration::hours(30)).date_naive();
    assert_eq!(
        at(a["deadline"].as_str().unwrap()),
        at(&format!("{accepted_day}T23:59:59+08:00"))
    );
    let a = alert(&all, "SV-WARN");
    assert_eq!(a["alarms"], json!(["late_entry", "warning"]));
    assert_eq!(a["limit_days"], limit);
    assert_eq!(
        at(a["deadline"].as_str().unwrap()),
        due,
        "the hold is excluded"
    );
    assert!(at(a["warning_at"].as_str().unwrap()) <= now());

    // Filters: level, department, region subtree.
    assert_eq!(
        case_nos(&alerts(&node, "?level=overdue").await),
        ["SV-OVERDUE"]
    );
    assert_eq!(
        case_nos(&alerts(&node, "?level=late_entry").await),
        ["SV-LATE", "SV-WARN"]
    );
    assert_eq!(
        case_nos(&alerts(&node, "?level=warning&department=market_regulation").await),
        ["SV-WARN"]
    );
    assert!(
        alerts(&node, "?department=public_security")
            .await
            .is_empty()
    );
    assert!(alerts(&node, "?region=621022000000").await.is_empty());
    assert_eq!(alerts(&node, &format!("?region={XIFENG}")).await.len(), 3);
    let limited = get(
        &node,
        "qingyang-supervisor",
        "/v1/supervision/alerts?limit=1",
        200,
    )
    .await;
    assert_eq!(
        (
            limited["alerts"].as_array().unwrap().len(),
            &limited["truncated"]
        ),
        (1, &json!(true))
    );
    // Operators see them too; others are refused, and no one looks outside their region.
    let ops = get(&node, "qingyang-operator", "/v1/supervision/alerts", 200).await;
    assert_eq!(ops["scope"], "621000000000");
    for (who, path, status, code) in [
        (
            "xifeng-approver",
            "/v1/supervision/alerts",
            403,
            "auth.role",
        ),
        (
            "xifeng-amr-system",
            "/v1/supervision/stats",
            403,
            "auth.role",
        ),
        (
            "qingyang-supervisor",
            "/v1/supervision/alerts?region=620000000000",
            403,
            "auth.region",
        ),
        (
            "qingyang-supervisor",
            "/v1/supervision/alerts?level=late",
            400,
            "request.bad_query",
        ),
        (
            "qingyang-supervisor",
            "/v1/supervision/stats?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
            400,
            "request.bad_query",
        ),
    ] {
        assert_eq!(get(&node, who, path, status).await["code"], code, "{path}");
    }

    // Later versions: the overdue case is completed (late), the warned one on time; the late
    // entry is corrected by its source (it occurred 47 hours before it was entered).
    let overdue_done = overdue.finished(t - Duration::hours(1));
    let warn_done = warn.finished(now());
    let mut late_fixed = late.clone();
    late_fixed.version = 2;
    late_fixed.occurred = t - Duration::hours(47);
    late_fixed.received = t - Duration::hours(46);
    push(&node, &[&overdue_done, &warn_done, &late_fixed]).await;
    let all = alerts(&node, "").await;
    assert_eq!(case_nos(&all), ["SV-WARN"], "{all:#?}");
    let a = alert(&all, "SV-WARN");
    assert_eq!(
        (&a["level"], &a["alarms"], &a["version"]),
        (&json!("completed"), &json!(["late_entry"]), &json!(2)),
        "the late entry stays: it is measured from the first version"
    );
    let db = node.db().await;
    let row = db
        .query_one(
            "SELECT version, level, completed_on_time FROM supervision_cases WHERE case_no = 'SV-OVERDUE'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, String>(1), row.get(2)),
        (2, "completed".to_owned(), Some(false))
    );

    // Arrival order does not matter: version 2 (completed) first, then version 1 (overdue).
    let order = Case::new(
        "SV-ORDER",
        t - Duration::hours(40),
        Some(t - Duration::hours(30)),
        0,
    );
    push(&node, &[&order.finished(t - Duration::hours(2))]).await;
    push(&node, &[&order]).await;
    let row = db
        .query_one(
            "SELECT version, level FROM supervision_cases WHERE case_no = 'SV-ORDER'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, String>(1)),
        (2, "completed".to_owned())
    );
    assert!(alerts(&node, "?level=overdue").await.is_empty());

    // Time passes: the evaluator moves a running case on at its warning instant, then at its
    // deadline (the instants are moved into the past here instead of waiting days).
    assert_eq!(level(&node, "SV-NORMAL").await, "normal");
    for (instant, next) in [("warning_at", "warning"), ("deadline", "overdue")] {
        let sql = format!(
            "UPDATE supervision_cases SET {instant} = now() - interval '1 second' WHERE case_no = 'SV-NORMAL'"
        );
        db.execute(&sql, &[]).await.unwrap();
        Network::eventually(20, &format!("SV-NORMAL {next}"), || async {
            level(&node, "SV-NORMAL").await == next
        })
        .await;
    }
    assert_eq!(
        case_nos(&alerts(&node, "?level=overdue").await),
        ["SV-NORMAL"]
    );

    // Metrics: the open alerts by kind, as the API lists them, and the late entries counted
    // (SV-LATE and SV-WARN; the dry run's was rolled back).
    let mut expected = Vec::new();
    for kind in ["late_entry", "warning", "overdue", "error"] {
        expected.push((kind, alerts(&node, &format!("?level={kind}")).await.len()));
    }
    assert_eq!(
        expected,
        [
            ("late_entry", 1),
            ("warning", 0),
            ("overdue", 1),
            ("error", 0)
        ]
    );
    let expected = &expected;
    Network::eventually(20, "gauges match the alerts", || async {
        let metrics = metrics(&node).await;
        expected.iter().all(|(kind, n)| {
            value(
                &metrics,
                &format!("gateway_supervision_alerts{{level=\"{kind}\"}}"),
            ) == Some(*n as f64)
        }) && value(&metrics, "gateway_supervision_late_entries_total") == Some(2.0)
    })
    .await;
}

async fn metrics(node: &Node) -> String {
    let resp = node
        .web_client("qingyang-operator")
        .get("/metrics")
        .await
        .unwrap();
    String::from_utf8_lossy(&resp.body).into_owned()
}

/// The sample `name` (with its labels) of a Prometheus text page.
fn value(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn the_alert_gauges_are_counted_again_only_after_their_interval() {
    let node =
        Node::start_configured(&[("GATEWAY_SUPERVISION__ALERTS_GAUGE_INTERVAL_MS", "3600000")])
            .await;
    let late_entries = "gateway_supervision_alerts{level=\"late_entry\"}";
    // The first evaluator round counts: nothing yet.
    Network::eventually(20, "the first count", || async {
        value(&metrics(&node).await, late_entries) == Some(0.0)
    })
    .await;
    let t = now();
    push(
        &node,
        &[&Case::new("SV-GAUGE", t - Duration::hours(72), None, 3)],
    )
    .await;
    assert_eq!(
        case_nos(&alerts(&node, "?level=late_entry").await),
        ["SV-GAUGE"]
    );
    // Rounds go on every 200 ms (the level of a case keeps moving) but do not count again
    // within the hour; the alerts route answers live.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(value(&metrics(&node).await, late_entries), Some(0.0));
}

#[tokio::test]
async fn stats_count_on_time_and_early_completions() {
    let node = Node::start().await;
    // Accepted Monday 2 November 2026 with five working days: due Monday 9 November.
    let accepted = at("2026-11-02T10:00:00+08:00");
    let base = Case::new("", accepted - Duration::hours(2), Some(accepted), 5);
    let early = Case {
        no: "SV-EARLY",
        ..base.finished(at("2026-11-04T15:00:00+08:00"))
    };
    let on_time = Case {
        no: "SV-ON-TIME",
        ..base.finished(at("2026-11-09T16:00:00+08:00"))
    };
    let late = Case {
        no: "SV-LATE-DONE",
        region: DONGZHI,
        ..base.finished(at("2026-11-11T10:00:00+08:00"))
    };
    // Accepted the day before National Day 2026 with three days: 1–7 October are holidays,
    // Saturday 10 October is worked, so the third day is the 10th.
    let holiday_accepted = at("2026-09-30T16:00:00+08:00");
    let holiday = Case::new(
        "SV-HOLIDAY",
        holiday_accepted - Duration::hours(1),
        Some(holiday_accepted),
        3,
    )
    .finished(at("2026-10-10T11:00:00+08:00"));
    // Another early completion, on 6 November.
    let early_2 = Case {
        no: "SV-EARLY-2",
        ..base.finished(at("2026-11-06T09:00:00+08:00"))
    };
    push(&node, &[&early, &on_time, &late, &holiday, &early_2]).await;

    // Every one of them was entered weeks late: they are late-entry alerts, with deadlines.
    let all = alerts(&node, "?level=late_entry").await;
    assert_eq!(all.len(), 5);
    let a = alert(&all, "SV-HOLIDAY");
    assert_eq!(
        at(a["deadline"].as_str().unwrap()),
        at("2026-10-10T23:59:59+08:00")
    );
    assert_eq!(a["level"], "completed");
    assert_eq!(
        at(alert(&all, "SV-EARLY")["deadline"].as_str().unwrap()),
        at("2026-11-09T23:59:59+08:00")
    );

    let expect = |completed: i64, on_time: i64, early: i64| {
        json!({"completed": completed, "assessed": completed, "on_time": on_time,
               "late": completed - on_time, "early": early,
               "on_time_rate": on_time as f64 / completed as f64,
               "early_rate": early as f64 / completed as f64})
    };
    // Early (4 and 6 November), on time on the deadline day (9 November, and 10 October after
    // National Day), late (11 November).
    let window = "from=2026-10-01T00:00:00%2B08:00&to=2026-11-20T00:00:00%2B08:00";
    let stats = get(
        &node,
        "qingyang-supervisor",
        &format!("/v1/supervision/stats?{window}"),
        200,
    )
    .await;
    let mut total = expect(5, 4, 2);
    assert_eq!(stats["total"], total, "{stats:#}");
    assert_eq!(stats["scope"], "621000000000");
    total["department"] = json!("market_regulation");
    assert_eq!(stats["by_department"], json!([total.clone()]));
    total.as_object_mut().unwrap().remove("department");
    total["region_code"] = json!(XIFENG);
    total["name"] = json!("西峰区");
    assert_eq!(
        stats["by_region"],
        json!([total]),
        "the city's view rolls townships up to their county"
    );

    // Within Xifeng, by township (cases at Xifeng itself count under it).
    let stats = get(
        &node,
        "qingyang-operator",
        &format!("/v1/supervision/stats?region={XIFENG}&{window}&department=market_regulation"),
        200,
    )
    .await;
    let regions: Vec<(&str, i64)> = stats["by_region"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["region_code"].as_str().unwrap(),
                r["completed"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(regions, [(XIFENG, 4), (DONGZHI, 1)]);
    // A narrower window: only the completion of 4 November.
    let stats = get(
        &node,
        "qingyang-supervisor",
        "/v1/supervision/stats?from=2026-11-01T00:00:00%2B08:00&to=2026-11-06T00:00:00%2B08:00",
        200,
    )
    .await;
    assert_eq!(stats["total"], expect(1, 1, 1));
    // No completions: no rates.
    let stats = get(
        &node,
        "qingyang-supervisor",
        "/v1/supervision/stats?from=2025-01-01T00:00:00%2B08:00&to=2025-02-01T00:00:00%2B08:00",
        200,
    )
    .await;
    assert_eq!(
        (
            &stats["total"]["completed"],
            &stats["total"]["on_time_rate"]
        ),
        (&json!(0), &Value::Null)
    );
}

/// (version, level, late entry, entered at) of a case's supervision state on `node`.
async fn state(node: &Node, no: &str) -> Option<(i64, String, bool, DateTime<Utc>)> {
    node.db()
        .await
        .query_opt(
            "SELECT version, level, late_entry, entered_at FROM supervision_cases WHERE case_no = $1",
            &[&no],
        )
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
}

#[tokio::test]
async fn a_forwarded_case_is_supervised_with_its_first_entry_time() {
    use e2e::gansu::CITY;
    let net = Network::start(&[
        (CITY, "庆阳市节点", None),
        (XIFENG, "西峰区节点", Some(CITY)),
    ])
    .await;
    let (city, xifeng) = (net.node(CITY), net.node(XIFENG));
    let system = format!("n{XIFENG}-market-regulation");
    let t = now();
    // Entered 47 hours after it occurred: in time, however long forwarding takes.
    let case = Case::new(
        "SV-FWD",
        t - Duration::hours(47),
        Some(t - Duration::hours(30)),
        0,
    );
    push_to(xifeng, &system, "", &[&case]).await;
    Network::eventually(60, "the case supervised at the city", || async {
        state(city, "SV-FWD").await.is_some()
    })
    .await;
    let here = state(xifeng, "SV-FWD").await.unwrap();
    assert_eq!((here.0, here.1.as_str(), here.2), (1, "overdue", false));
    assert_eq!(
        state(city, "SV-FWD").await.unwrap(),
        here,
        "the first entry counts"
    );
    // The completed version reaches the city and clears the alarm there too.
    push_to(xifeng, &system, "", &[&case.finished(t)]).await;
    Network::eventually(60, "version 2 supervised at the city", || async {
        state(city, "SV-FWD")
            .await
            .is_some_and(|s| (s.0, s.1.as_str()) == (2, "completed"))
    })
    .await;
}
