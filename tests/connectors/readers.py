"""Read one file through any reader (workflow or observed) with connector options."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from connectors.base import QuarantineSink, Reader, SourceOptions
from tests.connectors.conftest import PATTERN, TESTS, VENDORS

SHARED_FIXTURES = TESTS.parent.parent / "shared" / "fixtures"


@dataclass
class Result:
    table: pa.Table
    rejected: list[dict[str, Any]]
    reader: Reader

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.table.to_pylist()

    def reasons(self) -> dict[int, str]:
        return {r["source_record"]: r["reason"] for r in self.rejected}


def read_with(
    reader: type[Reader],
    path: Path | str,
    options: dict[str, Any] | None = None,
    correlation_paths: Iterable[str] = (),
    *,
    system: str | None = None,
    object_type: str | None = None,
    root: Path = TESTS,
) -> Result:
    """Check the options as reckon.yaml loading does, then read one file; a str path is
    relative to tests/fixtures/vendors."""
    reader.check_options(options or {})
    opts = SourceOptions(
        source=f"{reader.name}_test",
        system=system or (reader.name if reader.layer == "observed" else None),
        object_type=object_type,
        correlation_paths=list(correlation_paths),
        correlation_pattern=PATTERN,
        root=root,
        options=options or {},
    )
    sink = QuarantineSink(opts.source)
    instance = reader(opts)
    full = VENDORS / path if isinstance(path, str) else path
    batches = list(instance.batches(full, sink))
    return Result(pa.Table.from_batches(batches, schema=reader.schema), sink.rows, instance)


def shared_sample(relative: str) -> Path:
    """A public sample in ../shared/fixtures, read in place; skips when it is absent."""
    path = SHARED_FIXTURES / relative
    if not path.exists():
        pytest.skip(f"public sample {path} is absent (../shared/fixtures is not beside this checkout)")
    return path
