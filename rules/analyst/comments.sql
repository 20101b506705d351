-- step: analyst comments
-- description: A COMMENT on every public table and view of the analyst database and on each
--   of their columns (the text of docs/outputs.md, where each is documented at length), so
--   that `duckdb_tables()`, `duckdb_views()` and `duckdb_columns()` describe the database
--   from inside it. The public tables are `reckon.database.PUBLIC_TABLES`; every other table
--   sits in the schema `internal`. Run by `publish` after views.sql (tables
--   rebuilt by an audit lose their comments, so every audit sets them again).
--   tests/test_analyst_database.py fails when a public table or column has no comment here.

-- audit_context
COMMENT ON TABLE audit_context IS 'One row: the audit that the current tables describe.';
COMMENT ON COLUMN audit_context.audit_id IS 'aud_<20 hex>, a hash of the sorted snapshot ids and the decision files (Conventions)';
COMMENT ON COLUMN audit_context.as_of IS 'the audit''s "now": the newest observed_at over all snapshots. Value is 1970-01-01 when there are none';
COMMENT ON COLUMN audit_context.log_observed_at IS 'newest observed_at of the workflow-layer snapshots; NULL if there are none. Completion windows are judged against this';
COMMENT ON COLUMN audit_context.seq IS 'the audit''s position in the order of audits: its existing audits.seq on a re-run, otherwise the largest audits.seq + 1 (1 for the first audit)';
COMMENT ON COLUMN audit_context.incremental IS 'the layers fold in only the snapshots not folded yet and recompute only scope_runs (section 2.2, "Incremental audits"); false on a full audit';
COMMENT ON COLUMN audit_context.models_fingerprint IS 'hash of every rules/models//*.sql file, rules/macros.sql and the catalog tables the layers read (cfg_systems, with its id_form and field_map; cfg_workflows; cfg_steps; cfg_field_map; cfg_status_vocabulary); a different value than the kept tables'' makes the audit full';

-- audit_files
COMMENT ON TABLE audit_files IS 'One row per (view, file): the snapshot files each view over the snapshots reads in this audit (reckon/inputs.py register_audit). The same lists are the session variables those views read (section 2). A view with no file has no row.';
COMMENT ON COLUMN audit_files.view IS 'raw_events and raw_observed (every workflow-layer, resp. observed-layer snapshot''s data.parquet), raw_events_new and raw_observed_new (those of the snapshots not folded into events, resp. observed, before this audit), quarantine_files (every snapshot''s quarantine.parquet, read into quarantine)';
COMMENT ON COLUMN audit_files.path IS 'path of the file relative to the workspace folder, with / separators (snapshots/source=…/data.parquet)';

-- cfg_snapshots
COMMENT ON TABLE cfg_snapshots IS 'One row per snapshot the audit read.';
COMMENT ON COLUMN cfg_snapshots.snapshot_id IS 'snap_<20 hex>';
COMMENT ON COLUMN cfg_snapshots.source IS 'source name';
COMMENT ON COLUMN cfg_snapshots.connector IS 'connector name';
COMMENT ON COLUMN cfg_snapshots.layer IS 'workflow or observed';
COMMENT ON COLUMN cfg_snapshots.system IS 'system exported; NULL for the workflow log';
COMMENT ON COLUMN cfg_snapshots.observed_at IS 'the snapshot''s export time (manifest observed_at)';
COMMENT ON COLUMN cfg_snapshots.rows IS 'canonical rows in the snapshot';
COMMENT ON COLUMN cfg_snapshots.quarantined IS 'quarantined records in the snapshot';
COMMENT ON COLUMN cfg_snapshots.repeats_dropped IS 'identical repeats dropped while reading (manifest repeats_dropped)';
COMMENT ON COLUMN cfg_snapshots.path IS 'snapshot folder, relative to the workspace root';
COMMENT ON COLUMN cfg_snapshots.origin IS 'export (landing files) or live (API responses `reckon verify` read; observed_at is the responses'' HTTP Date). A live snapshot holds only the objects read, so it does not count toward system_freshness';

-- mismatch_types
COMMENT ON TABLE mismatch_types IS 'One row per mismatch type: what its rule''s header in rules/mismatches/ says the type means (rules.Rule.catalog_row), loaded by each audit. The findings (repair_pattern), the repair plan (operation, duplicate risk, next action) and the metrics (category) read it. A header value may be conditional, <value> if <condition> else <value>: it is split into the value, the condition and the alternative.';
COMMENT ON COLUMN mismatch_types.mismatch_type IS 'the type';
COMMENT ON COLUMN mismatch_types.rule_id IS 'its rule (R101 …)';
COMMENT ON COLUMN mismatch_types.subject_kind IS 'intent · run · effect';
COMMENT ON COLUMN mismatch_types.severity IS 'low · medium · high';
COMMENT ON COLUMN mismatch_types.precedence IS 'rank among the rules of its subject kind; the lowest of a subject''s hits is its primary finding';
COMMENT ON COLUMN mismatch_types.repair IS 'the repair pattern, when repair_condition holds or there is none';
COMMENT ON COLUMN mismatch_types.repair_condition IS 'reversible (the step''s catalog reversible), safe_to_retry (the step''s catalog safe_to_retry), has_key (the intent has an idempotency key: intended.idempotency_key, or a key other than the intent id in intent_keys), compensable (cfg_policies.compensate_orphans is set and cfg_compensations has the object''s system and type); NULL when the pattern is unconditional';
COMMENT ON COLUMN mismatch_types.repair_otherwise IS 'the pattern when the condition does not hold; NULL when unconditional';
COMMENT ON COLUMN mismatch_types.operation IS 'how a forward_completion or status_patch is carried out (section 3.3): patch_fields · execute_step · retry_same_key · retry_new_key · mark_satisfied · mark_needs_reconciliation · mark_complete; NULL for a type whose repair is neither';
COMMENT ON COLUMN mismatch_types.duplicate_risk IS 'the actions'' duplicate risk (section 3.2), when risk_condition holds or there is none';
COMMENT ON COLUMN mismatch_types.risk_condition IS 'key_remembered (section 3.2) or NULL';
COMMENT ON COLUMN mismatch_types.risk_otherwise IS 'the risk when the condition does not hold; NULL when unconditional';
COMMENT ON COLUMN mismatch_types.next_action IS 'the operator''s next step, in words (the recommended_next_action of a human_adjudication action)';
COMMENT ON COLUMN mismatch_types.prevention IS 'the one line of follow-up work that stops the type recurring';
COMMENT ON COLUMN mismatch_types.metric IS 'the category the metrics count it in: duplicate · drift · failure · missing · bookkeeping · pending · orphan (findings_by_category, section 2.6)';
COMMENT ON COLUMN mismatch_types.description IS 'what the type means, in words';

-- decisions
COMMENT ON TABLE decisions IS 'One row per valid line of the operator decision files, as read by this audit (reckon/decisions.py). Operators write the files; reckon only reads them.';
COMMENT ON COLUMN decisions.finding_id IS 'finding decided on';
COMMENT ON COLUMN decisions.decision IS 'accept_external_truth · retry · compensate · ignore';
COMMENT ON COLUMN decisions.reason IS 'reason; NULL if none was given';
COMMENT ON COLUMN decisions.operator IS 'operator; NULL if none was given';
COMMENT ON COLUMN decisions.decided_at IS 'when the operator decided. Decisions dated after the audit''s as_of are kept here but ignored by that audit';
COMMENT ON COLUMN decisions.source_file IS 'decision file, relative to the workspace root (decisions/…)';
COMMENT ON COLUMN decisions.source_record IS 'JSON Lines: 1-based line number. CSV: record number, counting the header row as 1 (the first decision is 2)';

-- quarantine
COMMENT ON TABLE quarantine IS 'One row per record (or whole file) that a connector rejected, across all snapshots of the audit, plus one row per rejected line of the decision files. It is a table: the audit reads the snapshots'' quarantine.parquet files (audit_files.view = ''quarantine_files'') when it builds it, so it needs no session variable.';
COMMENT ON COLUMN quarantine.source IS 'source name; decisions for a decision-file line';
COMMENT ON COLUMN quarantine.source_file IS 'landing file or decision file, relative to the workspace root';
COMMENT ON COLUMN quarantine.source_record IS '1-based line or record number (as in decisions.source_record for decision files); 0 when the whole file is unreadable';
COMMENT ON COLUMN quarantine.reason IS 'why it was rejected, e.g. malformed JSON: …, missing or non-string required field ''run_id'', ''ignore'' needs a ''reason''';
COMMENT ON COLUMN quarantine.excerpt IS 'first 200 characters of the raw record (for a decision that was parsed but failed a rule, the parsed record as JSON); NULL for whole-file errors';
COMMENT ON COLUMN quarantine.snapshot_id IS 'snapshot the rejection was recorded in; NULL for decision-file lines, which belong to no snapshot';

-- raw_events
COMMENT ON VIEW raw_events IS 'Every event row of every workflow-layer snapshot''s data.parquet, duplicates included. Its columns are exactly those of events (below). raw_events_new is the same over the snapshots the kept events table had not folded in yet (all of them on a full audit). Both read their files through session variables: set them first in a session of your own (section 2).';
COMMENT ON COLUMN raw_events.event_id IS 'unique event id';
COMMENT ON COLUMN raw_events.ts IS 'when it happened in the runtime; orders events';
COMMENT ON COLUMN raw_events.type IS 'run.started · intent.declared · action.attempted · action.succeeded · action.failed · action.timed_out · receipt.recorded · action.skipped · action.compensated · action.blocked · run.awaiting_approval · run.escalated · run.needs_reconciliation · run.completed · run.failed · run.flagged. action.blocked (idempotency logic refused a duplicate attempt) and run.flagged (someone doubts the run) are accepted and kept, but are neither outcomes nor run statuses: they count among the intent''s or run''s events (events, last_event_at), and send their run to reconciliation (suspicious_run_reasons: duplicate_attempt_blocked, operator_flag)';
COMMENT ON COLUMN raw_events.run_id IS 'run';
COMMENT ON COLUMN raw_events.workflow IS 'workflow name';
COMMENT ON COLUMN raw_events.intent_id IS 'intent (required on every non-run.* event)';
COMMENT ON COLUMN raw_events.step IS 'catalog step';
COMMENT ON COLUMN raw_events.action IS 'system.object.verb';
COMMENT ON COLUMN raw_events.system IS 'target system';
COMMENT ON COLUMN raw_events.idempotency_key IS 'key sent with the call, on whichever event the runtime put it';
COMMENT ON COLUMN raw_events.target_object_type IS 'target.object_type';
COMMENT ON COLUMN raw_events.target_key IS 'target.key: the existing object an update acts on, as the runtime wrote it (intended holds it in canonical form)';
COMMENT ON COLUMN raw_events.expected IS 'field values the effect must show (on intent.declared)';
COMMENT ON COLUMN raw_events.attempt IS 'attempt number (≥ 1)';
COMMENT ON COLUMN raw_events.receipt_external_id IS 'receipt.external_id, as the runtime wrote it (recorded holds it in canonical form)';
COMMENT ON COLUMN raw_events.receipt IS 'the whole receipt object';
COMMENT ON COLUMN raw_events.error_kind IS 'error.kind (e.g. timeout, http_5xx)';
COMMENT ON COLUMN raw_events.error_message IS 'error.message';
COMMENT ON COLUMN raw_events.status IS 'status field of run status events';
COMMENT ON COLUMN raw_events.actor IS 'agent or an operator id. NULL is treated as the agent';
COMMENT ON COLUMN raw_events.description IS 'business goal in words';
COMMENT ON COLUMN raw_events.extra IS 'fields the event-log spec does not name; NULL if there are none';
COMMENT ON COLUMN raw_events.source_file IS 'landing file';
COMMENT ON COLUMN raw_events.source_record IS '1-based line number';
COMMENT ON COLUMN raw_events.snapshot_id IS 'snapshot the row came from';
COMMENT ON COLUMN raw_events.observed_at IS 'export time of the landing file';

