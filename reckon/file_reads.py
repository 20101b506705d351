"""A snapshot's landing files read by several processes at once, handed back in file order.

Readers parse in Python (the vendor formats) or half in Python (the native fast paths), so
one process uses about one core. A snapshot of many files gives each file to a worker
process (a fresh interpreter, `python -m reckon.file_reads`: the caller may hold DuckDB
and Dagster threads, which `fork` would copy mid-flight, and multiprocessing's `spawn`
would run the caller's main script again, which a script without a main guard does not
survive); a worker reads its file with a reader of its own into an Arrow IPC file beside
the snapshot, and returns what the reader noted on the way (rejections, repeats dropped,
fields seen). The caller takes the files in order, so the snapshot's rows, quarantine and
counts are the ones a single reader gives (tests/test_file_reads.py compares them).

A worker that finishes a file gets the next one at once; at most two files per worker are
being read or waiting to be taken, so the IPC files on disk stay few.

When several sources are snapshotted side by side (`pipelines.steps.run_steps`), each in a
thread of the caller's, a source with PARALLEL_MIN_BYTES or more of new files has them all
parsed by one worker of its own, whatever their number (`offload`): its thread then mostly
waits, and the sources' Python parsing runs on as many cores as there are sources at once.
"""

from __future__ import annotations

import os
import pickle
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from connectors import CONNECTORS, SourceOptions
from connectors.base import QuarantineSink, Reader

# Below this many bytes in all, starting the workers (about half a second, their imports)
# costs more than it saves: the files are read in this process.
PARALLEL_MIN_BYTES = 64 << 20
_IPC = ipc.IpcWriteOptions(compression="lz4")  # fast, and keeps the files in flight small
IN_FLIGHT = 2  # files per worker being read or read and not taken yet


@dataclass
class FileRead:
    """What a worker's reader noted while reading one file, besides its rows."""

    rejected: list[dict[str, Any]]
    repeats_dropped: int
    fields_seen: dict[str, set[str]]


class FileReads:
    """The batches of each file, in the order given: read here, or by `workers` processes
    when there are several files and enough bytes, or by one process with `offload`. What a
    worker noted is added to `reader` and `sink` when its file's batches are done: its
    rejections, repeats dropped and fields seen."""

    def __init__(self, reader: Reader, sink: QuarantineSink, paths: list[Path], size: int, scratch: Path,
                 workers: int, offload: bool = False) -> None:
        """`size`: the files' bytes in all (the snapshot's entries know them)."""
        self.reader, self.sink, self.scratch = reader, sink, scratch
        self.paths = paths
        self.workers: list[_Worker] = []
        self.next = 0  # the index of the next file asked for
        self.sent = 0  # the index of the next file to give a worker
        self.answers: dict[int, Any] = {}  # what the workers answered for files not taken yet
        if offload and paths:
            self.workers = [_Worker()]
        elif workers > 1 and len(paths) > 1 and size >= PARALLEL_MIN_BYTES:
            self.workers = [_Worker() for _ in range(min(workers, len(paths)))]
        self._give_work()

    def __enter__(self) -> FileReads:
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            worker.stop()

    def batches(self, path: Path) -> Iterator[pa.RecordBatch]:
        """The file's batches; `path` must be the next of the paths given."""
        number = self.next
        if number >= len(self.paths) or self.paths[number] != path:
            raise ValueError(f"files read out of order: {path} asked")
        self.next += 1
        if not self.workers:
            yield from self.reader.batches(path, self.sink)
            return
        out = self._out(number)
        try:
            read = self._wait_for(number)
            # Read, not mapped: the caller holds batches after the file is gone.
            with pa.OSFile(str(out), "rb") as source:
                batches = ipc.open_file(source)
                for i in range(batches.num_record_batches):
                    yield batches.get_batch(i)
        finally:
            out.unlink(missing_ok=True)
        self.sink.rows.extend(read.rejected)
        self.reader.repeats_dropped += read.repeats_dropped
        for name, fields in read.fields_seen.items():
            self.reader.fields_seen.setdefault(name, set()).update(fields)

    def _wait_for(self, number: int) -> FileRead:
        """File `number`'s answer. Each worker that finishes on the way gets the next file at
        once: files differ in size (a day's full page and its short last one), and giving
        the next file to the worker of the file just taken left one worker idle."""
        while True:
            self._give_work()  # taking a file, or a worker finishing one, made room for more
            if number in self.answers:
                break
            busy = {worker.fileno(): worker for worker in self.workers if worker.reading is not None}
            ready, _, _ = select.select(list(busy), [], [])
            for fd in ready:
                worker = busy[fd]
                reading = worker.reading  # taken before `receive`, which clears it
                self.answers[reading] = worker.receive()
        answer = self.answers.pop(number)
        if isinstance(answer, BaseException):  # raised for its own file, as a single reader would
            raise answer
        return answer

    def _give_work(self) -> None:
        """The next files to the idle workers, while at most IN_FLIGHT per worker are read or
        waiting to be taken (their IPC files on disk)."""
        for worker in self.workers:
            if worker.reading is None and self.sent < len(self.paths) and \
                    self.sent - self.next < IN_FLIGHT * len(self.workers):
                number, path = self.sent, self.paths[self.sent]
                # What the reader kept of the file while finding its export time goes with
                # it: a Zendesk page is then parsed once, here, not again by the worker.
                worker.send(number, (self.reader.name, self.reader.options, self.sink.source, path,
                                     self._out(number), self.reader.handoff(path)))
                self.sent += 1

    def _out(self, number: int) -> Path:
        return self.scratch / f"read-{number:06d}.arrow"


