# Anticipate: `make demo` and `make test` work on a fresh clone with nothing but Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_DIR ?= data/demo
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lint format bench soak screenshots clean mlflow-ui

venv: $(STAMP)

# Reinstall only when the dependency list or the pinned constraints change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: venv
	$(BIN)/anticipate data demo --out $(DEMO_DIR)
	$(BIN)/anticipate data build --sales $(DEMO_DIR)/sales.csv \
		--attributes $(DEMO_DIR)/attributes.csv --out $(DEMO_DIR)/datasets
	$(BIN)/anticipate train --data $(DEMO_DIR)/datasets
	$(BIN)/anticipate models list
	@KEY=$$($(BIN)/anticipate keys create --role admin --name demo --quiet) && \
	echo "$$KEY" > $(DEMO_DIR)/api-key.txt && \
	echo "" && echo "Demo API key (admin, also in $(DEMO_DIR)/api-key.txt): $$KEY" && \
	echo "Try, once the server below says it is running:" && \
	echo "  curl -s -H 'X-API-Key: $$KEY' 'http://127.0.0.1:8000/v1/series?level=store'" && \
	echo "  curl -s -H 'X-API-Key: $$KEY' -H 'Content-Type: application/json' \\" && \
	echo "       -d '{\"unique_ids\": [\"total\"], \"horizon\": 14}' http://127.0.0.1:8000/v1/forecasts" && \
	echo "  curl -s -H 'X-API-Key: $$KEY' 'http://127.0.0.1:8000/v1/accuracy'" && \
	echo "API docs: http://127.0.0.1:8000/docs" && echo "" && \
	echo "Planner's workspace: open http://127.0.0.1:8000/ and log in with the key above" && \
	echo "(Ctrl-C stops the server)" && echo ""
	$(BIN)/anticipate serve --host 127.0.0.1 --port 8000

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

# statsforecast (the M3 peer) needs pandas < 3, so benchmarks/m3.py runs it in its own pinned
# virtualenv (benchmarks/.work/peer-venv, from benchmarks/peer-requirements.txt) in the same run.
bench: venv
	$(BIN)/python -m benchmarks.datasets
	$(BIN)/python -m benchmarks.m3 --n-jobs 2
	$(BIN)/python -m benchmarks.scale --n-jobs 2
	$(BIN)/python -m benchmarks.planner --n-jobs 2
	$(BIN)/python -m benchmarks.api

# Crash durability and soak (issue 10), not part of test or bench: 50 kill -9 cycles during
# actuals posts, 5 minutes of mixed load at 100 req/s; writes benchmarks/results/reliability.md.
soak: venv
	$(BIN)/python -m benchmarks.reliability

# PNGs of every page (laptop and phone width) for the README, from a real server in Chromium.
screenshots: venv
	ANTICIPATE_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest \
		tests/web/test_screenshots.py -q -n 0 -p no:cacheprovider

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache .hypothesis

# The MLflow UI on the local store (loopback only).
mlflow-ui: venv
	mkdir -p mlruns
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --host 127.0.0.1 --port 5000
