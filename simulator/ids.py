"""Seeded id factory: every id, name and number the simulator makes, unique and reproducible."""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

_ALNUM = string.ascii_letters + string.digits
_LOWER = string.ascii_lowercase + string.digits
_T = TypeVar("_T")

FIRST_NAMES = (
    "ada", "bruno", "chen", "dalia", "emeka", "farah", "goran", "hana", "ines", "jonas",
    "kofi", "lena", "mateo", "nadia", "oskar", "priya", "quinn", "rosa", "sven", "tamar",
    "uma", "viktor", "wen", "yusuf", "zoe",
)  # fmt: skip
LAST_NAMES = (
    "abbott", "baptiste", "cruz", "dubois", "eriksen", "fischer", "garcia", "haddad",
    "ivanova", "jensen", "kowalski", "lindqvist", "moreau", "nakamura", "okafor", "petrov",
    "quispe", "rossi", "silva", "tanaka", "umarov", "varga", "weber", "xu", "young",
)  # fmt: skip


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    email: str

    @property
    def firstname(self) -> str:
        return self.first.capitalize()

    @property
    def lastname(self) -> str:
        return self.last.capitalize()


class Ids:
    """Draws from one `random.Random`; never repeats a value it has handed out."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._used: set[object] = set()
        self._people = 0

    def _unique(self, make: Callable[[], _T]) -> _T:
        while True:
            value = make()
            if value not in self._used:
                self._used.add(value)
                return value

    def reserve(self, values: Iterable[object], people: int = 0) -> None:
        """Never hand out `values` (ids an earlier day already used), and number new people
        after `people` (so that their emails stay unique too)."""
        self._used.update(values)
        self._people = max(self._people, people)

    def hex(self, prefix: str, n: int) -> str:
        """`prefix` + n lowercase hex digits (run_, int_, idem_, ev_ ids)."""
        return self._unique(lambda: f"{prefix}{self.rng.getrandbits(4 * n):0{n}x}")

    def alnum(self, prefix: str, n: int, alphabet: str = _ALNUM) -> str:
        """`prefix` + n letters and digits (Stripe ids, SendGrid ids)."""
        return self._unique(lambda: prefix + "".join(self.rng.choices(alphabet, k=n)))

    def lower(self, n: int) -> str:
        return self.alnum("", n, _LOWER)

    def number(self, lo: int, hi: int) -> int:
        """A unique integer in [lo, hi] (ticket, contact, user and order numbers)."""
        return self._unique(lambda: self.rng.randint(lo, hi))

    def person(self, like: Person | None = None) -> Person:
        """A new person with a unique email; `like` keeps the name (a second record of someone)."""
        self._people += 1
        first = like.first if like else self.rng.choice(FIRST_NAMES)
        last = like.last if like else self.rng.choice(LAST_NAMES)
        return Person(first, last, f"{first}.{last}.{self._people}@example.com")