class _Worker:
    """One worker process, one file at a time: a request and its answer, pickled over its pipes."""

    def __init__(self) -> None:
        # The caller's import path (its repo or PYTHONPATH), so the worker finds the same modules.
        path = os.pathsep.join(p for p in [*sys.path, os.environ.get("PYTHONPATH", "")] if p)
        self.process = subprocess.Popen([sys.executable, "-m", "reckon.file_reads"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": path})
        self.reading: int | None = None  # the file it is reading

    def fileno(self) -> int:
        assert self.process.stdout is not None
        return self.process.stdout.fileno()

    def send(self, number: int, request: tuple[Any, ...]) -> None:
        assert self.process.stdin is not None and self.reading is None
        pickle.dump(request, self.process.stdin)
        self.process.stdin.flush()
        self.reading = number

    def receive(self) -> FileRead | BaseException:
        """Its answer: what it noted, or the error its reader raised. One request at a time,
        so nothing past the answer is ever in the pipe."""
        assert self.process.stdout is not None and self.reading is not None
        self.reading = None
        try:
            return pickle.load(self.process.stdout)
        except EOFError:
            raise RuntimeError(f"a file-reading worker exited with status {self.process.wait()}") from None

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        if self.reading is not None:  # an answer no one will take: the caller failed
            self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def read_file(connector: str, options: SourceOptions, source: str, path: Path, out: Path, kept: Any) -> FileRead:
    """A worker's part: one file through a reader of its own (given what the caller's
    reader kept of it, `Reader.handoff`), its batches into `out`."""
    reader = CONNECTORS[connector](options)
    reader.take(path, kept)
    sink = QuarantineSink(source)
    writer: ipc.RecordBatchFileWriter | None = None
    with pa.OSFile(str(out), "wb") as handle:
        try:
            for batch in reader.batches(path, sink):
                if writer is None:
                    writer = ipc.new_file(handle, batch.schema, options=_IPC)
                writer.write_batch(batch)
            if writer is None:
                writer = ipc.new_file(handle, reader.schema, options=_IPC)
        finally:
            if writer is not None:
                writer.close()
    return FileRead(sink.rows, reader.repeats_dropped, reader.fields_seen)


def _serve() -> None:
    """A worker's loop: requests from stdin until it closes, answers (or the error) to stdout."""
    requests, answers = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print goes to stderr, never into the answers
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        try:
            answer: Any = read_file(*request)
        except Exception as exc:  # the caller raises it, as if it had read the file itself
            answer = exc
        try:
            data = pickle.dumps(answer)
        except Exception:  # an error that does not pickle
            data = pickle.dumps(RuntimeError(repr(answer)))
        answers.write(data)
        answers.flush()


if __name__ == "__main__":
    # As the module, not __main__: the answers' classes must be found by their package name.
    from reckon.file_reads import _serve as serve

    serve()