-- raw_events_new
COMMENT ON VIEW raw_events_new IS 'The same as raw_events over the snapshots the kept events table had not folded in yet (all of them on a full audit). Reads its files through a session variable (docs/outputs.md section 2).';
COMMENT ON COLUMN raw_events_new.event_id IS 'unique event id';
COMMENT ON COLUMN raw_events_new.ts IS 'when it happened in the runtime; orders events';
COMMENT ON COLUMN raw_events_new.type IS 'run.started · intent.declared · action.attempted · action.succeeded · action.failed · action.timed_out · receipt.recorded · action.skipped · action.compensated · action.blocked · run.awaiting_approval · run.escalated · run.needs_reconciliation · run.completed · run.failed · run.flagged. action.blocked (idempotency logic refused a duplicate attempt) and run.flagged (someone doubts the run) are accepted and kept, but are neither outcomes nor run statuses: they count among the intent''s or run''s events (events, last_event_at), and send their run to reconciliation (suspicious_run_reasons: duplicate_attempt_blocked, operator_flag)';
COMMENT ON COLUMN raw_events_new.run_id IS 'run';
COMMENT ON COLUMN raw_events_new.workflow IS 'workflow name';
COMMENT ON COLUMN raw_events_new.intent_id IS 'intent (required on every non-run.* event)';
COMMENT ON COLUMN raw_events_new.step IS 'catalog step';
COMMENT ON COLUMN raw_events_new.action IS 'system.object.verb';
COMMENT ON COLUMN raw_events_new.system IS 'target system';
COMMENT ON COLUMN raw_events_new.idempotency_key IS 'key sent with the call, on whichever event the runtime put it';
COMMENT ON COLUMN raw_events_new.target_object_type IS 'target.object_type';
COMMENT ON COLUMN raw_events_new.target_key IS 'target.key: the existing object an update acts on, as the runtime wrote it (intended holds it in canonical form)';
COMMENT ON COLUMN raw_events_new.expected IS 'field values the effect must show (on intent.declared)';
COMMENT ON COLUMN raw_events_new.attempt IS 'attempt number (≥ 1)';
COMMENT ON COLUMN raw_events_new.receipt_external_id IS 'receipt.external_id, as the runtime wrote it (recorded holds it in canonical form)';
COMMENT ON COLUMN raw_events_new.receipt IS 'the whole receipt object';
COMMENT ON COLUMN raw_events_new.error_kind IS 'error.kind (e.g. timeout, http_5xx)';
COMMENT ON COLUMN raw_events_new.error_message IS 'error.message';
COMMENT ON COLUMN raw_events_new.status IS 'status field of run status events';
COMMENT ON COLUMN raw_events_new.actor IS 'agent or an operator id. NULL is treated as the agent';
COMMENT ON COLUMN raw_events_new.description IS 'business goal in words';
COMMENT ON COLUMN raw_events_new.extra IS 'fields the event-log spec does not name; NULL if there are none';
COMMENT ON COLUMN raw_events_new.source_file IS 'landing file';
COMMENT ON COLUMN raw_events_new.source_record IS '1-based line number';
COMMENT ON COLUMN raw_events_new.snapshot_id IS 'snapshot the row came from';
COMMENT ON COLUMN raw_events_new.observed_at IS 'export time of the landing file';

-- raw_observed
COMMENT ON VIEW raw_observed IS 'Every object-version row of every observed-layer snapshot: one row per version of an object, as the connector read it. raw_observed_new: the same over the snapshots not folded into observed yet. Both read their files through session variables, like raw_events.';
COMMENT ON COLUMN raw_observed.system IS 'system name from config';
COMMENT ON COLUMN raw_observed.object_type IS 'the system''s object_type';
COMMENT ON COLUMN raw_observed.external_id IS 'the object''s id in the system. For SendGrid this is the part of sg_message_id before the first .';
COMMENT ON COLUMN raw_observed.correlation_keys IS 'values found at the system''s correlation_paths that match correlation.key_pattern (intent ids or idempotency keys the agent wrote into the object)';
COMMENT ON COLUMN raw_observed.state IS 'normalized state: success · pending · failed · deleted (mapping below)';
COMMENT ON COLUMN raw_observed.raw_status IS 'the vendor''s status as read: the Stripe status, the SendGrid event name, the HubSpot value active/archived/merged, or the Zendesk status';
COMMENT ON COLUMN raw_observed.fields IS 'the object''s business fields (canonical JSON, sorted keys)';
COMMENT ON COLUMN raw_observed.last_actor IS 'who last wrote the business data. HubSpot: the writer of the newest propertiesWithHistory entry that counts, as user:<id>, <sourceType>:<sourceId> or <sourceType>; generic: the source''s actor column. NULL for the other connectors and for a HubSpot record without history';
COMMENT ON COLUMN raw_observed.created_at IS 'creation time reported by the system';
COMMENT ON COLUMN raw_observed.updated_at IS 'version time of this row: the object''s update time, or the time of the webhook event (Stripe events, SendGrid). NULL when the record has no version time of its own';
COMMENT ON COLUMN raw_observed.merged_into IS 'survivor id when the object was merged away (HubSpot alias rows)';
COMMENT ON COLUMN raw_observed.edited_at IS 'when someone last changed the object''s content, where the format says so (an edit, not a lifecycle step). Stripe: the event''s created, for a refund.* event whose data.previous_attributes names a field other than the refund''s lifecycle fields (status, failure_reason, failure_balance_transaction, next_action, pending_reason, destination_details, balance_transaction, receipt_number, instructions_email); NULL for refund list pages, charge.refunded events and lifecycle-only events. Zendesk: the ticket''s updated_at. HubSpot: updatedAt (NULL on alias rows). S3 Inventory: LastModifiedDate. NULL for SendGrid (events are deliveries, not edits), Postmark and generic';
COMMENT ON COLUMN raw_observed.actor_writes IS 'each writer the format names and the time of its newest write, {"<actor>": "<RFC 3339 time>", …}, so that a write by the agent stays visible after someone else wrote on top of it. HubSpot only, over the same propertiesWithHistory entries as last_actor; NULL elsewhere and without history';
COMMENT ON COLUMN raw_observed.raw IS 'the vendor''s record as read, which raw field mappings read: Stripe''s refund object, SendGrid''s event, HubSpot''s CRM object without propertiesWithHistory (NULL on alias rows), Zendesk''s ticket, Postmark''s webhook payload, the S3 Inventory row (all values as text). NULL for generic sources';
COMMENT ON COLUMN raw_observed.source_file IS 'landing file, relative to the workspace root';
COMMENT ON COLUMN raw_observed.source_record IS '1-based line number (JSON Lines) or record position (JSON documents)';
COMMENT ON COLUMN raw_observed.snapshot_id IS 'snapshot the row came from';
COMMENT ON COLUMN raw_observed.observed_at IS 'export time of the source file';

-- raw_observed_new
COMMENT ON VIEW raw_observed_new IS 'The same as raw_observed over the snapshots not folded into observed yet. Reads its files through a session variable (docs/outputs.md section 2).';
COMMENT ON COLUMN raw_observed_new.system IS 'system name from config';
COMMENT ON COLUMN raw_observed_new.object_type IS 'the system''s object_type';
COMMENT ON COLUMN raw_observed_new.external_id IS 'the object''s id in the system. For SendGrid this is the part of sg_message_id before the first .';
COMMENT ON COLUMN raw_observed_new.correlation_keys IS 'values found at the system''s correlation_paths that match correlation.key_pattern (intent ids or idempotency keys the agent wrote into the object)';
COMMENT ON COLUMN raw_observed_new.state IS 'normalized state: success · pending · failed · deleted (mapping below)';
COMMENT ON COLUMN raw_observed_new.raw_status IS 'the vendor''s status as read: the Stripe status, the SendGrid event name, the HubSpot value active/archived/merged, or the Zendesk status';
COMMENT ON COLUMN raw_observed_new.fields IS 'the object''s business fields (canonical JSON, sorted keys)';
COMMENT ON COLUMN raw_observed_new.last_actor IS 'who last wrote the business data. HubSpot: the writer of the newest propertiesWithHistory entry that counts, as user:<id>, <sourceType>:<sourceId> or <sourceType>; generic: the source''s actor column. NULL for the other connectors and for a HubSpot record without history';
COMMENT ON COLUMN raw_observed_new.created_at IS 'creation time reported by the system';
COMMENT ON COLUMN raw_observed_new.updated_at IS 'version time of this row: the object''s update time, or the time of the webhook event (Stripe events, SendGrid). NULL when the record has no version time of its own';
COMMENT ON COLUMN raw_observed_new.merged_into IS 'survivor id when the object was merged away (HubSpot alias rows)';
COMMENT ON COLUMN raw_observed_new.edited_at IS 'when someone last changed the object''s content, where the format says so (an edit, not a lifecycle step). Stripe: the event''s created, for a refund.* event whose data.previous_attributes names a field other than the refund''s lifecycle fields (status, failure_reason, failure_balance_transaction, next_action, pending_reason, destination_details, balance_transaction, receipt_number, instructions_email); NULL for refund list pages, charge.refunded events and lifecycle-only events. Zendesk: the ticket''s updated_at. HubSpot: updatedAt (NULL on alias rows). S3 Inventory: LastModifiedDate. NULL for SendGrid (events are deliveries, not edits), Postmark and generic';
COMMENT ON COLUMN raw_observed_new.actor_writes IS 'each writer the format names and the time of its newest write, {"<actor>": "<RFC 3339 time>", …}, so that a write by the agent stays visible after someone else wrote on top of it. HubSpot only, over the same propertiesWithHistory entries as last_actor; NULL elsewhere and without history';
COMMENT ON COLUMN raw_observed_new.raw IS 'the vendor''s record as read, which raw field mappings read: Stripe''s refund object, SendGrid''s event, HubSpot''s CRM object without propertiesWithHistory (NULL on alias rows), Zendesk''s ticket, Postmark''s webhook payload, the S3 Inventory row (all values as text). NULL for generic sources';
COMMENT ON COLUMN raw_observed_new.source_file IS 'landing file, relative to the workspace root';
COMMENT ON COLUMN raw_observed_new.source_record IS '1-based line number (JSON Lines) or record position (JSON documents)';
COMMENT ON COLUMN raw_observed_new.snapshot_id IS 'snapshot the row came from';
COMMENT ON COLUMN raw_observed_new.observed_at IS 'export time of the source file';

