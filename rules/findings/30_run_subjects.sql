-- step: run subjects
-- description: The JSON context of run findings, including the run's intent findings that
--   are still open (an operator's holding decision closes one).
CREATE OR REPLACE VIEW internal.run_subjects AS
SELECT
    r.run_id AS subject_id, r.run_id, r.workflow, NULL::VARCHAR AS system,
    to_json({'workflow': r.workflow, 'required_intents': r.required_intents})::VARCHAR AS intended,
    to_json({
        'status': r.status, 'started_at': r.started_at, 'completion_deadline': r.completion_deadline,
        'status_event_id': r.status_event_id
    })::VARCHAR AS recorded,
    to_json({'required_done': r.required_done, 'all_required_done': r.all_required_done})::VARCHAR AS observed,
    to_json({
        'intent_findings': coalesce((
            SELECT list({'intent_id': f.subject_id, 'mismatch_type': f.mismatch_type} ORDER BY f.subject_id)
            FROM intent_findings f WHERE f.run_id = r.run_id AND f.closed IS NOT TRUE), [])
    })::VARCHAR AS evidence,
    sha256(concat_ws('|', r.status, r.required_done, r.required_intents)) AS state_hash
FROM run_state r
WHERE r.run_id IN (SELECT subject_id FROM rule_hits WHERE subject_kind = 'run');

