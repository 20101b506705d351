"""Shared by the vendor connector tests: read one file through a reader, keep what it rejects."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from connectors.base import QuarantineSink, Reader, SourceOptions
from connectors.schema import OBSERVED_SCHEMA

TESTS = Path(__file__).resolve().parents[1]

VENDORS = TESTS / "fixtures" / "vendors"
PATTERN = re.compile(r"(int|idem)_[0-9a-z_]+")  # reckon.yaml's correlation.key_pattern

Read = Callable[..., tuple[pa.Table, list[dict[str, Any]]]]


def read_file(
    reader: type[Reader],
    path: Path | str,
    correlation_paths: Iterable[str] = (),
    *,
    object_type: str | None = None,
) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Rows and quarantine rows for one file; a str path is relative to tests/fixtures/vendors."""
    options = SourceOptions(
        source=f"{reader.name}_test",
        system=reader.name,
        object_type=object_type,
        correlation_paths=list(correlation_paths),
        correlation_pattern=PATTERN,
        root=TESTS,
    )
    sink = QuarantineSink(options.source)
    full = VENDORS / path if isinstance(path, str) else path
    batches = list(reader(options).batches(full, sink))
    return pa.Table.from_batches(batches, schema=OBSERVED_SCHEMA), sink.rows


@pytest.fixture
def read() -> Read:
    return read_file


@pytest.fixture
def broken_documents(tmp_path: Path) -> dict[str, Path]:
    """Whole files no JSON-document reader can use: each must become one record-0 rejection."""
    malformed = tmp_path / "malformed.json"
    malformed.write_text('{"object": "list", "data": [{"id": "re_1"', encoding="utf-8")
    truncated = tmp_path / "truncated.json.gz"
    truncated.write_bytes(gzip.compress(b'[{"id": "1", "status": "open"}]' * 50)[:40])
    scalar = tmp_path / "scalar.json"
    scalar.write_text('"not a document"', encoding="utf-8")
    null = tmp_path / "null.json"
    null.write_text("null", encoding="utf-8")
    return {"malformed": malformed, "truncated": truncated, "scalar": scalar, "null": null}