-- events
COMMENT ON TABLE events IS 'The workflow log, with each event_id kept once. At-least-once delivery can repeat an event; the copy with the earliest observed_at, then source_file, then source_record wins (also across audits: see "Incremental audits"). The table is not sorted; order by ts when reading it.';
COMMENT ON COLUMN events.event_id IS 'unique event id';
COMMENT ON COLUMN events.ts IS 'when it happened in the runtime; orders events';
COMMENT ON COLUMN events.type IS 'run.started · intent.declared · action.attempted · action.succeeded · action.failed · action.timed_out · receipt.recorded · action.skipped · action.compensated · action.blocked · run.awaiting_approval · run.escalated · run.needs_reconciliation · run.completed · run.failed · run.flagged. action.blocked (idempotency logic refused a duplicate attempt) and run.flagged (someone doubts the run) are accepted and kept, but are neither outcomes nor run statuses: they count among the intent''s or run''s events (events, last_event_at), and send their run to reconciliation (suspicious_run_reasons: duplicate_attempt_blocked, operator_flag)';
COMMENT ON COLUMN events.run_id IS 'run';
COMMENT ON COLUMN events.workflow IS 'workflow name';
COMMENT ON COLUMN events.intent_id IS 'intent (required on every non-run.* event)';
COMMENT ON COLUMN events.step IS 'catalog step';
COMMENT ON COLUMN events.action IS 'system.object.verb';
COMMENT ON COLUMN events.system IS 'target system';
COMMENT ON COLUMN events.idempotency_key IS 'key sent with the call, on whichever event the runtime put it';
COMMENT ON COLUMN events.target_object_type IS 'target.object_type';
COMMENT ON COLUMN events.target_key IS 'target.key: the existing object an update acts on, as the runtime wrote it (intended holds it in canonical form)';
COMMENT ON COLUMN events.expected IS 'field values the effect must show (on intent.declared)';
COMMENT ON COLUMN events.attempt IS 'attempt number (≥ 1)';
COMMENT ON COLUMN events.receipt_external_id IS 'receipt.external_id, as the runtime wrote it (recorded holds it in canonical form)';
COMMENT ON COLUMN events.receipt IS 'the whole receipt object';
COMMENT ON COLUMN events.error_kind IS 'error.kind (e.g. timeout, http_5xx)';
COMMENT ON COLUMN events.error_message IS 'error.message';
COMMENT ON COLUMN events.status IS 'status field of run status events';
COMMENT ON COLUMN events.actor IS 'agent or an operator id. NULL is treated as the agent';
COMMENT ON COLUMN events.description IS 'business goal in words';
COMMENT ON COLUMN events.extra IS 'fields the event-log spec does not name; NULL if there are none';
COMMENT ON COLUMN events.source_file IS 'landing file';
COMMENT ON COLUMN events.source_record IS '1-based line number';
COMMENT ON COLUMN events.snapshot_id IS 'snapshot the row came from';
COMMENT ON COLUMN events.observed_at IS 'export time of the landing file';

-- intended
COMMENT ON TABLE intended IS 'One row per intent. It holds the first intent.declared event of each intent_id (by ts, then the smaller event_id). It also holds one row for every required catalog step that a run never declared; such a row is named <run_id>/<step> and has declared = false. The idempotency key and the target are read from any event of the intent, the declaration included (runtimes usually put them on action.attempted).';
COMMENT ON COLUMN intended.intent_id IS 'intent id (or <run_id>/<step> for an undeclared required step)';
COMMENT ON COLUMN intended.run_id IS 'run';
COMMENT ON COLUMN intended.workflow IS 'workflow';
COMMENT ON COLUMN intended.step IS 'catalog step';
COMMENT ON COLUMN intended.action IS 'system.object.verb';
COMMENT ON COLUMN intended.system IS 'target system';
COMMENT ON COLUMN intended.object_type IS 'second part of action';
COMMENT ON COLUMN intended.verb IS 'third part of action (e.g. create, update, send)';
COMMENT ON COLUMN intended.is_update IS 'true when any event of the intent names a target_key, or the action''s verb changes an existing object (macro updates_existing in rules/macros.sql: update, patch, set, resolve, close, cancel, delete, ...): the agent''s write must then be visible on the object it matches';
COMMENT ON COLUMN intended.idempotency_key IS 'the earliest non-null idempotency_key on the intent''s events (by ts, then the smaller event_id). Every key counts for matching (intent_keys)';
COMMENT ON COLUMN intended.target_object_type IS 'target_object_type of the event that gives target_key';
COMMENT ON COLUMN intended.target_key IS 'the latest target on the intent''s events (the latest event with a non-null target_key, by ts, then the larger event_id), in the system''s canonical id form (cfg_systems.id_form). It is the object the update acted on, the tier-2 key of claims';
COMMENT ON COLUMN intended.targets IS 'every distinct target on the intent''s events, in canonical form, sorted; empty when there is none. More than one is a contradiction that findings report (evidence.conflicting_targets)';
COMMENT ON COLUMN intended.expected IS 'intended field values; NULL for undeclared steps';
COMMENT ON COLUMN intended.description IS 'business goal';
COMMENT ON COLUMN intended.natural_key IS 'the values of the system''s natural_key fields from expected (top-level keys, by their intended names), each trimmed and lower-cased (a list by its first element; macro key_part), joined with |. NULL unless the system has a natural key and every part is non-empty';
COMMENT ON COLUMN intended.natural_key_from IS 'declared_at ∓ the system''s natural_key_window_seconds: an object matches by natural key only if created in between. NULL for a unique natural key (no window)';
COMMENT ON COLUMN intended.natural_key_until IS 'declared_at ∓ the system''s natural_key_window_seconds: an object matches by natural key only if created in between. NULL for a unique natural key (no window)';
COMMENT ON COLUMN intended.declared IS 'true if an intent.declared event exists';
COMMENT ON COLUMN intended.declared_at IS 'ts of the declaration';
COMMENT ON COLUMN intended.declared_event_id IS 'event id of the declaration';
COMMENT ON COLUMN intended.required IS 'the catalog required; true when the step is not in the catalog';
COMMENT ON COLUMN intended.step_order IS 'catalog position; NULL when the step is not in the catalog';
COMMENT ON COLUMN intended.reversible IS 'the catalog reversible (false if not in the catalog)';
COMMENT ON COLUMN intended.compensation IS 'the catalog compensation operation';
COMMENT ON COLUMN intended.safe_to_retry IS 'the catalog safe_to_retry (false if not in the catalog)';

-- recorded
COMMENT ON TABLE recorded IS 'One row per intent in intended: what the runtime believes happened to it. It uses all of the intent''s events except intent.declared. Events for an intent_id that is not in intended are not counted. Receipts are read from any of these events and put in the system''s canonical id form (cfg_systems.id_form).';
COMMENT ON COLUMN recorded.intent_id IS 'intent';
COMMENT ON COLUMN recorded.run_id IS 'run';
COMMENT ON COLUMN recorded.outcome IS 'recorded outcome, from the latest outcome event by ts. At equal ts, the higher rank wins (attempted < timed_out < failed < succeeded < receipt < skipped < compensated), then the larger event_id. Values: not_started (no outcome event) · attempted · timed_out · failed · succeeded (action.succeeded or receipt.recorded) · skipped · compensated. action.blocked is not an outcome: it never sets or changes this value, so an intent with only blocked attempts is not_started';
COMMENT ON COLUMN recorded.events IS 'number of the intent''s non-declaration events (action.blocked included)';
COMMENT ON COLUMN recorded.attempts IS 'highest attempt number seen';
COMMENT ON COLUMN recorded.first_attempt_at IS 'first action.attempted';
COMMENT ON COLUMN recorded.last_attempt_at IS 'last action.attempted';
COMMENT ON COLUMN recorded.last_event_at IS 'latest event of the intent';
COMMENT ON COLUMN recorded.last_agent_event_at IS 'latest event whose actor is NULL or agent';
COMMENT ON COLUMN recorded.receipt_event_id IS 'event that carried receipt_external_id';
COMMENT ON COLUMN recorded.last_error_kind IS 'latest non-null error_kind (by ts, then the larger event_id)';
COMMENT ON COLUMN recorded.last_attempt_key IS 'the idempotency_key of the latest action.attempted event that carries one (by ts, then the larger event_id): the key the latest call sent, which the retry of a lost call sends again (section 3.2)';
COMMENT ON COLUMN recorded.last_event_id IS 'event that determined outcome; NULL when it is not_started';
COMMENT ON COLUMN recorded.receipt_external_id IS 'the latest non-null receipt external id (by ts, then the larger event_id), in canonical form';
COMMENT ON COLUMN recorded.receipts IS 'every distinct receipt on the intent''s events, in canonical form, sorted; empty when there is none. Each one claims its object (tier 3 of claims): two receipts of two live objects are a duplicate, unless a stronger key (correlation key, target) matches the intent. More than one is reported in findings (evidence.conflicting_receipts)';

-- recorded_runs
COMMENT ON TABLE recorded_runs IS 'One row per run_id in events: the run''s recorded status and completion window.';
COMMENT ON COLUMN recorded_runs.run_id IS 'run';
COMMENT ON COLUMN recorded_runs.workflow IS 'workflow of the run''s first event';
COMMENT ON COLUMN recorded_runs.started_at IS 'run.started time, otherwise the first event''s time';
COMMENT ON COLUMN recorded_runs.last_event_at IS 'latest event of the run';
COMMENT ON COLUMN recorded_runs.events IS 'all events of the run';
COMMENT ON COLUMN recorded_runs.status IS 'the latest run status event (by ts, then event_id), mapped to complete · failed · escalated · awaiting_approval · needs_reconciliation. running if there is none';
COMMENT ON COLUMN recorded_runs.status_event_id IS 'event that set status';
COMMENT ON COLUMN recorded_runs.terminal IS 'status is complete or failed';
COMMENT ON COLUMN recorded_runs.completion_deadline IS 'started_at + the workflow''s completion window; NULL for a workflow not in the catalog';
COMMENT ON COLUMN recorded_runs.past_window IS 'completion_deadline < log_observed_at (false if either is NULL)';

-- observed
COMMENT ON TABLE observed IS 'One row per object (system, external_id): its chosen version across all snapshots. Ids are in the system''s canonical form (cfg_systems.id_form), so versions that spell one id differently are one object. A terminal version (not pending) beats a pending one. After that the newest version time (coalesce(updated_at, observed_at)) wins, then the newest export, then the later file and record.';
COMMENT ON COLUMN observed.system IS 'system';
COMMENT ON COLUMN observed.object_type IS 'object type';
COMMENT ON COLUMN observed.external_id IS 'id in the system, in canonical form';
COMMENT ON COLUMN observed.correlation_keys IS 'correlation keys on the chosen version';
COMMENT ON COLUMN observed.natural_key IS 'the system''s natural_key fields, read through the field mapping (mapped_fields for a mapped field, otherwise the top-level key of that name in fields), each trimmed and lower-cased (a list by its first element; macro key_part), joined with |. NULL if any part is missing or empty';
COMMENT ON COLUMN observed.state IS 'success · pending · failed · deleted';
COMMENT ON COLUMN observed.raw_status IS 'vendor status of the chosen version';
COMMENT ON COLUMN observed.fields IS 'business fields of the chosen version';
COMMENT ON COLUMN observed.mapped_fields IS 'the intended fields the system''s field mapping reads on the chosen version, {"<intended field>": <value>, …}: raw targets from raw, fields targets from fields, $state the normalized state, $status the raw_status. Values are as the system shows them (the mapping''s values are not applied here). A field whose value is missing or JSON null is left out (it is not shown). NULL when the system maps no field; {} when none is shown';
COMMENT ON COLUMN observed.last_actor IS 'last writer of the chosen version (HubSpot with history, generic with an actor column; otherwise NULL)';
COMMENT ON COLUMN observed.actor_writes IS 'actor_writes of the chosen version: each named writer''s newest write (HubSpot with history; otherwise NULL)';
COMMENT ON COLUMN observed.agent_last_writer IS 'last_actor is in the system''s agent_actors. False when last_actor is NULL';
COMMENT ON COLUMN observed.created_at IS 'earliest created_at (or version time) over all versions';
COMMENT ON COLUMN observed.updated_at IS 'version time of the chosen version (coalesce(updated_at, observed_at))';
COMMENT ON COLUMN observed.changed_at IS 'the latest edited_at over every version seen so far (kept across audits): the latest edit the format reported. NULL when the format reports none. Who-wrote-last evidence for systems that name no actor';
COMMENT ON COLUMN observed.merged_into IS 'survivor id if merged away, in canonical form';
COMMENT ON COLUMN observed.snapshot_id IS 'snapshot of the chosen version';
COMMENT ON COLUMN observed.observed_at IS 'export time of the chosen version';
COMMENT ON COLUMN observed.source_file IS 'landing file of the chosen version';
COMMENT ON COLUMN observed.source_record IS 'record number of the chosen version';

