"""The analyst copy: after every audit a byte-for-byte copy of the database, published in
one rename, written in place only where no reader has the file open."""

from __future__ import annotations

import json
import multiprocessing
import os

import duckdb
import pytest

from pipelines.runner import run_audit
from reckon import database, read_copy
from reckon.workspace import Workspace
from simulator import simulate


def _late_export(ws: Workspace, n: int) -> None:
    """A new (empty) Stripe page lands: the next audit has a snapshot more to record."""
    (ws.landing / "stripe" / f"refunds-late-{n}.json").write_text('{"object": "list", "data": [], "has_more": false}')


def _state(ws: Workspace) -> tuple[bytes, str, dict[str, int]]:
    """The copy's bytes, the slot the public name links to, and each slot's inode."""
    final = ws.root / database.READ_COPY
    slots = dict(zip(read_copy.SLOTS, read_copy.files(final)[1:], strict=True))
    linked = [name for name, path in slots.items() if path.exists() and os.path.samestat(path.stat(), final.stat())]
    assert len(linked) == 1, linked
    return final.read_bytes(), linked[0], {n: p.stat().st_ino for n, p in slots.items() if p.exists()}


def _audit_twice_more(ws: Workspace) -> list[tuple[bytes, str, dict[str, int]]]:
    states = []
    for n in range(2):
        _late_export(ws, n)
        run_audit(ws)
        assert _state(ws)[0] == ws.database.read_bytes()
        states.append(_state(ws))
    return states


def test_the_copy_equals_the_database_and_the_slots_alternate_in_place(tmp_path):
    ws = Workspace.open(simulate(tmp_path / "ws", runs=80, seed=4).workspace)
    run_audit(ws)
    first = _state(ws)
    assert first[0] == ws.database.read_bytes() and first[1] == "a"
    second, third = _audit_twice_more(ws)
    assert (second[1], third[1]) == ("b", "a")
    assert third[2]["a"] == first[2]["a"]  # slot a was rewritten in place, not replaced
    assert not list(ws.root.glob(f".{database.READ_COPY}.*.tmp"))


def test_only_the_changed_blocks_are_written(tmp_path):
    ws = Workspace.open(simulate(tmp_path / "ws", runs=80, seed=5).workspace)
    run_audit(ws)
    _late_export(ws, 0)
    run_audit(ws)  # the public name links to slot b; slot a holds the first audit
    final = ws.root / database.READ_COPY
    before = read_copy.slot_path(final, "a").read_bytes()
    figures = read_copy.publish(ws.database, final)
    after = final.read_bytes()
    assert after == ws.database.read_bytes() and figures["size_bytes"] == len(after)
    blocks = [(before[i:i + read_copy.CHUNK], after[i:i + read_copy.CHUNK]) for i in range(0, len(after),
                                                                                         read_copy.CHUNK)]
    # Slot a was written whole with its digests: only the blocks that differ are written.
    assert (figures["whole_copy"], figures["compared_by"]) == (False, "digests")
    assert figures["written_bytes"] == sum(len(new) for old, new in blocks if old != new) < len(after)


def _tamper_in_place(slot, digests) -> None:
    with slot.open("r+b") as handle:
        handle.write(b"\xde\xad" * 300)


def _tamper_digests(slot, digests) -> None:
    _tamper_in_place(slot, digests)
    stat = slot.stat()
    os.utime(slot, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))  # as if written before it
    header, _, rest = digests.read_bytes().partition(b"\n")
    fields = {**json.loads(header), "mtime_ns": stat.st_mtime_ns - 10**9}  # the header matches the slot
    digests.write_bytes(json.dumps(fields).encode() + b"\n" + rest[:-5])  # the digests cut short


def _replace_slot(slot, digests) -> None:
    stat = slot.stat()
    copy = slot.with_name("copy")
    copy.write_bytes(b"\xde\xad" * 300 + slot.read_bytes()[600:])
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and time, another file
    os.replace(copy, slot)


