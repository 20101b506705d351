"""Ingest throughput and peak memory of every connector on a large file.

    python -m bench.connectors --size-gb 2               # event_log at 2 GB, the others at 300 MB
    python -m bench.connectors --size-gb 2 --other-mb 500 --only event_log,otel

For each connector it writes one large landing file (streamed to disk, so the generator
holds little) into a workspace of its own under a temporary folder, then snapshots it
through the real path (`reckon.snapshots.take_snapshot`: hash, read, quarantine, Parquet)
in a fresh child process, so each peak RSS (VmHWM) is that connector's alone. MB is the
bytes the reader parses (uncompressed for the gzipped S3 inventory); records are source
records (lines, array elements, CSV rows, Parquet rows), not output rows.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

MB = 1024 * 1024
T0 = 1741255200  # 2025-03-06T10:00:00Z
# Whole-document readers check a large file in one streaming pass that keeps its records on disk.
STREAMS = dict.fromkeys(("stripe", "hubspot", "zendesk"), "yes (read once, records kept on disk)")


def iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + seconds))


# --- generators: each yields encoded chunks and counts records -----------------------


class Counter:
    records = 0


def event_log_lines(count: Counter) -> Iterator[bytes]:
    steps = ("run.started", "intent.declared", "action.attempted", "action.succeeded", "run.completed")
    run = 0
    while True:
        run += 1
        lines = []
        for i, kind in enumerate(steps):
            event = {"event_id": f"ev_{run}_{i}", "ts": iso(run % 86400 + i), "type": kind, "run_id": f"run_{run}",
                     "workflow": "refund_order", "actor": "agent"}  # fmt: skip
            if kind != "run.started" and kind != "run.completed":
                event.update(intent_id=f"int_{run}", step="issue_refund", action="stripe.refund.create",
                             system="stripe", idempotency_key=f"idem_{run}_a1", attempt=1)  # fmt: skip
            if kind == "intent.declared":
                event["expected"] = {"amount": 4200 + run % 100, "currency": "usd", "charge": f"ch_{run}"}
            if kind == "action.succeeded":
                event["receipt"] = {"external_id": f"re_{run}", "status": "succeeded"}
            lines.append(json.dumps(event))
        count.records += len(lines)
        yield ("\n".join(lines) + "\n").encode()


def otel_lines(count: Counter) -> Iterator[bytes]:
    def attrs(**values):
        return [{"key": k.replace("__", "."), "value": {"intValue": str(v)} if isinstance(v, int) else
                 {"stringValue": v}} for k, v in values.items()]  # fmt: skip

    trace = 0
    while True:
        trace += 1
        tid, base = f"{trace:032x}", (T0 + trace % 86400) * 10**9
        spans = [{"traceId": tid, "spanId": f"{trace:012x}0001", "name": "invoke_agent Support Agent", "kind": 1,
                  "startTimeUnixNano": str(base), "endTimeUnixNano": str(base + 9 * 10**9), "status": {"code": 1},
                  "attributes": attrs(gen_ai__operation__name="invoke_agent", gen_ai__agent__name="Support Agent")}]
        for i, tool in enumerate(("lookup_order", "issue_refund", "send_receipt_email"), start=2):
            args = json.dumps({"intent_id": f"int_{trace}_{i}", "idempotency_key": f"idem_{trace}_{i}", "amount": 4200})
            spans.append({"traceId": tid, "spanId": f"{trace:012x}{i:04x}", "parentSpanId": f"{trace:012x}0001",
                          "name": f"execute_tool {tool}", "kind": 1, "startTimeUnixNano": str(base + i * 10**9),
                          "endTimeUnixNano": str(base + i * 10**9 + 5 * 10**8), "status": {"code": 1},
                          "attributes": attrs(gen_ai__operation__name="execute_tool", gen_ai__tool__name=tool,
                                              gen_ai__tool__call__id=f"call_{trace}_{i}",
                                              gen_ai__tool__call__arguments=args,
                                              gen_ai__tool__call__result=json.dumps({"id": f"re_{trace}_{i}"}))})
        spans.append({"traceId": tid, "spanId": f"{trace:012x}0009", "name": "chat gpt-4o", "kind": 3,
                      "startTimeUnixNano": str(base), "endTimeUnixNano": str(base + 10**9),
                      "attributes": attrs(gen_ai__operation__name="chat", gen_ai__usage__input_tokens=812)})
        count.records += len(spans)
        doc = {"resourceSpans": [{"resource": {"attributes": attrs(service__name="support-agent")},
                                  "scopeSpans": [{"scope": {"name": "agents"}, "spans": spans}]}]}
        yield (json.dumps(doc, separators=(",", ":")) + "\n").encode()


def temporal_document(count: Counter) -> Iterator[bytes]:
    def payload(value):
        return {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="},
                              "data": base64.b64encode(json.dumps(value).encode()).decode()}]}

    def event(i, kind, **attributes):
        count.records += 1
        key = kind[0].lower() + kind[1:] + "EventAttributes"
        return json.dumps({"eventId": str(i), "eventTime": iso(i % 86400), "eventType": kind, "taskId": str(i),
                           key: attributes}).encode()  # fmt: skip

    yield b'{"events": [' + event(1, "WorkflowExecutionStarted", workflowType={"name": "RefundWorkflow"},
                                  originalExecutionRunId="run-bench")
    i = 1
    while True:
        chunk = []
        for _ in range(200):
            s = i + 1
            chunk += [
                event(s, "ActivityTaskScheduled", activityId=str(s), activityType={"name": "IssueRefund"},
                      input=payload({"intent_id": f"int_{s}", "idempotency_key": f"idem_{s}", "amount": 4200})),
                event(s + 1, "ActivityTaskStarted", scheduledEventId=str(s), attempt=1),
                event(s + 2, "ActivityTaskCompleted", scheduledEventId=str(s), startedEventId=str(s + 1),
                      result=payload({"id": f"re_{s}", "status": "succeeded"})),
                event(s + 3, "WorkflowTaskScheduled", taskQueue={"name": "refunds"}),
            ]
            i += 4
        yield b"," + b",".join(chunk)


TEMPORAL_END = b"]}"


def lines(make: Callable[[int], str], header: bytes = b"") -> Callable[[Counter], Iterator[bytes]]:
    """Text lines (after `header`), record n being `make(n)`, 500 to a chunk."""

    def generate(count: Counter) -> Iterator[bytes]:
        if header:
            yield header
        n = 0
        while True:
            chunk = [make(n + i) for i in range(1, 501)]
            n += 500
            count.records += len(chunk)
            yield ("\n".join(chunk) + "\n").encode()

    return generate


def inventory_row(n: int) -> str:
    return (f'"receipts-bucket","receipts/int_{n}/receipt+{n}.pdf","v{n}","true","false","{n % 90000}",'
            f'"{iso(n % 86400)[:-1]}.000Z","{n:032x}","STANDARD"')  # fmt: skip


def postmark_event(n: int) -> str:
    return json.dumps({"RecordType": "Delivery", "ServerID": 23, "MessageStream": "outbound",
                       "MessageID": f"{n:08x}-e38e-4336-af7d-e6c392c2f817", "Recipient": f"u{n}@example.com",
                       "Tag": "refund_receipt", "DeliveredAt": iso(n % 86400), "Details": "smtp;250 2.0.0 OK",
                       "Metadata": {"reckon_intent_id": f"int_{n}"}})  # fmt: skip


def invoice_row(n: int) -> str:
    return f"in_{n},paid,{n % 10000},usd,u{n}@example.com,int_{n},api:agent,{iso(n % 86400)}"


INVOICE_HEADER = b"invoice_id,state,amount_cents,currency,customer_email,intent_id,updated_by,modified\n"


def sendgrid_event(n: int) -> str:
    return json.dumps({"email": f"u{n}@example.com", "timestamp": T0 + n % 86400, "event": "delivered",
                       "sg_event_id": f"ev{n}", "sg_message_id": f"M{n:021d}.filter0001",
                       "category": "refund_notice", "reckon_intent_id": f"int_{n}"})  # fmt: skip


def page(key: str, record: Callable[[int], dict]) -> Callable[[Counter], Iterator[bytes]]:
    def generate(count: Counter) -> Iterator[bytes]:
        count.records += 1
        yield f'{{"{key}": ['.encode() + json.dumps(record(0)).encode()
        n = 0
        while True:
            chunk = [json.dumps(record(n + i)).encode() for i in range(1, 501)]
            n += 500
            count.records += 500
            yield b"," + b",".join(chunk)

    return generate


def refund(n: int) -> dict:
    return {"id": f"re_{n}", "object": "refund", "amount": 4200, "currency": "usd", "charge": f"ch_{n}",
            "created": T0 + n % 86400, "status": "succeeded", "metadata": {"reckon_intent_id": f"int_{n}"}}


def contact(n: int) -> dict:
    return {"id": str(n), "properties": {"email": f"u{n}@example.com", "firstname": "Ana", "lifecyclestage": "lead"},
            "createdAt": iso(n % 86400), "updatedAt": iso(n % 86400), "archived": False}


def ticket(n: int) -> dict:
    return {"id": n + 1, "status": "solved", "subject": "Refund", "tags": ["refund"], "external_id": f"int_{n}",
            "created_at": iso(n % 86400), "updated_at": iso(n % 86400)}


# --- the connectors' workspaces ------------------------------------------------------

TOOLS = {"issue_refund": {"action": "stripe.refund.create", "intent_id": "intent_id", "receipt": "id"},
         "send_receipt_email": {"action": "postmark.message.send", "intent_id": "intent_id"}}  # fmt: skip
# name -> (connector, landing file, generator, closing bytes, source options, gzip)
CASES: dict[str, tuple] = {
    "event_log": ("event_log", "events/log.jsonl", event_log_lines, b"", {}, False),
    "otel": ("otel", "traces/traces.jsonl", otel_lines, b"", {"tools": TOOLS, "workflow": "refund_order"}, False),
    "temporal": ("temporal", "temporal/history.json", temporal_document, TEMPORAL_END,
                 {"activities": {"IssueRefund": {"action": "stripe.refund.create", "intent_id": "intent_id"}}}, False),
    "s3_inventory": ("s3_inventory", "s3/data/part-0.csv.gz", lines(inventory_row), b"",
                     {"file_schema": "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag,"
                                     " StorageClass", "correlation_key_from_key": "(int_[0-9]+)/"}, True),
    "postmark": ("postmark", "postmark/events.jsonl", lines(postmark_event), b"", {}, False),
    "generic (csv)": ("generic", "billing/invoices.csv", lines(invoice_row, INVOICE_HEADER), b"",
                      {"external_id": "invoice_id", "status": "state", "status_map": {"success": ["paid"]},
                       "correlation_keys": ["intent_id"], "updated_at": "modified", "actor": "updated_by"}, False),
    "stripe": ("stripe", "stripe/refunds.json", page("data", refund), b"]}", {}, False),
    "sendgrid": ("sendgrid", "sendgrid/events.jsonl", lines(sendgrid_event), b"", {}, False),
    "hubspot": ("hubspot", "hubspot/contacts.json", page("results", contact), b"]}", {}, False),
    "zendesk": ("zendesk", "zendesk/tickets.json", page("tickets", ticket), b"]}", {}, False),
}
LAYER_WORKFLOW = {"event_log", "otel", "temporal"}


def write_case(root: Path, name: str, size: int) -> tuple[int, int]:
    """Write the workspace for one case; returns (bytes the reader parses, records)."""
    connector, relative, generator, closing, options, gz = CASES[name]
    landing = root / "landing" / relative
    landing.parent.mkdir(parents=True, exist_ok=True)
    count = Counter()
    written = 0
    with gzip.open(landing, "wb", compresslevel=1) if gz else landing.open("wb", buffering=8 * MB) as out:
        for chunk in generator(count):
            out.write(chunk)
            written += len(chunk)
            if written >= size:
                break
        out.write(closing)
        written += len(closing)
    source = {"connector": connector, "paths": [f"landing/{relative}"], "options": options}
    systems = {"stripe": {"object_type": "refund"}}
    if connector not in LAYER_WORKFLOW:
        source["system"] = "target"
        systems["target"] = {"object_type": "record", "correlation_paths": ["metadata.reckon_intent_id"]}
    config = {"version": 1, "correlation": {"key_pattern": "(int|idem)_[0-9a-z_]+"},
              "sources": {"bench": source}, "systems": systems}  # fmt: skip
    (root / "reckon.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return written, count.records


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ingest(root: str) -> None:
    """Child process: snapshot the workspace's one source; print what it measured as JSON."""
    from reckon.snapshots import take_snapshot
    from reckon.workspace import Workspace

    ws = Workspace.open(root)
    before = peak_rss_mb()
    started = time.perf_counter()
    snap = take_snapshot(ws, ws.config.sources[0])
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": snap.rows, "quarantined": snap.quarantined,
                      "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": before}))  # fmt: skip