-- system_freshness
COMMENT ON TABLE system_freshness IS 'One row per configured system: how fresh its newest export is.';
COMMENT ON COLUMN system_freshness.system IS 'system';
COMMENT ON COLUMN system_freshness.settle_seconds IS 'settle window';
COMMENT ON COLUMN system_freshness.newest_observed_at IS 'newest observed_at over the system''s export snapshots (a live read counts not: it shows only the objects it read). An empty export still counts. NULL means the system is not exported, so its intents are unverifiable';
COMMENT ON COLUMN system_freshness.stale_reason IS 'why the system''s exports cannot confirm what the workflow log says happened since; NULL when they can. no export: the system has no snapshot. exported before the workflow log by more than its settle window: newest_observed_at + settle_seconds < audit_context.log_observed_at. Never set when there is no workflow log. The stale systems are listed in audits.stale_systems, first in the audit summary ("Systems without a fresh export"), in the HTML report''s first headline number (systems_without_fresh_export), and fail the Dagster asset check systems_fresh on the observed asset (severity ERROR, metadata stale_systems)';

-- matches
COMMENT ON TABLE matches IS 'One row per (intent, object) pair linked by at least one key. An object can match only within the intent''s system and object_type, and by a non-unique natural key only within the intent''s natural_key_from … natural_key_until.';
COMMENT ON COLUMN matches.run_id IS 'the intent''s run';
COMMENT ON COLUMN matches.intent_id IS 'intent';
COMMENT ON COLUMN matches.system IS 'object''s system';
COMMENT ON COLUMN matches.external_id IS 'object';
COMMENT ON COLUMN matches.strength IS 'strongest tier that links the pair: 1 correlation key · 2 update target (target_key) · 3 a recorded receipt id (any of recorded.receipts) · 4 natural key. A natural-key match is made only for objects that no intent claims at tiers 1–3';
COMMENT ON COLUMN matches.by_correlation IS 'linked by a correlation key';
COMMENT ON COLUMN matches.by_target IS 'linked by the update target';
COMMENT ON COLUMN matches.by_receipt IS 'linked by one of the recorded receipts';
COMMENT ON COLUMN matches.by_natural_key IS 'linked by natural key';
COMMENT ON COLUMN matches.matched_by IS 'correlation · target · receipt · natural_key, i.e. strength as a word';
COMMENT ON COLUMN matches.is_primary IS 'strength equals the intent''s strongest tier. Only primary matches decide the observed state; non-primary rows are contradicting evidence';

-- intent_state
COMMENT ON TABLE intent_state IS 'One row per intent: everything the intent-level rules compare. The first columns are the intended columns, unchanged, from intent_id to safe_to_retry, except expected and description (read them from intended). The remaining columns follow; the object''s fields and mapped_fields are in observed (join on system, external_id), its diff with expected is field_diff here.';
COMMENT ON COLUMN intent_state.intent_id IS 'intent id (or <run_id>/<step> for an undeclared required step)';
COMMENT ON COLUMN intent_state.run_id IS 'run';
COMMENT ON COLUMN intent_state.workflow IS 'workflow';
COMMENT ON COLUMN intent_state.step IS 'catalog step';
COMMENT ON COLUMN intent_state.action IS 'system.object.verb';
COMMENT ON COLUMN intent_state.system IS 'target system';
COMMENT ON COLUMN intent_state.object_type IS 'second part of action';
COMMENT ON COLUMN intent_state.verb IS 'third part of action (e.g. create, update, send)';
COMMENT ON COLUMN intent_state.is_update IS 'true when any event of the intent names a target_key, or the action''s verb changes an existing object (macro updates_existing in rules/macros.sql: update, patch, set, resolve, close, cancel, delete, ...): the agent''s write must then be visible on the object it matches';
COMMENT ON COLUMN intent_state.idempotency_key IS 'the earliest non-null idempotency_key on the intent''s events (by ts, then the smaller event_id). Every key counts for matching (intent_keys)';
COMMENT ON COLUMN intent_state.target_object_type IS 'target_object_type of the event that gives target_key';
COMMENT ON COLUMN intent_state.target_key IS 'the latest target on the intent''s events (the latest event with a non-null target_key, by ts, then the larger event_id), in the system''s canonical id form (cfg_systems.id_form). It is the object the update acted on, the tier-2 key of claims';
COMMENT ON COLUMN intent_state.targets IS 'every distinct target on the intent''s events, in canonical form, sorted; empty when there is none. More than one is a contradiction that findings report (evidence.conflicting_targets)';
COMMENT ON COLUMN intent_state.natural_key IS 'the values of the system''s natural_key fields from expected (top-level keys, by their intended names), each trimmed and lower-cased (a list by its first element; macro key_part), joined with |. NULL unless the system has a natural key and every part is non-empty';
COMMENT ON COLUMN intent_state.natural_key_from IS 'declared_at ∓ the system''s natural_key_window_seconds: an object matches by natural key only if created in between. NULL for a unique natural key (no window)';
COMMENT ON COLUMN intent_state.natural_key_until IS 'declared_at ∓ the system''s natural_key_window_seconds: an object matches by natural key only if created in between. NULL for a unique natural key (no window)';
COMMENT ON COLUMN intent_state.declared IS 'true if an intent.declared event exists';
COMMENT ON COLUMN intent_state.declared_at IS 'ts of the declaration';
COMMENT ON COLUMN intent_state.declared_event_id IS 'event id of the declaration';
COMMENT ON COLUMN intent_state.required IS 'the catalog required; true when the step is not in the catalog';
COMMENT ON COLUMN intent_state.step_order IS 'catalog position; NULL when the step is not in the catalog';
COMMENT ON COLUMN intent_state.reversible IS 'the catalog reversible (false if not in the catalog)';
COMMENT ON COLUMN intent_state.compensation IS 'the catalog compensation operation';
COMMENT ON COLUMN intent_state.safe_to_retry IS 'the catalog safe_to_retry (false if not in the catalog)';
COMMENT ON COLUMN intent_state.recorded_outcome IS 'recorded.outcome';
COMMENT ON COLUMN intent_state.attempts IS 'recorded.attempts';
COMMENT ON COLUMN intent_state.first_attempt_at IS 'recorded.first_attempt_at';
COMMENT ON COLUMN intent_state.last_attempt_at IS 'recorded.last_attempt_at';
COMMENT ON COLUMN intent_state.last_event_at IS 'recorded.last_event_at';
COMMENT ON COLUMN intent_state.last_agent_event_at IS 'recorded.last_agent_event_at';
COMMENT ON COLUMN intent_state.receipt_external_id IS 'recorded.receipt_external_id';
COMMENT ON COLUMN intent_state.receipt_event_id IS 'recorded.receipt_event_id';
COMMENT ON COLUMN intent_state.receipts IS 'recorded.receipts';
COMMENT ON COLUMN intent_state.last_error_kind IS 'recorded.last_error_kind';
COMMENT ON COLUMN intent_state.last_event_id IS 'recorded.last_event_id';
COMMENT ON COLUMN intent_state.last_attempt_key IS 'recorded.last_attempt_key';
COMMENT ON COLUMN intent_state.strength IS 'strength of the primary matches; NULL if nothing matched';
COMMENT ON COLUMN intent_state.matched_by IS 'strength as a word; NULL if nothing matched';
COMMENT ON COLUMN intent_state.n_live IS 'primary-matched objects in success or pending';
COMMENT ON COLUMN intent_state.n_success IS 'primary-matched objects in success';
COMMENT ON COLUMN intent_state.n_pending IS 'primary-matched objects in pending';
COMMENT ON COLUMN intent_state.n_failed IS 'primary-matched objects in failed';
COMMENT ON COLUMN intent_state.n_gone IS 'primary-matched objects that are deleted or merged away';
COMMENT ON COLUMN intent_state.n_weaker IS 'objects matched only by a weaker key than the primary tier';
COMMENT ON COLUMN intent_state.weaker_external_id IS 'the smallest such external_id';
COMMENT ON COLUMN intent_state.external_id IS 'the one object the verdict is about, preferred by state: success > pending > failed > deleted. Ties go to the larger external_id';
COMMENT ON COLUMN intent_state.matched_object_type IS 'that object''s object_type (whether an intended field is ever shown is judged for this type)';
COMMENT ON COLUMN intent_state.object_state IS 'that object''s state';
COMMENT ON COLUMN intent_state.raw_status IS 'that object''s raw_status';
COMMENT ON COLUMN intent_state.last_actor IS 'that object''s last_actor';
COMMENT ON COLUMN intent_state.agent_last_writer IS 'that object''s agent_last_writer';
COMMENT ON COLUMN intent_state.object_created_at IS 'that object''s created_at';
COMMENT ON COLUMN intent_state.object_updated_at IS 'that object''s updated_at';
COMMENT ON COLUMN intent_state.object_changed_at IS 'that object''s changed_at: its latest reported edit';
COMMENT ON COLUMN intent_state.agent_wrote_since_attempt IS 'the object''s actor_writes name one of the system''s agent_actors with a write at or after attempted_at. False when the object has no actor_writes or there is no object';
COMMENT ON COLUMN intent_state.merged_into IS 'that object''s merged_into';
COMMENT ON COLUMN intent_state.object_snapshot_id IS 'snapshot that object came from';
COMMENT ON COLUMN intent_state.not_key_owner IS 'in a natural_key_unique system, another live record owns the object''s natural key. The owner is the oldest live record with that key';
COMMENT ON COLUMN intent_state.key_owner_id IS 'external_id of that owner';
COMMENT ON COLUMN intent_state.settle_seconds IS 'the system''s settle window';
COMMENT ON COLUMN intent_state.acted_at IS 'coalesce(last_attempt_at, last_event_at): when the agent last acted. Settle windows count from here';
COMMENT ON COLUMN intent_state.attempted_at IS 'coalesce(first_attempt_at, declared_at): the agent''s first call, or the declaration when no call is recorded. A write since then can be the agent''s';
COMMENT ON COLUMN intent_state.agent_write_at IS 'coalesce(last_attempt_at, last_agent_event_at, declared_at): the agent''s last write. An edit later than this plus the settle window is someone else''s';
COMMENT ON COLUMN intent_state.idempotency_ttl_seconds IS 'the system''s idempotency key lifetime';
COMMENT ON COLUMN intent_state.n_compared IS 'number of expected keys that could be compared on the object (not unverified). 0 when there is no object or expected is not a JSON object';
COMMENT ON COLUMN intent_state.n_diff IS 'number of compared expected keys whose intended value does not hold on the object (rules below). 0 when there is no object';
COMMENT ON COLUMN intent_state.field_diff IS '[{"field", "intended", "observed", "system_field"}, …] for those keys only, sorted by field; NULL if none. field is the intended name, intended and observed are text extracts (->> ''$''; NULL when the object does not show the field), system_field is the mapping''s target as written (cfg_field_map.path, e.g. properties.email, $state), NULL for an unmapped field';
COMMENT ON COLUMN intent_state.unverified_fields IS '[{"field", "reason"}, …], sorted by field, for the expected keys that could not be compared; NULL if none (and when there is no object). reason is the export never shows it (the field is not in observed_fields for the object''s system and type) or not a status word of the system (a $state field whose intended value, after the mapping''s values, is neither a word of cfg_status_vocabulary for the system nor a state name)';
COMMENT ON COLUMN intent_state.fresh IS 'the system has an export, and either nothing was attempted or system_freshness.newest_observed_at ≥ acted_at + settle_seconds. (The export time itself is not a column: it changes every audit, and an intent''s row changes only with its own evidence)';
COMMENT ON COLUMN intent_state.last_writer_basis IS 'the evidence for last_writer, the first that applies: NULL when there is no object; actor when the object''s last_actor is set; edited after the agent''s write when object_changed_at > agent_write_at + settle_seconds; the agent''s object, no edit after its write when the object was matched by the intent''s own key (strength ≤ 3); otherwise no actor and no edit seen';
COMMENT ON COLUMN intent_state.last_writer IS 'who wrote the object last: agent (basis actor with agent_last_writer, or basis the agent''s object, …), other (basis actor with another actor, or basis edited after …), unknown (basis no actor and no edit seen); NULL when there is no object. field_drift reads agent and unknown, out_of_band_change reads other, satisfied_out_of_band needs it not to be agent';
COMMENT ON COLUMN intent_state.write_visible IS 'true for a create. For an update, true if any of these holds: the object was matched by correlation key (strength = 1); agent_wrote_since_attempt; object_changed_at ≥ attempted_at and the object names no last actor or names the agent; at least one field was compared and none differs (n_compared > 0 AND n_diff = 0)';
COMMENT ON COLUMN intent_state.observed_state IS 'one of present · pending · failed · absent · duplicate · unverifiable (TAXONOMY "Derived states"). The first rule that applies wins: n_live ≥ 2 → duplicate; exactly one success object, it is the chosen object, and write_visible → present; any pending and no success → pending; any failed and no success → failed; not fresh → unverifiable; otherwise absent';
COMMENT ON COLUMN intent_state.non_canonical IS 'n_gone > 0 or not_key_owner. Drives non_canonical_target';
COMMENT ON COLUMN intent_state.produced_by IS 'agent when matched by correlation, target or receipt (strength 1–3); other when matched by natural key only; NULL when nothing matched';
COMMENT ON COLUMN intent_state.receipt_unknown IS 'a receipt id is recorded, the export is fresh, and no object with that id exists in the system. Drives phantom_receipt';

