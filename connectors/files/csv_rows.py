"""CSV record by record (a quoted value may span lines), maybe gzipped."""

from __future__ import annotations

import csv
import itertools
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

from connectors.base import QuarantineSink
from connectors.files.lines import open_binary

_SURROGATE = re.compile(r"[\udc80-\udcff]")


def iter_csv_rows(
    path: Path, sink: QuarantineSink, source_file: str, delimiter: str = ","
) -> Iterator[tuple[int, list[str]]]:
    """(first line number, values) for each CSV record (a quoted value may span lines).

    A record that is not valid CSV or not valid UTF-8 is rejected; a gzip stream that
    ends early is rejected as one record after the last good one.
    """
    line_no = 0
    try:
        with open_binary(path) as raw:
            # Lines end at "\n" only (a stray "\r" is data), so numbers match `wc -l`.
            lines = (line.decode("utf-8", "surrogateescape") for line in raw)
            first = next(lines, "")
            text = itertools.chain([first.removeprefix("\ufeff")], lines)
            reader = csv.reader(text, delimiter=delimiter, strict=True)
            while True:
                start = reader.line_num + 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    line_no = reader.line_num
                    sink.reject(source_file, start, f"malformed CSV: {exc}")
                    continue
                line_no = reader.line_num
                if not values or values == [""]:
                    continue
                joined = delimiter.join(values)
                if _SURROGATE.search(joined):
                    sink.reject(source_file, start, "invalid UTF-8", joined.encode("utf-8", "surrogateescape"))
                    continue
                yield start, values
    except (EOFError, OSError, zlib.error) as exc:
        sink.reject(source_file, line_no + 1, f"unreadable file: {exc}")


