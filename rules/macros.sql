-- macros: the comparisons every layer makes the same way (created with the audit's inputs).

-- An id in its system's canonical form (connectors/schema.py ID_FORMS), so that what the
-- runtime recorded and what the export shows compare equal when they name one object.
CREATE OR REPLACE MACRO canonical_id(form, id) AS
    CASE
        WHEN id IS NULL OR trim(id) = '' THEN NULL
        WHEN form = 'integer' AND regexp_full_match(trim(id), '\+?[0-9]+(\.0*)?')
            THEN regexp_replace(trim(id), '^\+?0*([0-9]+?)(\.0*)?$', '\1')
        WHEN form = 'before_first_dot' THEN nullif(split_part(trim(id), '.', 1), '')
        WHEN form = 'lowercase' THEN lower(trim(id))
        ELSE trim(id)
    END;

-- The value of one top-level key of a JSON object (NULL when absent), for any key text:
-- `->` would read a key starting with `$` or `/` as a path.
CREATE OR REPLACE MACRO json_field(doc, name) AS
    json_extract(doc, '$."' || replace(replace(name, '\', '\\'), '"', '\"') || '"');

-- A natural-key part as both sides compare it: the value's text (a list's first item, as
-- SendGrid's `category` may be), trimmed, case folded.
CREATE OR REPLACE MACRO key_part(value) AS
    nullif(lower(trim(CASE WHEN json_type(value) = 'ARRAY' THEN value ->> '$[0]' ELSE value ->> '$' END)), '');

-- The natural key's parts (`key_part`) of the named top-level keys of a JSON object: each
-- value extracted once (a macro argument is expanded at each use).
CREATE OR REPLACE MACRO key_parts(doc, names) AS
    list_transform(list_transform(names, lambda f: json_field(doc, f)), lambda v: key_part(v));

-- A natural key from its parts: NULL when there are none or one is missing. Give it a
-- column, not an expression: a macro argument is computed at each use.
CREATE OR REPLACE MACRO natural_key_of(parts) AS
    CASE WHEN len(parts) > 0 AND list_bool_and(list_transform(parts, lambda p: p IS NOT NULL))
         THEN array_to_string(parts, '|') END;

-- Whether an intended value (JSON) holds in the value a system shows (JSON): the same text
-- (4200 and "4200" are one value), the same number (42 and 42.00), the same address in
-- any case, or every intended element or key present in an array or object.
CREATE OR REPLACE MACRO value_holds(intended, shown) AS
    CASE
        WHEN (intended ->> '$') IS NULL THEN shown IS NULL OR (shown ->> '$') IS NULL
        WHEN shown IS NULL OR (shown ->> '$') IS NULL THEN false
        WHEN (intended ->> '$') = (shown ->> '$') THEN true
        WHEN try_cast(intended ->> '$' AS DOUBLE) = try_cast(shown ->> '$' AS DOUBLE) THEN true
        WHEN contains(intended ->> '$', '@') AND lower(intended ->> '$') = lower(shown ->> '$') THEN true
        WHEN json_type(shown) IN ('ARRAY', 'OBJECT') THEN coalesce(json_contains(shown, intended), false)
        ELSE false
    END;

-- Whether an action's verb acts on an object that exists already (an update), so that the
-- agent's write must be visible on it, even when the runtime never recorded its target.
CREATE OR REPLACE MACRO updates_existing(verb) AS lower(verb) IN (
    'update', 'patch', 'modify', 'edit', 'set', 'change', 'resolve', 'solve', 'close', 'reopen', 'assign',
    'unassign', 'tag', 'untag', 'archive', 'unarchive', 'merge', 'cancel', 'void', 'delete', 'qualify',
    'escalate', 'move', 'rename', 'enable', 'disable', 'suspend', 'restore', 'approve', 'reject', 'mark');

-- Whether a repair action waits on a person: one to take (human adjudication) or one to
-- approve (`policies.approval_required`). The operator queue, its tasks and cleanup minutes.
CREATE OR REPLACE MACRO needs_person(pattern, requires_approval) AS
    pattern = 'human_adjudication' OR requires_approval;

-- One intent as a suspicious run's evidence shows it: what was recorded against what was
-- observed, and the object that showed it (rules/models/95_run_reasons.sql lists the runs'
-- own, rules/findings/60_suspicious_runs.sql those of a run only a flag file names).
CREATE OR REPLACE MACRO checked_intent(intent_id, recorded, observed, external_id, matched_by, snapshot_id) AS
    {'intent_id': intent_id, 'recorded': recorded, 'observed': observed, 'external_id': external_id,
     'matched_by': matched_by, 'snapshot_id': snapshot_id};
