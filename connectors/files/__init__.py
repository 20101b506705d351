"""Reading export files record by record, each bad record to the quarantine sink with its
number: JSON Lines and CSV line by line (lines.py, csv_rows.py), whole JSON documents
streamed (json_text.py: a tokenizer over decoded text; documents.py: a document's records,
all or nothing), gzip everywhere. line_blocks.py cuts JSON Lines into blocks of whole lines
for the native fast paths (event_log_fast.py, sendgrid_fast.py)."""

from connectors.files.csv_rows import iter_csv_rows
from connectors.files.documents import (
    JsonDocument,
    iter_json_records,
    load_document,
)
from connectors.files.json_text import iter_document_items
from connectors.files.lines import (
    decode_line,
    is_json_lines,
    iter_json_lines,
    iter_lines,
    numbered_rows,
    open_binary,
    parse_json_line,
)

__all__ = [
    "JsonDocument", "decode_line", "is_json_lines", "iter_csv_rows", "iter_document_items", "iter_json_lines", "iter_json_records",
    "iter_lines", "load_document", "numbered_rows", "open_binary", "parse_json_line",
]  # fmt: skip
