# The two commands a newcomer needs: `make demo` and `make test`. Both bootstrap themselves.
.PHONY: bootstrap demo test test-fast bench requirements clean

PY := .venv/bin/python

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	@$(PY) -m airflow_delivery.cli demo

test: bootstrap
	$(PY) -m pytest

# Unit tests only: no external processes.
test-fast: bootstrap
	$(PY) -m pytest tests/unit

bench: bootstrap
	@set -e; for f in bench/*.py; do echo "== $$f"; $(PY) $$f; done

# Re-pin requirements.txt from the current venv (run after changing dependencies in pyproject.toml).
requirements:
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e ' > requirements.txt

clean:
	rm -rf .airflow .demo .pytest_cache