-- run_state
COMMENT ON TABLE run_state IS 'One row per run. The first 10 columns are the recorded_runs columns, unchanged. The remaining columns follow.';
COMMENT ON COLUMN run_state.run_id IS 'run';
COMMENT ON COLUMN run_state.workflow IS 'workflow of the run''s first event';
COMMENT ON COLUMN run_state.started_at IS 'run.started time, otherwise the first event''s time';
COMMENT ON COLUMN run_state.last_event_at IS 'latest event of the run';
COMMENT ON COLUMN run_state.events IS 'all events of the run';
COMMENT ON COLUMN run_state.status IS 'the latest run status event (by ts, then event_id), mapped to complete · failed · escalated · awaiting_approval · needs_reconciliation. running if there is none';
COMMENT ON COLUMN run_state.status_event_id IS 'event that set status';
COMMENT ON COLUMN run_state.terminal IS 'status is complete or failed';
COMMENT ON COLUMN run_state.completion_deadline IS 'started_at + the workflow''s completion window; NULL for a workflow not in the catalog';
COMMENT ON COLUMN run_state.past_window IS 'completion_deadline < log_observed_at (false if either is NULL)';
COMMENT ON COLUMN run_state.intents IS 'intents of the run (declared plus undeclared required steps)';
COMMENT ON COLUMN run_state.required_intents IS 'those with required';
COMMENT ON COLUMN run_state.required_done IS 'required intents whose observed_state = ''present'', whoever produced them';
COMMENT ON COLUMN run_state.all_required_done IS 'required_intents > 0 and required_done = required_intents';
COMMENT ON COLUMN run_state.all_intents_fresh IS 'every intent of the run is fresh (true for a run without intents). With past_window, the run is settled: only new events or changed objects can change its rows';

-- findings
COMMENT ON TABLE findings IS 'One row per subject that has a mismatch in this audit: its primary finding. Consistent subjects produce no row. A finding closed by an operator''s decision is still a row (with status = ''resolved'') as long as the mismatch is there. Columns marked TAXONOMY are required by TAXONOMY.md "Findings output". The columns from state_hash on are extensions; rules/findings/40_assemble.sql creates them and rules/findings/50_status.sql fills them in.';
COMMENT ON COLUMN findings.finding_id IS 'TAXONOMY. fnd_ + the first 24 hex digits of sha256(subject_kind|subject_id|mismatch_type). It is the same in every audit while the subject keeps that type';
COMMENT ON COLUMN findings.audit_id IS 'TAXONOMY. audit that produced the row';
COMMENT ON COLUMN findings.subject_kind IS 'TAXONOMY. intent · run · effect';
COMMENT ON COLUMN findings.subject_id IS 'TAXONOMY. intent id, run id, or system:external_id for an effect';
COMMENT ON COLUMN findings.run_id IS 'TAXONOMY. run of the intent, or the run itself; NULL for effects';
COMMENT ON COLUMN findings.workflow IS 'TAXONOMY. workflow; NULL for effects';
COMMENT ON COLUMN findings.system IS 'TAXONOMY. intent''s or object''s system; NULL for runs';
COMMENT ON COLUMN findings.mismatch_type IS 'TAXONOMY. primary mismatch type (rule table above)';
COMMENT ON COLUMN findings.repair_pattern IS 'TAXONOMY. receipt_backfill · status_patch · forward_completion · compensation · human_adjudication · wait_and_verify. It is the repair of the type''s rule header (mismatch_types.repair, repair_condition, repair_otherwise), applied by the macro repair_pattern() in rules/repairs/10_patterns.sql: TAXONOMY''s default, refined by a condition for four types. duplicate_effect → compensation if the step is reversible; effect_failed → forward_completion if safe_to_retry; attempt_lost → forward_completion only if the intent has an idempotency key; orphan_effect → compensation if compensate_orphans is set and the system and object type have a compensation. In each case the alternative is human_adjudication. Then an operator''s decision that holds overrides it (macro decided_pattern()): retry → forward_completion, compensate → compensation. accept_external_truth and ignore keep the pattern, but the finding is resolved and gets no action';
COMMENT ON COLUMN findings.rule_id IS 'TAXONOMY. rule that produced the primary type';
COMMENT ON COLUMN findings.severity IS 'TAXONOMY. low · medium · high, from the rule header';
COMMENT ON COLUMN findings.intended IS 'TAXONOMY. what was intended: the values the rule compared (subject views)';
COMMENT ON COLUMN findings.recorded IS 'TAXONOMY. what the runtime recorded';
COMMENT ON COLUMN findings.observed IS 'TAXONOMY. what the system shows';
COMMENT ON COLUMN findings.evidence IS 'TAXONOMY. receipts, external ids, snapshot ids, event ids';
COMMENT ON COLUMN findings.detected_at IS 'TAXONOMY. this audit''s as_of (export time, not wall clock)';
COMMENT ON COLUMN findings.first_seen_at IS 'TAXONOMY. earliest first_seen_at of this finding_id in findings_history (the audits before this one, by seq); this audit''s as_of if it is new';
COMMENT ON COLUMN findings.status IS 'TAXONOMY. resolved when an accept_external_truth or ignore decision is in force and holds (decision_holds); otherwise open. Only open findings get repair actions. The table holds only findings present now: a finding that disappears from a later audit is not rewritten here. Its resolution is recorded in lifecycle_events';
COMMENT ON COLUMN findings.secondary_types IS 'the other mismatch types that hit the same subject, in precedence order; empty if none. This column is an extension, not required';
COMMENT ON COLUMN findings.state_hash IS 'the subject''s state_hash (subject views): what a decision is compared against';
COMMENT ON COLUMN findings.lifecycle_status IS 'where the finding stands against the previous audit (by seq) and the decisions. The first rule that applies wins: resolved (same condition as status = ''resolved''); new (the finding_id is in no audit before this one); ongoing (it was in the previous audit with status = ''open''); otherwise regressed (seen before, but absent from the previous audit or resolved there, for example because a decision lapsed)';
COMMENT ON COLUMN findings.decision IS 'decision_in_force.decision for this finding, whether or not it holds; NULL if there is none';
COMMENT ON COLUMN findings.decision_reason IS 'its reason';
COMMENT ON COLUMN findings.decided_by IS 'its operator';
COMMENT ON COLUMN findings.decided_at IS 'its decided_at';
COMMENT ON COLUMN findings.decision_holds IS 'true if the decision''s baseline_hash is NULL or equals state_hash; false if the evidence changed since the decision; NULL when there is no decision';

-- findings_history
COMMENT ON TABLE findings_history IS 'One row per (finding, audit): every audit''s findings, appended by publish. Re-running an audit replaces its rows. The columns are exactly those of findings, so status and lifecycle_status are as of that audit. Use this table, or lifecycle_events, for anything "over time"; order audits by joining audits and using seq.';
COMMENT ON COLUMN findings_history.finding_id IS 'TAXONOMY. fnd_ + the first 24 hex digits of sha256(subject_kind|subject_id|mismatch_type). It is the same in every audit while the subject keeps that type';
COMMENT ON COLUMN findings_history.audit_id IS 'TAXONOMY. audit that produced the row';
COMMENT ON COLUMN findings_history.subject_kind IS 'TAXONOMY. intent · run · effect';
COMMENT ON COLUMN findings_history.subject_id IS 'TAXONOMY. intent id, run id, or system:external_id for an effect';
COMMENT ON COLUMN findings_history.run_id IS 'TAXONOMY. run of the intent, or the run itself; NULL for effects';
COMMENT ON COLUMN findings_history.workflow IS 'TAXONOMY. workflow; NULL for effects';
COMMENT ON COLUMN findings_history.system IS 'TAXONOMY. intent''s or object''s system; NULL for runs';
COMMENT ON COLUMN findings_history.mismatch_type IS 'TAXONOMY. primary mismatch type (rule table above)';
COMMENT ON COLUMN findings_history.repair_pattern IS 'TAXONOMY. receipt_backfill · status_patch · forward_completion · compensation · human_adjudication · wait_and_verify. It is the repair of the type''s rule header (mismatch_types.repair, repair_condition, repair_otherwise), applied by the macro repair_pattern() in rules/repairs/10_patterns.sql: TAXONOMY''s default, refined by a condition for four types. duplicate_effect → compensation if the step is reversible; effect_failed → forward_completion if safe_to_retry; attempt_lost → forward_completion only if the intent has an idempotency key; orphan_effect → compensation if compensate_orphans is set and the system and object type have a compensation. In each case the alternative is human_adjudication. Then an operator''s decision that holds overrides it (macro decided_pattern()): retry → forward_completion, compensate → compensation. accept_external_truth and ignore keep the pattern, but the finding is resolved and gets no action';
COMMENT ON COLUMN findings_history.rule_id IS 'TAXONOMY. rule that produced the primary type';
COMMENT ON COLUMN findings_history.severity IS 'TAXONOMY. low · medium · high, from the rule header';
COMMENT ON COLUMN findings_history.intended IS 'TAXONOMY. what was intended: the values the rule compared (subject views)';
COMMENT ON COLUMN findings_history.recorded IS 'TAXONOMY. what the runtime recorded';
COMMENT ON COLUMN findings_history.observed IS 'TAXONOMY. what the system shows';
COMMENT ON COLUMN findings_history.evidence IS 'TAXONOMY. receipts, external ids, snapshot ids, event ids';
COMMENT ON COLUMN findings_history.detected_at IS 'TAXONOMY. this audit''s as_of (export time, not wall clock)';
COMMENT ON COLUMN findings_history.first_seen_at IS 'TAXONOMY. earliest first_seen_at of this finding_id in findings_history (the audits before this one, by seq); this audit''s as_of if it is new';
COMMENT ON COLUMN findings_history.status IS 'TAXONOMY. resolved when an accept_external_truth or ignore decision is in force and holds (decision_holds); otherwise open. Only open findings get repair actions. The table holds only findings present now: a finding that disappears from a later audit is not rewritten here. Its resolution is recorded in lifecycle_events';
COMMENT ON COLUMN findings_history.secondary_types IS 'the other mismatch types that hit the same subject, in precedence order; empty if none. This column is an extension, not required';
COMMENT ON COLUMN findings_history.state_hash IS 'the subject''s state_hash (subject views): what a decision is compared against';
COMMENT ON COLUMN findings_history.lifecycle_status IS 'where the finding stands against the previous audit (by seq) and the decisions. The first rule that applies wins: resolved (same condition as status = ''resolved''); new (the finding_id is in no audit before this one); ongoing (it was in the previous audit with status = ''open''); otherwise regressed (seen before, but absent from the previous audit or resolved there, for example because a decision lapsed)';
COMMENT ON COLUMN findings_history.decision IS 'decision_in_force.decision for this finding, whether or not it holds; NULL if there is none';
COMMENT ON COLUMN findings_history.decision_reason IS 'its reason';
COMMENT ON COLUMN findings_history.decided_by IS 'its operator';
COMMENT ON COLUMN findings_history.decided_at IS 'its decided_at';
COMMENT ON COLUMN findings_history.decision_holds IS 'true if the decision''s baseline_hash is NULL or equals state_hash; false if the evidence changed since the decision; NULL when there is no decision';