def measure(name: str, size: int, folder: Path) -> dict:
    root = folder / name.replace(" ", "_").replace("(", "").replace(")", "")
    started = time.perf_counter()
    parsed, records = write_case(root, name, size)
    generated = time.perf_counter() - started
    child = subprocess.run([sys.executable, "-m", "bench.connectors", "--ingest", str(root)],
                           capture_output=True, text=True, check=True)  # fmt: skip
    result = json.loads(child.stdout.strip().splitlines()[-1])
    return {"connector": name, "mb": parsed / MB, "records": records, "generated_s": generated, **result}


def table(results: list[dict]) -> str:
    head = ("connector", "MB", "records", "rows out", "seconds", "MB/s", "records/s", "peak RSS MB", "streams")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        lines.append(
            f"| {r['connector']} | {r['mb']:,.0f} | {r['records']:,} | {r['rows']:,} | {r['seconds']:,.1f} | "
            f"{r['mb'] / r['seconds']:,.1f} | {r['records'] / r['seconds']:,.0f} | {r['peak_rss_mb']:,.0f} "
            f"(idle {r['baseline_rss_mb']:,.0f}) | {STREAMS.get(r['connector'], 'yes')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=float, default=2.0, help="size of the event_log JSONL file")
    parser.add_argument("--other-mb", type=float, default=300.0, help="size of every other connector's file")
    parser.add_argument("--only", help="comma-separated cases (default: all): " + ", ".join(CASES))
    parser.add_argument("--dir", help="where to write the workspaces (default: a temporary folder, removed after)")
    parser.add_argument("--ingest", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ingest:
        ingest(args.ingest)
        return
    names = args.only.split(",") if args.only else list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        results = []
        for name in names:
            size = int(args.size_gb * 1024 * MB) if name == "event_log" else int(args.other_mb * MB)
            results.append(measure(name, size, Path(folder)))
            print(f"{name}: {results[-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
            for child in Path(folder).iterdir():  # one large workspace on disk at a time
                shutil.rmtree(child, ignore_errors=True)
    print(table(results))


if __name__ == "__main__":
    main()
