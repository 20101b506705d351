"""Fuzz profiles: `ci` (the default, a small run inside `make test`) and `fuzz` (`make fuzz`,
at least 10,000 cases per target). RECKON_FUZZ_PROFILE picks one; every target reads
its case count from the active profile, never from a number of its own."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                                       HealthCheck.function_scoped_fixture]}
settings.register_profile("ci", max_examples=60, derandomize=True, **_COMMON)
settings.register_profile("fuzz", max_examples=10_000, derandomize=False, **_COMMON)

FUZZ_PROFILE = os.environ.get("RECKON_FUZZ_PROFILE", "ci")
FUZZ = settings.get_profile(FUZZ_PROFILE)