-- repair_actions
COMMENT ON TABLE repair_actions IS 'One row per repair action. Each open finding (findings.status = ''open'') gets one action, except duplicate_effect: it gets one action per extra live object. A finding resolved by an operator''s decision gets none. The object kept is the one named by the receipt, otherwise the oldest. The export files carry the same rows; field semantics are in section 3.';
COMMENT ON COLUMN repair_actions.action_id IS 'act_ + the first 24 hex digits of sha256(finding_id|pattern|target_system|target_external_id|preconditions). The same finding in the same observed state gives the same id in every audit';
COMMENT ON COLUMN repair_actions.audit_id IS 'audit that planned it';
COMMENT ON COLUMN repair_actions.finding_id IS 'finding it repairs';
COMMENT ON COLUMN repair_actions.subject_kind IS 'finding''s subject kind';
COMMENT ON COLUMN repair_actions.subject_id IS 'finding''s subject';
COMMENT ON COLUMN repair_actions.run_id IS 'finding''s run';
COMMENT ON COLUMN repair_actions.workflow IS 'finding''s workflow';
COMMENT ON COLUMN repair_actions.mismatch_type IS 'finding''s mismatch type';
COMMENT ON COLUMN repair_actions.pattern IS 'finding''s repair_pattern';
COMMENT ON COLUMN repair_actions.target_system IS 'system acted on. runtime for receipt_backfill, status_patch and all run-level actions';
COMMENT ON COLUMN repair_actions.target_object_type IS 'intent for runtime writes on an intent; run for run actions; otherwise the object type (refund, message, …)';
COMMENT ON COLUMN repair_actions.target_external_id IS 'intent id (runtime intent writes) · run id · the extra object (duplicates) · the orphan''s id · otherwise the intent''s matched object or, failing that, its target_key. NULL when nothing exists yet (for example, a step to execute)';
COMMENT ON COLUMN repair_actions.parameters IS 'what to do; shape depends on pattern (section 3.3)';
COMMENT ON COLUMN repair_actions.idempotency_key IS 'key the executor must use (section 3.2)';
COMMENT ON COLUMN repair_actions.preconditions IS 'list of checks to re-run just before acting (section 3.2)';
COMMENT ON COLUMN repair_actions.duplicate_risk IS 'low · medium · high (section 3.2)';
COMMENT ON COLUMN repair_actions.reversible IS 'whether the action itself can be undone: false for compensation; the step''s catalog reversible for forward_completion; true for the others, which change no external object';
COMMENT ON COLUMN repair_actions.requires_approval IS 'pattern is in cfg_policies.approval_required';
COMMENT ON COLUMN repair_actions.touches_external_system IS 'pattern is forward_completion or compensation';
COMMENT ON COLUMN repair_actions.explanation IS 'one line for a person. NULL in one case today: an operator''s retry decision on a status_patch type (satisfied_out_of_band, false_completion, stale_run_status), whose operation has no retry sentence';

-- repair_actions_history
COMMENT ON TABLE repair_actions_history IS 'One row per (action, audit): every audit''s repair_actions, appended by publish. Re-running an audit replaces its rows. The columns are exactly those of repair_actions. applied_repairs looks actions up here, so an executor may report an action of any earlier plan.';
COMMENT ON COLUMN repair_actions_history.action_id IS 'act_ + the first 24 hex digits of sha256(finding_id|pattern|target_system|target_external_id|preconditions). The same finding in the same observed state gives the same id in every audit';
COMMENT ON COLUMN repair_actions_history.audit_id IS 'audit that planned it';
COMMENT ON COLUMN repair_actions_history.finding_id IS 'finding it repairs';
COMMENT ON COLUMN repair_actions_history.subject_kind IS 'finding''s subject kind';
COMMENT ON COLUMN repair_actions_history.subject_id IS 'finding''s subject';
COMMENT ON COLUMN repair_actions_history.run_id IS 'finding''s run';
COMMENT ON COLUMN repair_actions_history.workflow IS 'finding''s workflow';
COMMENT ON COLUMN repair_actions_history.mismatch_type IS 'finding''s mismatch type';
COMMENT ON COLUMN repair_actions_history.pattern IS 'finding''s repair_pattern';
COMMENT ON COLUMN repair_actions_history.target_system IS 'system acted on. runtime for receipt_backfill, status_patch and all run-level actions';
COMMENT ON COLUMN repair_actions_history.target_object_type IS 'intent for runtime writes on an intent; run for run actions; otherwise the object type (refund, message, …)';
COMMENT ON COLUMN repair_actions_history.target_external_id IS 'intent id (runtime intent writes) · run id · the extra object (duplicates) · the orphan''s id · otherwise the intent''s matched object or, failing that, its target_key. NULL when nothing exists yet (for example, a step to execute)';
COMMENT ON COLUMN repair_actions_history.parameters IS 'what to do; shape depends on pattern (section 3.3)';
COMMENT ON COLUMN repair_actions_history.idempotency_key IS 'key the executor must use (section 3.2)';
COMMENT ON COLUMN repair_actions_history.preconditions IS 'list of checks to re-run just before acting (section 3.2)';
COMMENT ON COLUMN repair_actions_history.duplicate_risk IS 'low · medium · high (section 3.2)';
COMMENT ON COLUMN repair_actions_history.reversible IS 'whether the action itself can be undone: false for compensation; the step''s catalog reversible for forward_completion; true for the others, which change no external object';
COMMENT ON COLUMN repair_actions_history.requires_approval IS 'pattern is in cfg_policies.approval_required';
COMMENT ON COLUMN repair_actions_history.touches_external_system IS 'pattern is forward_completion or compensation';
COMMENT ON COLUMN repair_actions_history.explanation IS 'one line for a person. NULL in one case today: an operator''s retry decision on a status_patch type (satisfied_out_of_band, false_completion, stale_run_status), whose operation has no retry sentence';

-- applied_repairs
COMMENT ON TABLE applied_repairs IS 'One row per workflow-log event that reports a planned action as applied. An executor reports an action by writing an ordinary event (receipt.recorded, action.succeeded, action.compensated, a run status event, …) with the action''s id in a top-level action_id field. The field is not in the event-log spec, so it lands in events.extra. Only ids found in repair_actions_history or the current repair_actions count. Built by reports/lifecycle.sql. Being reported here does not resolve a finding: the lifecycle uses it only to tell *how* a finding that is gone was resolved (section 2.5).';
COMMENT ON COLUMN applied_repairs.action_id IS 'extra ->> ''action_id'' of the event';
COMMENT ON COLUMN applied_repairs.finding_id IS 'the action''s finding';
COMMENT ON COLUMN applied_repairs.pattern IS 'the action''s pattern';
COMMENT ON COLUMN applied_repairs.event_id IS 'the reporting event';
COMMENT ON COLUMN applied_repairs.event_type IS 'its type';
COMMENT ON COLUMN applied_repairs.applied_at IS 'its ts';
COMMENT ON COLUMN applied_repairs.actor IS 'its actor; agent when NULL';
COMMENT ON COLUMN applied_repairs.approved_by IS 'extra ->> ''approved_by'' of the event: the person who approved the action, when the executor says; NULL otherwise';

-- lifecycle_events
COMMENT ON TABLE lifecycle_events IS 'One row per (finding, audit) in which the finding was present, plus one row in the audit where an unresolved finding disappears (its resolution). A finding that is already resolved gets no more rows while it stays absent; if it comes back, its next row is regressed. Appended by every audit; re-running an audit replaces its rows, so the table depends only on the audits so far.';
COMMENT ON COLUMN lifecycle_events.audit_id IS 'audit';
COMMENT ON COLUMN lifecycle_events.seq IS 'the audit''s seq';
COMMENT ON COLUMN lifecycle_events.as_of IS 'the audit''s as_of';
COMMENT ON COLUMN lifecycle_events.finding_id IS 'finding';
COMMENT ON COLUMN lifecycle_events.subject_kind IS 'intent · run · effect';
COMMENT ON COLUMN lifecycle_events.subject_id IS 'subject';
COMMENT ON COLUMN lifecycle_events.mismatch_type IS 'mismatch type';
COMMENT ON COLUMN lifecycle_events.workflow IS 'workflow; NULL for effects';
COMMENT ON COLUMN lifecycle_events.run_id IS 'run; NULL for effects';
COMMENT ON COLUMN lifecycle_events.system IS 'system; NULL for runs';
COMMENT ON COLUMN lifecycle_events.status IS 'new · ongoing · regressed · resolved. For a finding present in this audit, its findings.lifecycle_status. For a finding that disappeared, resolved';
COMMENT ON COLUMN lifecycle_events.changed IS 'status differs from the finding''s previous row; true on its first row';
COMMENT ON COLUMN lifecycle_events.first_seen_at IS 'as_of of the first audit that had the finding';
COMMENT ON COLUMN lifecycle_events.opened_at IS 'when the finding last opened: this audit''s as_of if status is new or regressed, otherwise carried over from the previous row. Time to reconcile counts from here';
COMMENT ON COLUMN lifecycle_events.last_seen_at IS 'as_of of the latest audit whose findings had the finding. On the row of a finding that disappeared, that is an earlier audit';
COMMENT ON COLUMN lifecycle_events.resolved_at IS 'for resolved: the as_of of the audit in which it became resolved (kept while a decision keeps it resolved); NULL otherwise';
COMMENT ON COLUMN lifecycle_events.resolution IS 'how it was resolved; NULL unless status = ''resolved''. A finding still present but closed by a decision: human. A finding that disappeared, the first that applies: superseded (its subject has another finding now, i.e. another mismatch type); human (the finding had a decision, or the latest repair applied since opened_at was human_adjudication or was applied by an actor other than agent); auto (a repair was applied since opened_at); self_healed (no repair, e.g. a late webhook)';
COMMENT ON COLUMN lifecycle_events.times_regressed IS 'how many times the finding has been regressed so far';
COMMENT ON COLUMN lifecycle_events.repair_pattern IS 'the finding''s repair_pattern in this audit (for a finding that disappeared: in its previous row)';
COMMENT ON COLUMN lifecycle_events.decision IS 'the finding''s decision, whether or not it holds (for a finding that disappeared: in its previous row)';
COMMENT ON COLUMN lifecycle_events.applied_action_id IS 'on the row of a finding that disappeared: the latest applied_repairs action of the finding with applied_at ≥ opened_at; NULL otherwise';

