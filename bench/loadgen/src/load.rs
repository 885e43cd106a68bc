//! Load shapes. **Closed loop**: a fixed number of workers, each sending its next request as
//! soon as the previous one is answered — finds the peak rate. **Open loop**: requests start on
//! a fixed schedule whatever the answers do, and each latency runs from the request's
//! *scheduled* start, so a stall shows up in the percentiles instead of slowing the load down
//! (no coordinated omission).
//!
//! Both discard a warm-up period; a request counts when it completes inside the measured window
//! (closed loop) or was scheduled inside it (open loop, waited for to the end).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::client::Pool;

/// One request to send.
pub struct Job {
    pub pool: Arc<Pool>,
    pub method: Method,
    pub path: String,
    pub content_type: Option<&'static str>,
    pub body: Bytes,
    /// Records in the body (0 for requests that carry none).
    pub records: u64,
}

/// Makes the next job: given the worker (closed loop) or the request number (open loop).
pub type MakeJob = Arc<dyn Fn(usize) -> Job + Send + Sync>;

#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub warmup: Duration,
    pub measure: Duration,
}

fn histogram() -> Histogram<u64> {
    // Microseconds, 1 µs to 10 minutes, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

/// What a load run measured.
pub struct Outcome {
    pub requests: u64,
    pub records: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub window: Duration,
    /// Latency in microseconds of every counted request.
    pub latency: Histogram<u64>,
    /// Most requests in flight at once (open loop).
    pub max_in_flight: usize,
    /// Open loop: the rate asked for.
    pub target_rate: Option<f64>,
    /// Successful requests and their records over the whole run, warm-up included (for CPU per
    /// request, and for checking what the database holds afterwards).
    pub all_requests: u64,
    pub all_records: u64,
}

impl Outcome {
    fn new(window: Duration) -> Outcome {
        Outcome {
            requests: 0,
            records: 0,
            errors: 0,
            first_error: None,
            window,
            latency: histogram(),
            max_in_flight: 0,
            target_rate: None,
            all_requests: 0,
            all_records: 0,
        }
    }

    fn add(&mut self, other: Outcome) {
        self.requests += other.requests;
        self.records += other.records;
        self.errors += other.errors;
        self.all_requests += other.all_requests;
        self.all_records += other.all_records;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latency.add(&other.latency).expect("same bounds");
    }

    fn record(&mut self, result: anyhow::Result<crate::client::Answer>, records: u64, us: u64) {
        match result {
            Ok(a) if a.status.is_success() => {
                self.requests += 1;
                self.records += records;
                let _ = self.latency.record(us.max(1));
            }
            Ok(a) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| {
                    let text = String::from_utf8_lossy(&a.body);
                    format!(
                        "HTTP {}: {}",
                        a.status,
                        text.chars().take(400).collect::<String>()
                    )
                });
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }

    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.window.as_secs_f64()
    }

    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64()
    }

    /// Latency percentile `q` (0-100) in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_percentile(q) as f64 / 1000.0
    }

    pub fn to_json(&self) -> Value {
        let r = |x: f64| (x * 1000.0).round() / 1000.0;
        json!({
            "window_secs": self.window.as_secs_f64(),
            "requests": self.requests,
            "records": self.records,
            "errors": self.errors,
            "first_error": self.first_error,
            "requests_per_sec": r(self.requests_per_sec()),
            "records_per_sec": r(self.records_per_sec()),
            "target_rate_per_sec": self.target_rate,
            "max_in_flight": self.max_in_flight,
            "latency_ms": {
                "p50": r(self.ms(50.0)), "p90": r(self.ms(90.0)), "p99": r(self.ms(99.0)),
                "p999": r(self.ms(99.9)), "max": r(self.latency.max() as f64 / 1000.0),
                "mean": r(self.latency.mean() / 1000.0),
            },
        })
    }
}

async fn send(job: Job) -> (anyhow::Result<crate::client::Answer>, u64) {
    let Job {
        pool,
        method,
        path,
        content_type,
        body,
        records,
    } = job;
    (pool.send(method, &path, content_type, body).await, records)
}

/// `workers` workers back to back for `w.warmup + w.measure`.
pub async fn closed(workers: usize, w: Window, make: MakeJob) -> Outcome {
    let start = Instant::now();
    let (from, end) = (start + w.warmup, start + w.warmup + w.measure);
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let make = make.clone();
        tasks.spawn(async move {
            let mut out = Outcome::new(w.measure);
            while Instant::now() < end {
                let job = make(worker);
                let t0 = Instant::now();
                let (result, records) = send(job).await;
                let t1 = Instant::now();
                if result.as_ref().is_ok_and(|a| a.status.is_success()) {
                    out.all_requests += 1;
                    out.all_records += records;
                }
                if t1 >= from && t1 <= end {
                    out.record(result, records, (t1 - t0).as_micros() as u64);
                }
            }
            out
        });
    }
    let mut total = Outcome::new(w.measure);
    while let Some(done) = tasks.join_next().await {
        total.add(done.expect("worker panicked"));
    }
    total
}

/// `rate` requests per second on schedule for `w.warmup + w.measure`, then wait (up to a
/// minute) for the last answers.
pub async fn open(rate: f64, w: Window, make: MakeJob) -> Outcome {
    let start = Instant::now();
    let (from, end) = (start + w.warmup, start + w.warmup + w.measure);
    let total = Arc::new(Mutex::new(Outcome::new(w.measure)));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0.. {
        let due = start + Duration::from_secs_f64(k as f64 / rate);
        if due >= end {
            break;
        }
        let job = make(k);
        tokio::time::sleep_until(due).await;
        let (total, in_flight, max_in_flight) =
            (total.clone(), in_flight.clone(), max_in_flight.clone());
        tasks.spawn(async move {
            let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            max_in_flight.fetch_max(now, Ordering::Relaxed);
            let (result, records) = send(job).await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let us = (Instant::now() - due).as_micros() as u64;
            let mut total = total.lock().unwrap_or_else(|e| e.into_inner());
            if result.as_ref().is_ok_and(|a| a.status.is_success()) {
                total.all_requests += 1;
                total.all_records += records;
            }
            if due >= from {
                total.record(result, records, us);
            }
        });
        // Reap finished tasks as we go, so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    let drained = tokio::time::timeout(Duration::from_secs(60), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    let mut out = std::mem::replace(
        &mut *total.lock().unwrap_or_else(|e| e.into_inner()),
        Outcome::new(w.measure),
    );
    if drained.is_err() {
        out.errors += tasks.len() as u64;
        out.first_error
            .get_or_insert_with(|| "requests still unanswered 60 s after the run".into());
        tasks.abort_all();
    }
    out.max_in_flight = max_in_flight.load(Ordering::Relaxed);
    out.target_rate = Some(rate);
    out
}
