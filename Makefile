# Kefu: `make run` starts the product on the embedded default; `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_PORT ?= 8001

.PHONY: run test test-frontend frontend lint bench messages proto clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# The widget bundle (static/kefu/build/) is committed, so `make run` needs no Node;
# `make frontend` rebuilds it after a change under static/kefu/widget/src or static/kefu/shared.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

frontend: node_modules/.package-lock.json
	npm run build

test-frontend: node_modules/.package-lock.json
	npm test

run: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py run_demo --host $(HOST) --port $(PORT) --demo-port $(DEMO_PORT)

test: $(VENV)/.dev test-frontend
	$(BIN)/pytest $(PYTEST_ARGS)

# Style, formatting, types, import contracts and the access rule; .ci/run runs it before
# the tests, and .pre-commit-config.yaml runs the same commands.
lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python .ci/lint_access.py

bench: $(VENV)/.dev
	$(BIN)/python -m bench.run_all

messages: $(VENV)/.runtime
	$(BIN)/python manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=tests
	$(BIN)/python manage.py makemessages -d djangojs -l zh_Hans -l en --ignore=.venv --ignore=staticfiles
	$(BIN)/python manage.py compilemessages --ignore=.venv

proto: $(VENV)/.dev
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. bots/hooks/kefu_hooks.proto

clean:
	rm -rf $(VENV) var staticfiles node_modules
