# make test — set up .venv on a fresh machine and run lint, types and every test.
# make dev  — run the local stack (see README).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium

.PHONY: test test-explore lint typecheck unit integration e2e contract browser browser-deps dev bench bench-cold-start \
	sam-validate sam-build clean iam-report checkov

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# ruff, then the architecture's directions (import-linter contracts in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

# sam-build comes before pytest: tests/unit/test_build.py checks what it built.
test: $(STAMP) lint typecheck browser-deps sam-validate checkov sam-build
	$(BIN)/python -m pytest -q

# aws-sam-cli lives in .venv-sam (its pins clash with moto's), installed on first use. A
# template error or a failed build fails `make test`; a missing python3.13 (or an aws-sam-cli
# that cannot be installed) is printed as SKIPPED — SAM_CHECK_STRICT=1 makes that fail too.
sam-validate:
	scripts/sam-check validate

sam-build:
	scripts/sam-check build

# checkov over template.yaml (its own .venv-checkov): every failed check fails `make test`;
# what does not apply is skipped in the template with its reason (docs/security.md).
checkov:
	scripts/checkov-check

# The browser tests drive Debian's chromium (Playwright never downloads a browser). Install it
# when missing and we may (root, or sudo without a password); otherwise say so: those tests
# then skip with a reason naming the missing browser.
browser-deps:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "make: installing chromium for the browser tests (apt-get)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
			|| echo "make: apt-get could not install chromium: the browser tests will be SKIPPED"; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
		echo "make: installing chromium for the browser tests (sudo apt-get)"; \
		{ sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
			|| echo "make: apt-get could not install chromium: the browser tests will be SKIPPED"; \
	else \
		echo "make: $(CHROMIUM) is missing and neither root nor sudo is available:"; \
		echo "      the browser tests will be SKIPPED (install it: apt-get install chromium)"; \
	fi

browser: $(STAMP) browser-deps
	$(BIN)/python -m pytest -q -m browser

unit: $(STAMP)
	$(BIN)/python -m pytest -q -m unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q -m integration

# The property-based tests with fresh random examples, many more of them (see tests/conftest.py).
test-explore: $(STAMP)
	HYPOTHESIS_PROFILE=explore $(BIN)/python -m pytest -q -m hypothesis

e2e: $(STAMP)
	$(BIN)/python -m pytest -q -m e2e

contract: $(STAMP)
	$(BIN)/python -m pytest -q -m contract

# Figures, never pass/fail (docs/performance.md reads them): DynamoDB round trips per chat,
# routing under 16 threads, the AWS bill per 1,000 chats, requestChat -> chatOffered with 200
# visitors on the local stack, the handlers' import times from the build (cold_start says
# SKIPPED when python3.13 or the build is missing). About 10 minutes on 2 cores.
# The benches are modules run from the repository root (python -m puts it on sys.path: they
# import the test kit, tests.support, without path edits).
bench: $(STAMP) sam-build
	@echo "== python -m bench.route_cost"; $(BIN)/python -m bench.route_cost
	@echo; echo "== python -m bench.contention"; $(BIN)/python -m bench.contention
	@echo; echo "== python -m bench.cost"; $(BIN)/python -m bench.cost
	@echo; echo "== python -m bench.resume_cost"; $(BIN)/python -m bench.resume_cost
	@echo; echo "== python -m bench.dashboard_cost"; $(BIN)/python -m bench.dashboard_cost
	@echo; echo "== python -m bench.e2e_latency --visitors 200"; $(BIN)/python -m bench.e2e_latency --visitors 200
	@echo; echo "== python -m bench.push_delay"; $(BIN)/python -m bench.push_delay
	@echo; echo "== python -m bench.cold_start"; $(BIN)/python -m bench.cold_start

bench-cold-start: $(STAMP) sam-build
	$(BIN)/python -m bench.cold_start

# Least privilege (docs/security.md): the tests with the IAM check recording what each
# function's role (and the offer workflow's) was used for — the pytest process and every
# `livechat dev --enforce-iam` it starts add to one file — then, per function, each permission
# with its use count and the ones granted but never used. IAM_TESTS narrows the run (e.g.
# IAM_TESTS="tests/integration tests/unit"); a failing test fails the target after the report.
IAM_USAGE ?= artifacts/iam-usage.json
IAM_TESTS ?= tests
iam-report: $(STAMP)
	@mkdir -p $(dir $(IAM_USAGE)); rm -f $(IAM_USAGE); status=0; \
	LIVECHAT_IAM_USAGE=$(abspath $(IAM_USAGE)) $(BIN)/python -m pytest -q -p no:cacheprovider $(IAM_TESTS) || status=$$?; \
	$(BIN)/python -m tests.support.iam_report $(IAM_USAGE) || status=$$?; \
	exit $$status

dev: $(STAMP)
	$(BIN)/livechat dev --workspace workspaces/demo.yaml --port 8700

clean:
	rm -rf $(VENV) .venv-sam .aws-sam .pytest_cache .mypy_cache .ruff_cache
