# The two commands: `make demo` (install + audit generated demo data) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)

.PHONY: demo test test-lowest install browser bench fuzz clean lock

install: $(STAMP)

# pyproject.toml holds compatible ranges; requirements.lock the exact versions installed.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

# Debian's Chromium renders the HTML report in the browser test (as root, on Debian).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not installed: the browser test will be skipped"; fi; }

demo: $(STAMP)
	$(VENV)/bin/reckon demo --workspace workspace --live

test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -q

# Hypothesis targets (tests/fuzz) at >= 10,000 cases each; `make test` runs them small.
fuzz: $(STAMP)
	RECKON_FUZZ_PROFILE=fuzz $(VENV)/bin/pytest -q tests/fuzz --hypothesis-show-statistics

# The tests with every runtime dependency at the lowest version pyproject.toml allows
# (its own venv): the ranges hold for an existing Dagster deployment, not only the lock.
test-lowest: browser
	rm -rf .venv-lowest && $(PYTHON) -m venv .venv-lowest
	$(PYTHON) .ci/lowest_bounds.py pyproject.toml > .venv-lowest/constraints.txt
	.venv-lowest/bin/pip install --quiet --disable-pip-version-check -c .venv-lowest/constraints.txt -e '.[dev]'
	.venv-lowest/bin/pytest -q

bench: $(STAMP)
	$(VENV)/bin/python -m bench --intents 1000000,3000000,10000000

clean:
	rm -rf .venv-lowest workspace workspace.labels.jsonl workspace.scenarios.jsonl workspace.timeline.jsonl .pytest_cache .ruff_cache

# Re-resolve the exact versions within pyproject.toml's ranges (then commit requirements.lock).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^reckon' > requirements.lock
	rm -rf .lock-venv