@pytest.mark.parametrize("tamper", [_tamper_in_place, _tamper_digests, _replace_slot])
def test_digests_that_no_longer_describe_the_slot_are_not_trusted(tmp_path, tamper):
    """A slot changed since its digests were written (in place, or replaced by another
    file of the same size and time), or digests cut short, make the audit compare bytes;
    the first block, changed by hand, is then written back."""
    ws = Workspace.open(simulate(tmp_path / "ws", runs=40, seed=9).workspace)
    run_audit(ws)
    _late_export(ws, 0)
    run_audit(ws)
    final = ws.root / database.READ_COPY
    assert read_copy.publish(ws.database, final)["compared_by"] == "digests"  # slot b: the database now
    slot = read_copy.slot_path(final, "b")
    tamper(slot, read_copy.digests_path(slot))
    figures = read_copy.publish(ws.database, final)
    assert figures["compared_by"] == "bytes" and figures["written_bytes"] == read_copy.CHUNK
    assert final.read_bytes() == ws.database.read_bytes()


def _hold_open(path: str, ready, release, answers) -> None:
    with duckdb.connect(path, read_only=True) as con:
        answers.put(con.execute("SELECT count(*), max(audit_id) FROM audits").fetchone())
        ready.set()
        release.wait(120)  # stops by itself if the test dies
        answers.put(con.execute("SELECT count(*), max(audit_id) FROM audits").fetchone())


def test_a_reader_of_an_old_copy_keeps_it_whole(tmp_path):
    ws = Workspace.open(simulate(tmp_path / "ws", runs=80, seed=6).workspace)
    run_audit(ws)
    _, _, slots = _state(ws)
    ready, release, answers = multiprocessing.Event(), multiprocessing.Event(), multiprocessing.Queue()
    reader = multiprocessing.Process(target=_hold_open, args=(str(ws.root / database.READ_COPY), ready, release,
                                                              answers))
    reader.start()
    try:
        assert ready.wait(60)
        seen = answers.get(timeout=10)
        _, third = _audit_twice_more(ws)  # the third audit's slot is the one the reader holds
        assert third[1] == "a" and third[2]["a"] != slots["a"]  # a new file, not the reader's
        release.set()
        assert answers.get(timeout=30) == seen == (1, seen[1])
    finally:
        release.set()
        reader.join(30)
        if reader.is_alive():
            reader.kill()
    assert reader.exitcode == 0


def test_a_slot_left_half_written_is_mended_by_the_next_audit(tmp_path):
    ws = Workspace.open(simulate(tmp_path / "ws", runs=80, seed=7).workspace)
    run_audit(ws)
    _late_export(ws, 0)
    run_audit(ws)
    slot = read_copy.slot_path(ws.root / database.READ_COPY, "a")  # the next audit's slot
    size = slot.stat().st_size
    with slot.open("r+b") as handle:  # as a run killed while writing it would leave it
        for offset in range(0, size, 5 * read_copy.CHUNK + 4097):
            handle.seek(offset)
            handle.write(b"\xde\xad" * 300)
        handle.truncate(size // 2)
    (ws.root / f".{database.READ_COPY}.999999.tmp").write_bytes(b"left by a killed copy")
    _late_export(ws, 1)
    run_audit(ws)
    final = ws.root / database.READ_COPY
    assert final.read_bytes() == ws.database.read_bytes()
    with duckdb.connect(str(ws.database), read_only=True) as con:
        audits = con.execute("SELECT * FROM audits ORDER BY audit_id").fetchall()
    with duckdb.connect(str(final), read_only=True) as con:
        assert con.execute("SELECT * FROM audits ORDER BY audit_id").fetchall() == audits
    assert not list(ws.root.glob(f".{database.READ_COPY}.*.tmp"))


def test_a_copy_an_earlier_version_wrote_whole_is_taken_over(tmp_path):
    ws = Workspace.open(simulate(tmp_path / "ws", runs=40, seed=8).workspace)
    run_audit(ws)
    final = ws.root / database.READ_COPY
    for path in read_copy.files(final):  # as a version without slots left it: one plain file
        path.unlink(missing_ok=True)
    final.write_bytes(ws.database.read_bytes())
    _late_export(ws, 0)
    run_audit(ws)
    copy, slot, _ = _state(ws)
    assert copy == ws.database.read_bytes() and slot == "a"
