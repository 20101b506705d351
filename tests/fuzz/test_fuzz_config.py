"""Fuzz reckon.yaml: the demo configuration with values, types, keys and nesting replaced,
then its text or bytes mutated (YAML tags and aliases, bad UTF-8, control characters).
Loading either succeeds or raises ConfigError (the CLI's exit 2), never anything else,
and within a time bound."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from reckon.config import CONFIG_FILE, ConfigError, KeyPattern, load_config
from tests.fuzz.conftest import FUZZ

DEMO = Path(__file__).resolve().parents[2] / "simulator" / "reckon.yaml"
BASE = yaml.safe_load(DEMO.read_text())
SECONDS = 2.0  # per load; a valid one takes milliseconds

# Values near the edges of what keys accept, and what no key accepts.
EDGES = st.sampled_from([
    "", " ", "0", "-1", "1e20", "99999999999d", "-3600", "90s", "1.5h", "3650d", "3651d", "4GB", "64MB", "1KB",
    "1024TiB", "lots", "80%", "auto", "mtime", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00",
    "2026-11-30T08:00:00Z", "../x", "/etc/passwd", "landing/*/../../x", "a\x00b", "\ud800", "\t", "x" * 10_001,
    "(a+)+$", r"(a)\1", "(?=x)", "[", "stripe.refund.create", "$state", "$fields.a..b", "fnd_1",
])  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), EDGES,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), inner, max_size=3),
    max_leaves=8,
)
# Snippets a mutation writes into the text: YAML syntax, tags, aliases, encodings.
SNIPPETS = st.sampled_from([
    b"&a ", b"*a", b"!!binary ", b"!!set ", b"!!timestamp ", b"!!python/object:os.system ", b"!!float ", b"? ",
    b"[", b"]", b"{", b"}", b": ", b"- ", b"\n", b"\t", b"#", b"'", b'"', b"\\", b"\x00", b"\xff", b"\xe9",
    b"\xef\xbb\xbf", b"\xed\xa0\x80", b"%YAML 1.1\n", b"---\n", b"...\n", b"[" * 300, b"- " * 300,
])  # fmt: skip


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a document: where a mutation may act."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += paths(item, (*prefix, i))
    return found


def at(document: Any, path: tuple) -> Any:
    for part in path:
        document = document[part]
    return document


@st.composite
def documents(draw) -> bytes:
    document = yaml.safe_load(yaml.safe_dump(BASE))  # a fresh copy
    for _ in range(draw(st.integers(0, 4))):
        path = draw(st.sampled_from(paths(document)))
        if not path:
            continue
        parent, last = at(document, path[:-1]), path[-1]
        action = draw(st.sampled_from(["value", "rename", "delete", "wrap"]))
        if action == "value":
            parent[last] = draw(VALUES)
        elif action == "wrap":  # one level deeper
            parent[last] = draw(st.sampled_from([[parent[last]], {"x": parent[last]}]))
        elif isinstance(parent, dict) and action == "rename":
            parent[draw(SCALARS.filter(lambda k: not isinstance(k, float)))] = parent.pop(last)
        elif isinstance(parent, dict):
            del parent[last]
    try:
        text = yaml.safe_dump(document, allow_unicode=True).encode("utf-8", "surrogatepass")
    except yaml.YAMLError:
        text = DEMO.read_bytes()
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 3))
        text = text[:position] + draw(SNIPPETS) + text[position + cut:]
    return text


@FUZZ
@given(text=documents())
def test_loading_any_document_succeeds_or_is_a_config_error(tmp_path, text):
    (tmp_path / CONFIG_FILE).write_bytes(text)
    start = time.perf_counter()
    try:
        load_config(tmp_path)
    except ConfigError as exc:
        assert str(exc)  # a message, naming the key or the file
    assert time.perf_counter() - start < SECONDS


@FUZZ
@given(pattern=st.one_of(st.text(max_size=12), st.sampled_from(["(int|idem)_[0-9a-z_]+", "(a+)+$", ".+", "a|b*", "(?i)INT_.*"])),
       values=st.lists(st.text(st.characters(codec=None, categories=None), max_size=40), max_size=8))
def test_the_key_pattern_matches_as_re2_does(pattern, values):
    """The matcher the connectors get (an RE2 Set) agrees with RE2's own full match."""
    import re2

    try:
        reference = re2.compile(pattern)
    except re2.error:
        return
    matcher = KeyPattern(pattern)
    for value in [*values, pattern]:
        if any("\ud800" <= c <= "\udfff" for c in value):  # re2's own API cannot take one
            matcher.fullmatch(value)
            continue
        assert matcher.fullmatch(value) == (reference.fullmatch(value) is not None), value
