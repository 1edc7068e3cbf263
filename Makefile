# The two commands of the README. Each sets up .venv first (idempotent, fast when already done).
.PHONY: setup demo test test-fast bench

setup:
	./scripts/setup.sh

demo: setup
	.venv/bin/specialize demo

test: setup
	.venv/bin/python -m pytest -q -p no:cacheprovider --timeout=900

test-fast: setup
	.venv/bin/python -m pytest -q -m "not slow"

bench: setup
	for f in bench/bench_*.py; do echo "== $$f"; .venv/bin/python $$f || exit 1; done
