//! Electronic supervision (电子监察): for every case, was it entered in time, and is it being
//! handled within its time limit? docs/supervision.md has the rules with examples.
//!
//! # The rules
//!
//! Two separate dimensions, each case has both:
//!
//! - **Entry** (录入时效): the *entry delay* is when the case was first entered on the platform
//!   minus when it occurred: the earliest `ingested_at` among the case's stored versions (the
//!   stamp of the first gateway that accepted it; tiers above keep it, so forwarding time never
//!   counts, and a later version does not make an old case "late") minus `timestamps.occurred`
//!   of its current version. More than 48 hours is a **late-entry alarm**; exactly 48 hours is
//!   in time.
//! - **Processing** ([`Level`]): the limit is the promised time limit (承诺时限), or the legal one
//!   when none was promised, in working days. The deadline and the time used come from the
//!   bundled working-day calendar ([`domain::calendar`]): counting starts the day after
//!   acceptance, holidays and hold periods (挂起) do not count, adjusted working weekends do,
//!   due at 23:59:59+08:00 of the last counted day. `warning` (预警) from 80 % of the working
//!   time used, `overdue` (报警) once the deadline has passed. A case not accepted yet is
//!   `pending`; rejected or withdrawn is `closed`; completed is `completed`, on time when
//!   completed at or before the deadline and *early* when completed on a calendar day before
//!   the deadline's day (at least one day to spare; see [`assess`] for why). A date outside the
//!   calendar's data makes the case `error`, with the reason, never a guessed deadline.
//!
//! # How the state is kept
//!
//! A case's state follows its **head** (highest version), in any arrival order, and its state
//! row is where the head is kept (`supervision_cases.record_id`, `version`; migration 0029:
//! `case_heads` is a view of those columns). Whenever a record of a case is stored — pushed
//! here ([`crate::ingest::store`]) or forwarded by a child ([`crate::federation::receive`]) —
//! the insert reads the case's state row, and [`refresh::refresh_heads`] writes the new state
//! in the same transaction from the records in memory (a case whose head did not move:
//! [`refresh_records`], from the stored head). Should another transaction move the head in
//! between (two versions of a case pushed at the same moment), the write sees it
//! ([`refresh::HeadRace`]) and the transaction runs again. Levels also change with time alone
//! (normal → warning → overdue): each state row keeps the instants at which that happens
//! (`warning_at`, `deadline`), and the [`evaluator`](spawn) moves rows past them every
//! `supervision.evaluate_interval_ms`, one process at a time (advisory lock). It also
//! recomputes, once per process start, cases in `error` (the calendar may have been extended
//! by an upgrade).
//!
//! - [`assess`](assess()): the state of one case from its canonical body (pure, no I/O).
//! - [`refresh`]: the `supervision_cases` table (migration 0010), the evaluator and the
//!   metrics (`gateway_supervision_alerts{level}`, `gateway_supervision_late_entries_total`).
//! - [`api`]: `GET /v1/supervision/alerts` and `GET /v1/supervision/stats` (web listener,
//!   supervisors and operators, within their own region).

pub mod api;
pub mod assess;
pub mod refresh;

pub use assess::{Assessment, Facts, Level, assess};
pub use refresh::{Refreshed, refresh_records, spawn};