-- finding_lifecycle
COMMENT ON VIEW finding_lifecycle IS 'One row per finding ever seen: its latest lifecycle_events row (highest seq). The columns are those of lifecycle_events without audit_id, seq, as_of and changed, followed by:';
COMMENT ON COLUMN finding_lifecycle.finding_id IS 'finding';
COMMENT ON COLUMN finding_lifecycle.subject_kind IS 'intent · run · effect';
COMMENT ON COLUMN finding_lifecycle.subject_id IS 'subject';
COMMENT ON COLUMN finding_lifecycle.mismatch_type IS 'mismatch type';
COMMENT ON COLUMN finding_lifecycle.workflow IS 'workflow; NULL for effects';
COMMENT ON COLUMN finding_lifecycle.run_id IS 'run; NULL for effects';
COMMENT ON COLUMN finding_lifecycle.system IS 'system; NULL for runs';
COMMENT ON COLUMN finding_lifecycle.status IS 'new · ongoing · regressed · resolved. For a finding present in this audit, its findings.lifecycle_status. For a finding that disappeared, resolved';
COMMENT ON COLUMN finding_lifecycle.first_seen_at IS 'as_of of the first audit that had the finding';
COMMENT ON COLUMN finding_lifecycle.opened_at IS 'when the finding last opened: this audit''s as_of if status is new or regressed, otherwise carried over from the previous row. Time to reconcile counts from here';
COMMENT ON COLUMN finding_lifecycle.last_seen_at IS 'as_of of the latest audit whose findings had the finding. On the row of a finding that disappeared, that is an earlier audit';
COMMENT ON COLUMN finding_lifecycle.resolved_at IS 'for resolved: the as_of of the audit in which it became resolved (kept while a decision keeps it resolved); NULL otherwise';
COMMENT ON COLUMN finding_lifecycle.resolution IS 'how it was resolved; NULL unless status = ''resolved''. A finding still present but closed by a decision: human. A finding that disappeared, the first that applies: superseded (its subject has another finding now, i.e. another mismatch type); human (the finding had a decision, or the latest repair applied since opened_at was human_adjudication or was applied by an actor other than agent); auto (a repair was applied since opened_at); self_healed (no repair, e.g. a late webhook)';
COMMENT ON COLUMN finding_lifecycle.times_regressed IS 'how many times the finding has been regressed so far';
COMMENT ON COLUMN finding_lifecycle.repair_pattern IS 'the finding''s repair_pattern in this audit (for a finding that disappeared: in its previous row)';
COMMENT ON COLUMN finding_lifecycle.decision IS 'the finding''s decision, whether or not it holds (for a finding that disappeared: in its previous row)';
COMMENT ON COLUMN finding_lifecycle.applied_action_id IS 'on the row of a finding that disappeared: the latest applied_repairs action of the finding with applied_at ≥ opened_at; NULL otherwise';
COMMENT ON COLUMN finding_lifecycle.last_audit_id IS 'audit of that row. For a finding resolved by disappearing, the audit in which it disappeared';
COMMENT ON COLUMN finding_lifecycle.last_audit_as_of IS 'that audit''s as_of';

-- metrics
COMMENT ON TABLE metrics IS 'Long form: one row per (audit, workflow scope, metric, dimension). It is appended by every audit; re-running an audit replaces its rows.';
COMMENT ON COLUMN metrics.audit_id IS 'audit';
COMMENT ON COLUMN metrics.as_of IS 'the audit''s as_of. Two audits can share an as_of (for example after a decision file changed); to order audits, join audits on audit_id and use seq';
COMMENT ON COLUMN metrics.workflow IS 'scope: * for all, a workflow name, or (none) for findings without a workflow (effect findings). Every workflow with runs gets a row, including zero values';
COMMENT ON COLUMN metrics.metric IS 'metric name (list below)';
COMMENT ON COLUMN metrics.dimension IS 'breakdown key for metrics that have one, else NULL';
COMMENT ON COLUMN metrics.value IS 'the value; counts are stored as DOUBLE. NULL where undefined (for example, a share with no findings)';

-- metrics_daily
COMMENT ON TABLE metrics_daily IS 'One row per (UTC day, workflow scope, metric, dimension), over every audit so far. It is rebuilt by each audit from metrics and lifecycle_events (reports/metrics.sql). Two kinds of metric:';
COMMENT ON COLUMN metrics_daily.day IS 'UTC date of the audits'' as_of (stock figures) or of resolved_at (flows)';
COMMENT ON COLUMN metrics_daily.workflow IS 'scope, as in metrics';
COMMENT ON COLUMN metrics_daily.metric IS 'metric name, as in metrics';
COMMENT ON COLUMN metrics_daily.dimension IS 'as in metrics';
COMMENT ON COLUMN metrics_daily.value IS 'the value';

-- audits
COMMENT ON TABLE audits IS 'One row per published audit. Re-publishing the same audit_id replaces the row.';
COMMENT ON COLUMN audits.audit_id IS 'aud_<20 hex> (primary key)';
COMMENT ON COLUMN audits.seq IS 'the audit''s position in the order of audits (audit_context.seq): 1, 2, 3, …. A re-run keeps its number; a new audit comes after every earlier one, even with the same as_of. Order audits by this column';
COMMENT ON COLUMN audits.as_of IS 'the audit''s "now" (newest export time)';
COMMENT ON COLUMN audits.log_observed_at IS 'workflow log export time';
COMMENT ON COLUMN audits.snapshot_ids IS 'snapshots read, sorted';
COMMENT ON COLUMN audits.runs IS 'rows in recorded_runs';
COMMENT ON COLUMN audits.intents IS 'rows in intended';
COMMENT ON COLUMN audits.observed_objects IS 'rows in observed';
COMMENT ON COLUMN audits.findings IS 'rows in findings (open and resolved by a decision)';
COMMENT ON COLUMN audits.repair_actions IS 'rows in repair_actions';
COMMENT ON COLUMN audits.quarantined IS 'rows in quarantine (decision-file lines included)';
COMMENT ON COLUMN audits.sources IS '[{"source", "snapshots", "rows", "quarantined", "repeats_dropped"}, …] per source, sorted by source (sums over the audit''s snapshots of the source)';
COMMENT ON COLUMN audits.started_at IS 'wall-clock start of the audit run (the Dagster run''s start; run_audit''s start when run in-process)';
COMMENT ON COLUMN audits.finished_at IS 'wall-clock time of publishing';
COMMENT ON COLUMN audits.stale_systems IS '[{"system", "reason", "newest_observed_at"}, …], sorted by system: the systems whose system_freshness.stale_reason is set (reason), with their newest export time (null for no export). NULL when every system''s export is fresh, and for audits published before the column existed (it is added to an existing audits table with ADD COLUMN IF NOT EXISTS). The HTML report''s first headline number counts them';

-- flags
COMMENT ON TABLE flags IS 'One row per accepted line of the flag files (flags/*.csv, flags/*.jsonl): a run an operator says looks wrong. Rejected lines are in quarantine (source flags).';
COMMENT ON COLUMN flags.run_id IS 'the flagged run';
COMMENT ON COLUMN flags.operator IS 'who flagged it';
COMMENT ON COLUMN flags.reason IS 'what looks wrong, in the operator''s words';
COMMENT ON COLUMN flags.flagged_at IS 'when, RFC 3339 with offset in the file';
COMMENT ON COLUMN flags.source_file IS 'the flag file, relative to the workspace';
COMMENT ON COLUMN flags.source_record IS 'its line (for a CSV, the line the record starts on)';

-- suspicious_run_reasons
COMMENT ON TABLE suspicious_run_reasons IS 'One row per (run, reason, detail): why a run entered reconciliation (TAXONOMY.md "Suspicious runs").';
COMMENT ON COLUMN suspicious_run_reasons.run_id IS 'the run';
COMMENT ON COLUMN suspicious_run_reasons.reason IS 'attempted_without_receipt · timeout_after_call · past_completion_window · required_step_not_done · duplicate_attempt_blocked · operator_flag';
COMMENT ON COLUMN suspicious_run_reasons.detail IS 'the intent (or else the event) that triggered it; NULL for the run-wide reasons';
COMMENT ON COLUMN suspicious_run_reasons.detail_at IS 'when: the event''s ts, the intent''s last event, or the run''s completion deadline';
COMMENT ON COLUMN suspicious_run_reasons.note IS 'the error message, the recorded status, the count of required intents done, or actor: description of a flag';

-- suspicious_runs
COMMENT ON TABLE suspicious_runs IS 'One row per run that entered reconciliation: its reasons and its verdict in this audit (its findings, or verified_consistent with the evidence checked). runs_entering_reconciliation counts these rows.';
COMMENT ON COLUMN suspicious_runs.run_id IS 'the run';
COMMENT ON COLUMN suspicious_runs.workflow IS 'its workflow';
COMMENT ON COLUMN suspicious_runs.recorded_status IS 'its recorded status (run_state.status)';
COMMENT ON COLUMN suspicious_runs.reasons IS 'its distinct reasons, sorted';
COMMENT ON COLUMN suspicious_runs.reason_details IS 'every reason row (reason, detail, at, note)';
COMMENT ON COLUMN suspicious_runs.verdict IS 'findings (the run has findings in this audit), verified_consistent, or run_not_in_log (a flag file names a run the workflow log does not have)';
COMMENT ON COLUMN suspicious_runs.mismatch_types IS 'the primary types of the run''s findings';
COMMENT ON COLUMN suspicious_runs.finding_ids IS 'the run''s findings';
COMMENT ON COLUMN suspicious_runs.open_findings IS 'how many of them are open';
COMMENT ON COLUMN suspicious_runs.evidence IS 'what was checked: each intent of the run, its recorded outcome, observed state, object, matching key and snapshot';

-- prevention_backlog
COMMENT ON TABLE prevention_backlog IS 'Per audit, one row per (workflow, mismatch type, prevention line) that had a finding up to that audit: the most specific prevention line of its findings (stored_results.prevention), ranked by recurrence (findings, then consecutive audits), then by the cleanup minutes it cost people. The latest: WHERE audit_id = (SELECT audit_id FROM audit_context).';
COMMENT ON COLUMN prevention_backlog.audit_id IS 'the audit it was computed at';
COMMENT ON COLUMN prevention_backlog.rank IS '1 = the line to act on first in this workflow: most findings, then most consecutive audits, then most cleanup minutes';
COMMENT ON COLUMN prevention_backlog.workflow IS 'the workflow ((none) for findings with no run)';
COMMENT ON COLUMN prevention_backlog.mismatch_type IS 'the type';
COMMENT ON COLUMN prevention_backlog.prevention IS 'the prevention line: reckon.yaml prevention.<type>.workflows.<workflow>, else prevention.<type>.systems.<system> for the findings of that system, else the type''s rule header (mismatch_types.prevention)';
COMMENT ON COLUMN prevention_backlog.findings IS 'distinct findings of this type, workflow and line over every audit';
COMMENT ON COLUMN prevention_backlog.audits_present IS 'audits in which it had at least one finding';
COMMENT ON COLUMN prevention_backlog.open_now IS 'its open findings in the latest audit';
COMMENT ON COLUMN prevention_backlog.cleanup_minutes IS 'distinct findings whose action a person had to take or approve, times policies.minutes_per_operator_task';
COMMENT ON COLUMN prevention_backlog.prevention_scope IS 'where the line comes from: workflow or system (refined in reckon.yaml prevention:) or mismatch_type (the rule header); NULL on rows computed before it existed';
COMMENT ON COLUMN prevention_backlog.systems IS 'the systems of its findings (empty for run findings); NULL on rows computed before it existed';
COMMENT ON COLUMN prevention_backlog.consecutive_audits IS 'consecutive audits, ending with this one, that had a finding of this line (0 when this audit had none); NULL on rows computed before it existed';

