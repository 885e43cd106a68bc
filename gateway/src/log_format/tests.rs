use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tracing_subscriber::fmt::MakeWriter;

use super::*;

/// Where a test subscriber writes its lines.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Lines;
    fn make_writer(&'a self) -> Lines {
        self.clone()
    }
}

impl Lines {
    fn parsed(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// What the gateway logs: events in and out of nested spans, fields of every kind, strings
/// that need escapes, a field recorded after the span started.
fn log_some_lines() {
    tracing::info!(plain = "no span", "started");
    let outer = tracing::info_span!("outer", node = "620000000000", n = 3_u64);
    let _outer = outer.enter();
    let id = "hall-7:req-0001";
    let span = tracing::info_span!("request", request_id = %id, method = "POST", path = "/v1/\"q\"", late = tracing::field::Empty);
    span.in_scope(|| {
        tracing::warn!(
            status = 422_u64,
            delta = -5_i64,
            ok = false,
            elapsed_ms = 0.3125_f64,
            nan = f64::NAN,
            text = "引号\"反斜杠\\换行\n制表\t\u{1}\u{7f}",
            debug = ?Some("a\"b"),
            "request {}",
            "done"
        );
    });
    span.record("late", "later");
    span.in_scope(|| tracing::error!(error = %"a\r\nb", "failed"));
}

fn capture(json_lines: bool) -> Vec<Value> {
    let lines = Lines::default();
    let builder = tracing_subscriber::fmt().with_writer(lines.clone());
    let dispatch: tracing::Dispatch = if json_lines {
        builder
            .fmt_fields(JsonMembers)
            .event_format(JsonLines)
            .finish()
            .into()
    } else {
        // tracing-subscriber's own JSON lines, as `serve` wrote them before.
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .finish()
            .into()
    };
    tracing::dispatcher::with_default(&dispatch, log_some_lines);
    lines.parsed()
}

#[test]
fn lines_say_what_tracing_subscribers_json_lines_say() {
    let mut ours = capture(true);
    let mut theirs = capture(false);
    assert_eq!(ours.len(), 3);
    for line in ours.iter_mut().chain(theirs.iter_mut()) {
        let stamp = line["timestamp"].as_str().unwrap().to_owned();
        assert!(
            chrono::DateTime::parse_from_rfc3339(&stamp).is_ok(),
            "{stamp}"
        );
        line.as_object_mut().unwrap().remove("timestamp");
    }
    assert_eq!(ours, theirs);
}

#[test]
fn lines_carry_the_fields_of_the_event_and_its_spans() {
    let lines = capture(true);
    assert_eq!(
        lines[0],
        json!({"timestamp": lines[0]["timestamp"], "level": "INFO", "plain": "no span",
               "message": "started", "target": "gateway::log_format::tests"})
    );
    let spans = json!([
        {"node": "620000000000", "n": 3, "name": "outer"},
        {"request_id": "hall-7:req-0001", "method": "POST", "path": "/v1/\"q\"", "name": "request"},
    ]);
    let warn = &lines[1];
    assert_eq!(warn["level"], "WARN");
    assert_eq!(warn["status"], 422);
    assert_eq!(warn["delta"], -5);
    assert_eq!(warn["ok"], false);
    assert_eq!(warn["elapsed_ms"], 0.3125);
    assert_eq!(warn["nan"], Value::Null);
    assert_eq!(warn["text"], "引号\"反斜杠\\换行\n制表\t\u{1}\u{7f}");
    assert_eq!(warn["debug"], "Some(\"a\\\"b\")");
    assert_eq!(warn["message"], "request done");
    assert_eq!(warn["spans"], spans);
    // A field recorded later joins its span's members.
    let error = &lines[2];
    assert_eq!(error["error"], "a\r\nb");
    assert_eq!(error["spans"][1]["late"], "later");
    assert_eq!(error["spans"][1]["request_id"], "hall-7:req-0001");
}
