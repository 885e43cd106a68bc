//! Where `serve` writes its log lines: a buffer that a thread of its own writes to stderr every
//! few milliseconds.
//!
//! A request never waits on stderr (a slow pipe or a paused journal would otherwise stall the
//! async threads that log), and the lines of a whole interval leave in one write. A writer
//! thread woken for every line (tracing-appender's, measured) cost ~25 µs of CPU a line at
//! 1,000 requests/s: a futex wake and a spin per line, on cores the node needs. Nothing is
//! dropped: past [`LIMIT`] bytes waiting, loggers wait for the write.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a line may wait in the buffer.
pub const INTERVAL: Duration = Duration::from_millis(20);
/// Bytes waiting at which loggers wait for the writer.
pub const LIMIT: usize = 8 << 20;

#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    buffer: Mutex<Buffer>,
    /// Signalled when the buffer was taken (room for waiting loggers) or must be (full, closed).
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // A logger that panicked mid-append left whole lines or a partial one: keep logging.
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `MakeWriter` for tracing-subscriber: each event's formatted line is appended whole.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Writes what is left and stops the thread when dropped: hold it until the process exits.
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Start the writer thread over `out`.
pub fn start(out: impl Write + Send + 'static) -> (LogWriter, Guard) {
    let shared = Arc::new(Shared::default());
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn({
            let shared = shared.clone();
            move || run(&shared, out)
        })
        .expect("spawn the log writer thread");
    (
        LogWriter {
            shared: shared.clone(),
        },
        Guard {
            shared,
            thread: Some(thread),
        },
    )
}

fn run(shared: &Shared, mut out: impl Write) {
    let mut taken = Vec::new();
    loop {
        let closed = {
            let mut buffer = shared.lock();
            if buffer.bytes.is_empty() && !buffer.closed {
                // Loggers do not wake this thread (that is the cost avoided): look again soon.
                buffer = shared
                    .changed
                    .wait_timeout(buffer, INTERVAL)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            std::mem::swap(&mut taken, &mut buffer.bytes);
            buffer.closed
        };
        shared.changed.notify_all();
        if taken.is_empty() {
            if closed {
                return;
            }
            continue;
        }
        // Nowhere to report a failed write to stderr; the next interval tries again.
        let _ = out.write_all(&taken).and_then(|()| out.flush());
        taken.clear();
        if !closed {
            std::thread::sleep(INTERVAL);
        }
    }
}

impl Write for LogWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self.shared.lock();
        while buffer.bytes.len() >= LIMIT && !buffer.closed {
            buffer = self
                .shared
                .changed
                .wait(buffer)
                .unwrap_or_else(|e| e.into_inner());
        }
        buffer.bytes.extend_from_slice(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// An output the test can read while the writer holds it.
    #[derive(Clone, Default)]
    struct Out(Arc<Mutex<Vec<u8>>>);

    impl Write for Out {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn text(out: &Out) -> String {
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_and_in_order_per_thread() {
        let out = Out::default();
        let (writer, guard) = start(out.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut w = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        w.write_all(format!("thread {t} line {i}\n").as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let text = text(&out);
        assert_eq!(text.lines().count(), 8_000);
        for t in 0..4 {
            let mine: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("thread {t} line ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(mine, (0..2_000).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_line_is_written_within_a_few_intervals_without_dropping_the_guard() {
        let out = Out::default();
        let (mut writer, _guard) = start(out.clone());
        writer.write_all(b"hello\n").unwrap();
        let started = Instant::now();
        while text(&out).is_empty() {
            assert!(
                started.elapsed() < INTERVAL * 50,
                "the line was not written"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(text(&out), "hello\n");
    }

    #[test]
    fn a_full_buffer_makes_loggers_wait_instead_of_dropping_lines() {
        let out = Out::default();
        let (writer, guard) = start(out.clone());
        let line = vec![b'x'; 64 * 1024];
        let mut w = writer.clone();
        // Four times the limit, faster than one interval's write.
        for _ in 0..(4 * LIMIT / line.len()) {
            w.write_all(&line).unwrap();
        }
        drop(guard);
        assert_eq!(out.0.lock().unwrap().len(), 4 * LIMIT);
    }
}