-- stored_results
COMMENT ON VIEW stored_results IS 'The stored result (TAXONOMY.md step 5): one row per finding over its whole life, every audit up to the latest, rebuilt by each audit (reports/stored_results.sql). What was found, how the truth was verified (as of the last audit the finding was present in), the repair proposed and applied, whether a person was involved, and its prevention line.';
COMMENT ON COLUMN stored_results.finding_id IS 'as in findings';
COMMENT ON COLUMN stored_results.subject_kind IS 'intent · run · effect';
COMMENT ON COLUMN stored_results.subject_id IS 'the intent id, the run id, or system:external_id';
COMMENT ON COLUMN stored_results.run_id IS 'its run; NULL for an effect';
COMMENT ON COLUMN stored_results.workflow IS 'its workflow; NULL for an effect';
COMMENT ON COLUMN stored_results.system IS 'its system; NULL for a run finding';
COMMENT ON COLUMN stored_results.mismatch_type IS 'the mismatch found';
COMMENT ON COLUMN stored_results.severity IS 'low · medium · high';
COMMENT ON COLUMN stored_results.status IS 'its lifecycle status now: new · ongoing · regressed · resolved (its latest lifecycle_events row)';
COMMENT ON COLUMN stored_results.resolution IS 'how it was resolved (superseded · human · auto · self_healed), NULL while open';
COMMENT ON COLUMN stored_results.first_seen_at IS 'as-of time of the first audit that found it';
COMMENT ON COLUMN stored_results.last_seen_at IS 'as-of time of the last audit that found it';
COMMENT ON COLUMN stored_results.resolved_at IS 'as-of time of the audit that resolved it; NULL while open';
COMMENT ON COLUMN stored_results.audits_present IS 'audits in which it was present';
COMMENT ON COLUMN stored_results.verified_by IS 'how the truth was read: live when verified_snapshot_id is a live read of the system''s API (cfg_snapshots.origin = live, reckon verify), else snapshot (an export)';
COMMENT ON COLUMN stored_results.verified_snapshot_id IS 'the snapshot the verdict was read from: the matched object''s (evidence object_snapshot_id or snapshot_id), else (nothing matched: absence, which only an export proves) the newest export snapshot of its system (the workflow log''s for a run finding) at the last audit it was present in';
COMMENT ON COLUMN stored_results.verified_at IS 'that snapshot''s observed_at';
COMMENT ON COLUMN stored_results.matched_by IS 'the key that matched the intent to its object: correlation · target · receipt · natural_key; NULL when nothing matched, for runs and for effects (which match no intent)';
COMMENT ON COLUMN stored_results.intended IS 'the intended values compared (JSON), at the last audit it was present in';
COMMENT ON COLUMN stored_results.recorded IS 'the recorded values compared (JSON), likewise';
COMMENT ON COLUMN stored_results.observed IS 'the observed values compared (JSON, with field_diff), likewise';
COMMENT ON COLUMN stored_results.proposed_pattern IS 'the repair pattern proposed at the last audit it was present in';
COMMENT ON COLUMN stored_results.proposed_action_ids IS 'every action_id planned for it over its life (repair_actions_history and this audit''s repair_actions), sorted';
COMMENT ON COLUMN stored_results.applied_action_id IS 'the latest action an executor reported applied (applied_repairs); NULL if none';
COMMENT ON COLUMN stored_results.applied_pattern IS 'that action''s pattern';
COMMENT ON COLUMN stored_results.applied_at IS 'the ts of the event that reported it';
COMMENT ON COLUMN stored_results.applied_by IS 'that event''s actor (agent when it names none)';
COMMENT ON COLUMN stored_results.decision IS 'the latest operator decision on it (decisions/), over its life; NULL if none';
COMMENT ON COLUMN stored_results.decided_by IS 'the operator who made that decision';
COMMENT ON COLUMN stored_results.decided_at IS 'when';
COMMENT ON COLUMN stored_results.approved_by IS 'the person who approved the applied action (applied_repairs.approved_by); NULL if none said';
COMMENT ON COLUMN stored_results.person_roles IS 'how people were involved, in this order: decision (an operator decision), approval (the applied action was approved by a person), adjudication (the applied action was a human adjudication, or a person applied it); empty if none';
COMMENT ON COLUMN stored_results.person_involved IS 'person_roles is not empty';
COMMENT ON COLUMN stored_results.people IS 'who: decided_by, approved_by and a person who applied the action, sorted; empty when unknown';
COMMENT ON COLUMN stored_results.prevention IS 'its follow-up prevention line: reckon.yaml prevention.<type>.workflows.<workflow>, else prevention.<type>.systems.<system>, else the rule header''s (mismatch_types.prevention)';
COMMENT ON COLUMN stored_results.prevention_scope IS 'which of those: workflow · system · mismatch_type';

-- open_findings
COMMENT ON VIEW open_findings IS 'The open findings of the latest audit (findings.status = ''open''), with how long each has been open and whether a person must act on it.';
COMMENT ON COLUMN open_findings.finding_id IS 'finding (findings.finding_id)';
COMMENT ON COLUMN open_findings.mismatch_type IS 'primary mismatch type';
COMMENT ON COLUMN open_findings.severity IS 'low · medium · high, from the rule header';
COMMENT ON COLUMN open_findings.subject_kind IS 'intent · run · effect';
COMMENT ON COLUMN open_findings.subject_id IS 'intent id, run id, or system:external_id for an effect';
COMMENT ON COLUMN open_findings.workflow IS 'workflow; NULL for effects';
COMMENT ON COLUMN open_findings.run_id IS 'run; NULL for effects';
COMMENT ON COLUMN open_findings.system IS 'system; NULL for runs';
COMMENT ON COLUMN open_findings.repair_pattern IS 'the finding''s repair pattern';
COMMENT ON COLUMN open_findings.lifecycle_status IS 'new · ongoing · regressed, against the previous audit';
COMMENT ON COLUMN open_findings.first_seen_at IS 'as_of of the first audit that had the finding';
COMMENT ON COLUMN open_findings.opened_at IS 'when the finding last opened (its first audit, or its latest regression): lifecycle_events.opened_at';
COMMENT ON COLUMN open_findings.open_seconds IS 'seconds from opened_at to this audit''s as_of (export time, not wall clock)';
COMMENT ON COLUMN open_findings.times_regressed IS 'how many times the finding has regressed so far';
COMMENT ON COLUMN open_findings.actions IS 'repair actions planned for it in this audit (repair_actions)';
COMMENT ON COLUMN open_findings.needs_person IS 'true when one of its actions is human_adjudication or requires approval: it is in operator_queue';

-- operator_queue
COMMENT ON VIEW operator_queue IS 'The operator queue: one row per repair action of an open finding that a person must take (human_adjudication) or approve (requires_approval). exports/operator-queue-<audit_id>.csv is this view, masked and made safe for spreadsheets.';
COMMENT ON COLUMN operator_queue.finding_id IS 'finding';
COMMENT ON COLUMN operator_queue.mismatch_type IS 'the finding''s mismatch type';
COMMENT ON COLUMN operator_queue.subject_id IS 'the finding''s subject';
COMMENT ON COLUMN operator_queue.workflow IS 'the finding''s workflow; NULL for effects';
COMMENT ON COLUMN operator_queue.system IS 'the finding''s system; NULL for runs';
COMMENT ON COLUMN operator_queue.pattern IS 'the action''s repair pattern';
COMMENT ON COLUMN operator_queue.duplicate_risk IS 'low · medium · high: how likely acting is to create or leave a second effect';
COMMENT ON COLUMN operator_queue.explanation IS 'one line for a person';
COMMENT ON COLUMN operator_queue.recommended_next_action IS 'the action''s parameters.recommended_next_action, otherwise approve or reject the <pattern> action';
COMMENT ON COLUMN operator_queue.field_diff IS 'JSON: the intent''s intent_state.field_diff, otherwise the action''s parameters.field_diff; NULL when there is none';
COMMENT ON COLUMN operator_queue.action_id IS 'the action (repair_actions.action_id)';

-- since_last_audit
COMMENT ON VIEW since_last_audit IS 'What the latest audit changed against the previous one (by seq): findings new, regressed or resolved in it, and open findings whose evidence (state_hash) changed.';
COMMENT ON COLUMN since_last_audit.change IS 'new · regressed · resolved (the finding''s status changed in this audit) · evidence_changed (still open, its state_hash differs from the previous audit''s)';
COMMENT ON COLUMN since_last_audit.finding_id IS 'finding';
COMMENT ON COLUMN since_last_audit.mismatch_type IS 'mismatch type';
COMMENT ON COLUMN since_last_audit.subject_kind IS 'intent · run · effect';
COMMENT ON COLUMN since_last_audit.subject_id IS 'subject';
COMMENT ON COLUMN since_last_audit.workflow IS 'workflow; NULL for effects';
COMMENT ON COLUMN since_last_audit.run_id IS 'run; NULL for effects';
COMMENT ON COLUMN since_last_audit.system IS 'system; NULL for runs';
COMMENT ON COLUMN since_last_audit.status IS 'the finding''s lifecycle status in this audit: new · ongoing · regressed · resolved';
COMMENT ON COLUMN since_last_audit.resolution IS 'for resolved: auto · human · self_healed · superseded; NULL otherwise';
COMMENT ON COLUMN since_last_audit.first_seen_at IS 'as_of of the first audit that had the finding';
COMMENT ON COLUMN since_last_audit.opened_at IS 'when the finding last opened';
COMMENT ON COLUMN since_last_audit.resolved_at IS 'for resolved: as_of of the audit in which it became resolved';
COMMENT ON COLUMN since_last_audit.repair_pattern IS 'the finding''s repair pattern';
COMMENT ON COLUMN since_last_audit.applied_action_id IS 'for a finding that disappeared: the latest action an executor reported applied since it opened';

-- time_to_reconcile
COMMENT ON VIEW time_to_reconcile IS 'Time to reconcile in wide form: one row per audit and workflow scope (* for all, (none) for effect findings), the reconciliation metrics of metrics as columns.';
COMMENT ON COLUMN time_to_reconcile.audit_id IS 'audit';
COMMENT ON COLUMN time_to_reconcile.seq IS 'the audit''s seq: order audits by it';
COMMENT ON COLUMN time_to_reconcile.as_of IS 'the audit''s as_of';
COMMENT ON COLUMN time_to_reconcile.workflow IS 'scope: * for all, a workflow, or (none)';
COMMENT ON COLUMN time_to_reconcile.findings_reconciled IS 'findings that became resolved in this audit (auto, human or self_healed; superseded ones do not count)';
COMMENT ON COLUMN time_to_reconcile.reconciled_auto IS 'of those, resolved by a repair that needs no person';
COMMENT ON COLUMN time_to_reconcile.reconciled_human IS 'of those, resolved by a person';
COMMENT ON COLUMN time_to_reconcile.reconciled_self_healed IS 'of those, gone with no repair';
COMMENT ON COLUMN time_to_reconcile.mean_seconds IS 'mean of resolved_at - opened_at over them; NULL if none';
COMMENT ON COLUMN time_to_reconcile.p90_seconds IS '90th percentile (continuous) of the same; NULL if none';
COMMENT ON COLUMN time_to_reconcile.resolved_auto_share IS 'share of them resolved auto; NULL if none';
COMMENT ON COLUMN time_to_reconcile.resolved_human_share IS 'share of them resolved by a person; NULL if none';
