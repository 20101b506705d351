"""Read one file through any reader (workflow or observed) with connector options."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.base import QuarantineSink, Reader, SourceOptions
from tests.connectors.conftest import PATTERN, TESTS, VENDORS

# Public vendor samples, copied into the repository (see its README for sources and licences).
PUBLIC_FIXTURES = TESTS / "fixtures" / "public"


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


def public_sample(relative: str) -> Path:
    """A public sample under tests/fixtures/public (it is part of the repository)."""
    path = PUBLIC_FIXTURES / relative
    assert path.is_file(), f"public sample {path} is missing from the repository"
    return path
