"""HubSpot CRM v3 contacts through the reader: actors from history, merges, archives."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from connectors.hubspot import HubSpotReader, writers
from connectors.values import BadRecord

PATHS = ["properties.reckon_intent_id"]  # as in reckon.yaml


def test_contacts_page(read):
    table, rejected = read(HubSpotReader, "hubspot/contacts_page.json", PATHS)
    assert rejected == []
    rows = table.to_pylist()
    summary = [
        (r["source_record"], r["external_id"], r["state"], r["raw_status"], r["merged_into"])
        for r in rows
    ]
    assert summary == [
        (1, "51234501", "success", "active", None),
        (2, "51234502", "success", "active", None),
        (3, "51234503", "success", "active", None),
        (3, "51234577", "deleted", "merged", "51234503"),
        (3, "51234588", "deleted", "merged", "51234503"),
        (4, "51234504", "deleted", "archived", None),  # empty hs_merged_object_ids: no aliases
        (5, "51234505", "success", "active", None),  # integer id, stringified
    ]
    assert all(r["system"] == "hubspot" and r["object_type"] == "contact" for r in rows)
    first = rows[0]
    assert first["correlation_keys"] == ["int_1a2b3c4d5e"]
    assert first["created_at"] == datetime(2025, 3, 6, 12, 1, 10, 512000, tzinfo=UTC)
    assert first["updated_at"] == datetime(2025, 3, 6, 15, 20, 44, 118000, tzinfo=UTC)
    assert json.loads(first["fields"]) == {
        "createdate": "2025-03-06T12:01:10.512Z",
        "email": "ana.lima@example.com",
        "firstname": "Ana",
        "lastname": "Lima",
        "hs_object_id": "51234501",
        "lastmodifieddate": "2025-03-06T15:20:44.118Z",
        "lifecyclestage": "customer",
        "reckon_intent_id": "int_1a2b3c4d5e",
    }
    assert rows[6]["correlation_keys"] == []  # the customer's own value is not our marker
    assert rows[6]["created_at"] == datetime(2025, 3, 6, 19, tzinfo=UTC)


def test_last_actor_from_history(read):
    table, _ = read(HubSpotReader, "hubspot/contacts_page.json", PATHS)
    actors = dict(
        zip(
            table.column("external_id").to_pylist(),
            table.column("last_actor").to_pylist(),
            strict=True,
        )
    )
    # people's CRM_UI edits (the newest to hs_lead_status, a business property) are newer
    # than the integration's write
    assert actors["51234501"] == "user:1112223"
    # the newer CALCULATED roll-up and ANALYTICS-sourced hs_analytics_source are ignored
    assert actors["51234502"] == "INTEGRATION:reckon-agent"
    assert actors["51234503"] == "IMPORT:import-88123"
    assert actors["51234504"] == "API:sample-app-1234"
    assert actors["51234505"] is None  # no propertiesWithHistory
    assert actors["51234577"] is None  # alias rows carry no actor


def test_merge_alias_rows(read):
    table, _ = read(HubSpotReader, "hubspot/contacts_page.json", PATHS)
    alias = next(r for r in table.to_pylist() if r["external_id"] == "51234577")
    assert alias["correlation_keys"] == []
    assert alias["fields"] == "{}"
    assert alias["created_at"] is None
    assert alias["updated_at"] == datetime(2025, 3, 6, 17, 45, 12, 900000, tzinfo=UTC)
    assert alias["source_file"] == "fixtures/vendors/hubspot/contacts_page.json"


def test_actor_without_source_id_is_the_source_type():
    history = {
        "email": [
            {
                "value": "x@example.com",
                "timestamp": "2025-03-06T10:00:00Z",
                "sourceType": "AUTOMATION",
            }
        ],
        "firstname": [
            {
                "value": "X",
                "timestamp": "2025-03-06T09:00:00Z",
                "sourceType": "INTEGRATION",
                "sourceId": "reckon-agent",
            }
        ],
    }
    assert writers(history) == ("AUTOMATION", {"AUTOMATION": "2025-03-06T10:00:00+00:00",
                                                "INTEGRATION:reckon-agent": "2025-03-06T09:00:00+00:00"})
    assert writers({"lastmodifieddate": history["email"]}) == (None, {})
    assert writers({}) == (None, {})
    with pytest.raises(BadRecord, match=r"propertiesWithHistory\.email"):
        writers({"email": "not a list"})


def test_bad_records_are_rejected_and_good_ones_kept(read):
    table, rejected = read(HubSpotReader, "hubspot/contacts_mixed.json", PATHS)
    rows = table.to_pylist()
    assert [(r["source_record"], r["external_id"], r["merged_into"]) for r in rows] == [
        (1, "61000001", None),
        (8, "61000008", None),
        (8, "61000099", "61000008"),
    ]
    assert rows[0]["correlation_keys"] == ["int_5e6f7a8b9c"]
    reasons = {r["source_record"]: r["reason"] for r in rejected}
    assert set(reasons) == {2, 3, 4, 5, 6, 7}
    assert "'id'" in reasons[2] and "'id'" in reasons[3]
    assert "'updatedAt'" in reasons[4]
    assert "'properties'" in reasons[5]
    assert "'archived'" in reasons[6]
    assert "propertiesWithHistory.email[0].timestamp" in reasons[7]
    # each input record is either kept (with its aliases) or rejected
    assert len({r["source_record"] for r in rows}) + len(rejected) == 8


@pytest.mark.parametrize("name", ["malformed", "truncated", "scalar", "null"])
def test_unreadable_documents_are_rejected_whole(read, broken_documents, name):
    path = broken_documents[name]
    table, rejected = read(HubSpotReader, path, PATHS)
    assert table.num_rows == 0
    assert [(r["source_file"], r["source_record"]) for r in rejected] == [(str(path), 0)]


def test_single_object_document(read, tmp_path):
    path = tmp_path / "contact.json"
    path.write_text(
        json.dumps(
            {
                "id": "71000001",
                "properties": {"email": "solo@example.com"},
                "createdAt": "2025-03-08T08:00:00Z",
                "updatedAt": "2025-03-08T08:00:00Z",
                "archived": False,
            }
        ),
        encoding="utf-8",
    )
    table, rejected = read(HubSpotReader, path, PATHS, object_type="lead")
    assert rejected == []
    assert table.column("external_id").to_pylist() == ["71000001"]
    assert table.column("object_type").to_pylist() == ["lead"]
