-- Electronic supervision (电子监察): one row per case, computed from its head (highest version)
-- by gateway/src/supervision/ whenever a record of the case is stored, and moved along in time
-- (normal → warning → overdue) by the periodic evaluator. docs/supervision.md has the rules.
--
-- Two separate dimensions:
--   * entry: late_entry (the case was first entered more than 48 hours after it occurred);
--   * processing: level, one of
--       pending   not accepted yet: no clock
--       normal    clock running, less than 80 % of the working time used
--       warning   at least 80 % used, not overdue (预警)
--       overdue   the deadline has passed (报警)
--       completed completed (办结); completed_on_time / completed_early say how
--       closed    rejected (不予受理) or withdrawn: no deadline to meet
--       error     cannot be assessed (a date outside the calendar's data, a hold before
--                 acceptance…); `error` says why. Never a guessed deadline.
CREATE TABLE supervision_cases (
    source_system     text NOT NULL,
    case_no           text NOT NULL,
    -- The head the state was computed from.
    record_id         uuid NOT NULL REFERENCES case_records (record_id),
    version           bigint NOT NULL,
    region_code       text NOT NULL,
    department        text NOT NULL,
    item_code         text NOT NULL,
    item_name         text NOT NULL,
    status            text NOT NULL,
    occurred_at       timestamptz NOT NULL,
    -- The earliest `ingested_at` of the case's stored versions: when the first gateway first
    -- accepted the case (forwarding time never counts).
    entered_at        timestamptz NOT NULL,
    entry_delay_secs  bigint NOT NULL,
    late_entry        boolean NOT NULL,
    accepted_at       timestamptz,
    -- Working days: the promised limit, else the legal one.
    limit_days        integer NOT NULL,
    -- NULL: not accepted, on an open hold, closed, or not assessable.
    deadline          timestamptz,
    -- When 80 % of the working time is used (NULL when no running clock or a limit of 0).
    warning_at        timestamptz,
    on_hold_since     timestamptz,
    level             text NOT NULL CHECK (level IN ('pending', 'normal', 'warning', 'overdue', 'completed', 'closed', 'error')),
    error             text,
    completed_at      timestamptz,
    completed_on_time boolean,
    completed_early   boolean,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_system, case_no),
    CHECK ((level = 'error') = (error IS NOT NULL))
);
-- GET /v1/supervision/alerts: cases with an alarm, by region subtree and department.
CREATE INDEX supervision_alerts ON supervision_cases (region_code text_pattern_ops, department)
    WHERE late_entry OR level IN ('warning', 'overdue', 'error');
-- GET /v1/supervision/stats: completions in a window.
CREATE INDEX supervision_completed ON supervision_cases (completed_at, region_code text_pattern_ops)
    WHERE completed_at IS NOT NULL;
-- The periodic evaluator: running clocks that reach their warning or deadline.
CREATE INDEX supervision_due ON supervision_cases (deadline) WHERE level IN ('normal', 'warning');
CREATE INDEX supervision_warning ON supervision_cases (warning_at) WHERE level = 'normal';
