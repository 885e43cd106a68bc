//! How `serve` writes a JSON log line: the lines of tracing-subscriber's JSON format, written
//! straight into the line.
//!
//! ```text
//! {"timestamp":"2026-12-06T05:01:02.345678Z","level":"INFO","status":200,"elapsed_ms":0.31,
//!  "message":"request","target":"gateway::api::request_id",
//!  "spans":[{"request_id":"…","method":"POST","path":"/v1/certificates/verify","name":"request"}]}
//! ```
//!
//! tracing-subscriber's own JSON format keeps each span's fields as JSON text and, for every
//! line, parses that text back into a map and serializes it again (and builds a map of values
//! for every span's fields when the span starts): with one line per request that was ~8 % of
//! the CPU of a request to verify one credential (bench/README.md, "Changed in the morning of
//! 2026-12-06"). Here a span's fields are written once as JSON members, in the order they were
//! recorded, and copied into each line of the span as they are.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The line format (`event_format`).
pub struct JsonLines;

/// The span field format (`fmt_fields`): `"name":value` members separated by commas, no braces.
pub struct JsonMembers;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut writer)?;
        write!(writer, "\",\"level\":\"{}\"", meta.level().as_str())?;
        let mut members = Members {
            out: &mut writer,
            comma: true,
            result: Ok(()),
        };
        event.record(&mut members);
        members.result?;
        writer.write_str(",\"target\":")?;
        write_str(&mut writer, meta.target())?;
        if let Some(scope) = ctx.event_scope() {
            writer.write_str(",\"spans\":[")?;
            for (i, span) in scope.from_root().enumerate() {
                if i > 0 {
                    writer.write_char(',')?;
                }
                writer.write_char('{')?;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && !fields.fields.is_empty()
                {
                    writer.write_str(&fields.fields)?;
                    writer.write_char(',')?;
                }
                writer.write_str("\"name\":")?;
                write_str(&mut writer, span.metadata().name())?;
                writer.write_char('}')?;
            }
            writer.write_char(']')?;
        }
        writer.write_str("}\n")
    }
}

impl<'w> FormatFields<'w> for JsonMembers {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: Writer<'w>,
        fields: R,
    ) -> fmt::Result {
        let mut members = Members {
            out: &mut writer,
            comma: false,
            result: Ok(()),
        };
        fields.record(&mut members);
        members.result
    }

    /// Fields recorded after the span started are appended (a field recorded twice appears
    /// twice; the gateway records a span's fields when it starts).
    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut added = String::new();
        self.format_fields(Writer::new(&mut added), fields)?;
        if !current.fields.is_empty() && !added.is_empty() {
            current.fields.push(',');
        }
        current.fields.push_str(&added);
        Ok(())
    }
}

/// Writes each field as `"name":value`, after a comma unless it is the first and `comma` is
/// false.
struct Members<'a, 'w> {
    out: &'a mut Writer<'w>,
    comma: bool,
    result: fmt::Result,
}

impl Members<'_, '_> {
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            let comma = std::mem::replace(&mut self.comma, true);
            self.result = (|| {
                if comma {
                    self.out.write_char(',')?;
                }
                write_str(self.out, field.name())?;
                self.out.write_char(':')?;
                value(self.out)
            })();
        }
    }
}

impl Visit for Members<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| write_str(w, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |w| {
            w.write_char('"')?;
            write!(Escaped(w), "{value:?}")?;
            w.write_char('"')
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| write!(w, "{value}"));
    }

    /// As serde_json writes an `f64`: the shortest form that reads back, `null` when not finite.
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, |w| match serde_json::Number::from_f64(value) {
            Some(n) => write!(w, "{n}"),
            None => w.write_str("null"),
        });
    }
}

/// A JSON string.
fn write_str(out: &mut Writer<'_>, s: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(out).write_str(s)?;
    out.write_char('"')
}

/// Escapes what JSON requires inside a string (as serde_json does): `"`, `\` and controls.
struct Escaped<'a, 'w>(&'a mut Writer<'w>);

impl Write for Escaped<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut start = 0;
        for (i, b) in s.bytes().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0..0x20 => "",
                _ => continue,
            };
            self.0.write_str(&s[start..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{b:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            start = i + 1;
        }
        self.0.write_str(&s[start..])
    }
}

#[cfg(test)]
mod tests;
