-- Ingest performance (issue 11; bench/README.md "Changed around noon of 2026-12-06"):
-- a case's head (its highest stored version) is the record its supervision_cases row is
-- computed from, so it is kept there only. case_heads was a second row of the same key written
-- with every record (a heap row, an index entry and an upsert of its own); it stays as a view
-- for readers and operators' queries.
--
-- Every head gets a state row. Heads without one, or with one computed from another record
-- (possible only for cases stored before migration 0010), are marked `error` for the
-- evaluator's start-up catch-up, which recomputes every `error` row.
UPDATE supervision_cases s
   SET record_id = h.record_id, version = h.version, level = 'error',
       error = 'not assessed since migration 0029', updated_at = now()
  FROM case_heads h
 WHERE h.source_system = s.source_system AND h.case_no = s.case_no AND h.record_id <> s.record_id;

INSERT INTO supervision_cases (source_system, case_no, record_id, version, region_code, department,
    item_code, item_name, status, occurred_at, entered_at, entry_delay_secs, late_entry,
    limit_days, level, error)
SELECT h.source_system, h.case_no, h.record_id, h.version, r.region_code, r.department,
       r.item_code, '', r.status, r.occurred_at,
       (SELECT min(a.ingested_at) FROM case_records a
         WHERE a.source_system = h.source_system AND a.case_no = h.case_no),
       0, false, 0, 'error', 'not assessed since migration 0029'
  FROM case_heads h
  JOIN case_records r ON r.record_id = h.record_id
 WHERE NOT EXISTS (SELECT 1 FROM supervision_cases s
                    WHERE s.source_system = h.source_system AND s.case_no = h.case_no);

DROP TABLE case_heads;
CREATE VIEW case_heads AS
    SELECT source_system, case_no, version, record_id FROM supervision_cases;
