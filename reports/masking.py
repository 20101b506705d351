"""Personal data in reports: masked by default, shown only when a caller asks with `unmask=True`.

- An email anywhere in any string becomes `p***@e***.com#1a2b`: first letter of the local
  part, first letter of the domain, the top-level domain, and a 4-hex digest of the whole
  address, so two addresses stay distinguishable in a report without being readable. The
  digest is short and unsalted: it tells addresses apart, it does not hide an address
  from someone who already has a list of candidates.
- A value under a name key (`firstname`, `lastname`, `name`, `full_name`, ...) becomes
  initials: `Priya Young` -> `P*** Y***`.
- A value under a phone key (`phone`, `mobilephone`, ...) keeps only its last two digits.
- In free text (a ticket subject, an explanation), a word that is a known name becomes
  its initial: the report passes the names found under name keys anywhere in the
  workspace's intended and observed data (`Onboarding: Goran Dubois` -> `Onboarding: G*** D***`).
  A name the data never gives under a name key is not recognised in free text.

JSON values are masked recursively by key. A field-diff entry
(`{"field": "firstname", "intended": ..., "observed": ...}`) is masked as if each value
sat under its `field` name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# The same, tried only where a run of local-part characters starts. Searched for plainly,
# a run with no email after it is scanned again from each of its positions: the time grows
# with the square of the run (0.07, 0.26, 0.98 s for 8,000, 16,000, 32,000 characters
# after an `@`), and a cell is masked before it is cut to size. A run's first position is
# the only one where an email can start (from a later one, the same `@` and domain follow).
_EMAIL_AT_RUN_START = re.compile(r"(?<![A-Za-z0-9._%+\-])" + EMAIL.pattern)

NAME_KEYS = frozenset({
    "name", "firstname", "first_name", "lastname", "last_name", "fullname", "full_name", "given_name",
    "family_name", "middle_name", "display_name", "contact_name", "customer_name", "requester_name",
})
PHONE_KEYS = frozenset({"phone", "phone_number", "mobilephone", "mobile_phone", "mobile"})
# Keys whose value is the name of another field (field diffs, patch lists).
FIELD_REF_KEYS = ("field",)
FIELD_VALUE_KEYS = frozenset({"intended", "observed", "expected", "value", "from", "to"})


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    labels = domain.split(".")
    tag = hashlib.sha256(email.lower().encode()).hexdigest()[:4]
    return f"{local[:1]}***@{labels[0][:1]}***.{labels[-1]}#{tag}"


def _mask_emails(text: str) -> str:
    """`EMAIL.sub(mask)` in linear time: the same matches, in one pass. Right after a match
    a run may go on (`a@b.com_c@d.com`): `EMAIL.sub` would try that position next, so it
    is tried first, anchored; then only the positions where a run starts."""
    out, pos = [], 0
    while found := (pos and EMAIL.match(text, pos)) or _EMAIL_AT_RUN_START.search(text, pos):
        out += [text[pos:found.start()], mask_email(found.group(0))]
        pos = found.end()
    return "".join(out) + text[pos:]


WORD = re.compile(r"\b[^\W\d_][\w'\-]*")


def mask_text(text: str, names: frozenset[str] = frozenset()) -> str:
    """Every email in a string masked, and every word that is one of `names`."""
    if "@" in text:  # every email has one; most cells have none, and the search costs
        text = _mask_emails(text)
    if names:
        text = WORD.sub(lambda m: f"{m.group(0)[:1]}***" if m.group(0) in names else m.group(0), text)
    return text


def name_words(values: Iterable[Any]) -> frozenset[str]:
    """The words of personal names, for masking them in free text (two letters or more)."""
    return frozenset(w for v in values if isinstance(v, str) for w in WORD.findall(v) if len(w) > 1)


def mask_name(value: str) -> str:
    return " ".join(f"{part[:1]}***" for part in value.split()) or value


def mask_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return "***" + digits[-2:] if digits else value


def _normal(key: str) -> str:
    return key.lower().replace("-", "_").replace(" ", "_")


def mask_value(key: str | None, value: Any, names: frozenset[str] = frozenset()) -> Any:
    """A value as it may appear in a report, given the key it sits under."""
    if isinstance(value, dict):
        return mask_mapping(value, names)
    if isinstance(value, list):
        return [mask_value(key, v, names) for v in value]
    if not isinstance(value, str | int) or isinstance(value, bool):
        return value
    norm = _normal(key) if key else ""
    if norm in NAME_KEYS and isinstance(value, str):
        return mask_name(mask_text(value))
    if norm in PHONE_KEYS:
        return mask_phone(str(value))
    return mask_text(value, names) if isinstance(value, str) else value


def mask_mapping(obj: dict, names: frozenset[str] = frozenset()) -> dict:
    ref = next((obj[k] for k in FIELD_REF_KEYS if isinstance(obj.get(k), str)), None)
    out = {}
    for key, value in obj.items():
        scope = ref if ref is not None and key in FIELD_VALUE_KEYS else key
        out[key] = mask_value(scope, value, names)
    return out


class Masker:
    """One switch for a whole report: `Masker()` masks, `Masker(unmask=True)` passes through.

    `names`: known personal names (see `name_words`), masked wherever they appear in text.
    """

    def __init__(self, unmask: bool = False, names: Iterable[str] = ()) -> None:
        self.unmask = unmask
        self.names = frozenset(names)

    def text(self, value: Any) -> str:
        """Any value as display text, emails and known names masked."""
        text = "" if value is None else str(value)
        return text if self.unmask else mask_text(text, self.names)

    def json(self, value: Any) -> Any:
        """A parsed JSON document, masked recursively by key, by email pattern and known names."""
        return value if self.unmask else mask_value(None, value, self.names)
