# CloudCord's two set-up commands are `make up` and `make test` (see README.md).
# Everything they need is provisioned by the project itself: `cloudcord infra up`
# installs and starts Kafka, PostgreSQL and FerretDB on loopback.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Rust and Go live outside the default PATH on a fresh machine of this kind.
export PATH := $(HOME)/.cargo/bin:/usr/local/go/bin:$(PATH)
# Absolute, so tests (which run from their crate's directory) find the same servers.
export CLOUDCORD__INFRA__STATE_DIR ?= $(CURDIR)/.cloudcord
# Jars and the FerretDB build outlive clones and state resets.
export CLOUDCORD__INFRA__CACHE_DIR ?= $(HOME)/.cache/cloudcord

NEXTEST_VERSION := 0.9.151
CARGO_TARGET_DIR ?= $(CURDIR)/target
CLOUDCORD := $(CARGO_TARGET_DIR)/debug/cloudcord

.PHONY: help up down test build tools infra-up infra-down infra-status fmt lint sqlx-prepare web web-test chromium \
	ops-test ops-tools images service-binaries deny openapi api-test api-tools voice-test voice-tools \
	docs docs-tools docs-book docs-test chaos chaos-test chaos-run

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

up: build web docs-book ## Start the infrastructure and every service in the foreground (Ctrl-C stops the services)
	$(CLOUDCORD) up

down: build ## Stop the stack and the infrastructure
	$(CLOUDCORD) down

test: tools build ## Provision the infrastructure, then fmt, clippy and every test, the docs and their examples, the web client's, and the ops tests
	$(CLOUDCORD) infra up
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo nextest run --workspace --locked
	$(MAKE) docs
	$(MAKE) api-test
	$(MAKE) docs-test
	$(MAKE) web-test
	$(MAKE) voice-test
	$(MAKE) chaos-test
	$(MAKE) ops-test

build: ## Build the cloudcord command (it links every service)
	cargo build --locked -p cloudcord

tools: ## Install the Rust tools the targets use, when missing
	@cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
	@cargo nextest --version 2>/dev/null | grep -q "cargo-nextest $(NEXTEST_VERSION)" \
		|| cargo install --locked cargo-nextest@$(NEXTEST_VERSION)

infra-up: build ## Start Kafka, PostgreSQL and FerretDB only (BROKERS=3 for three Kafka nodes)
	$(CLOUDCORD) infra up --brokers $(or $(BROKERS),1)

infra-down: build ## Stop the infrastructure
	$(CLOUDCORD) infra down

infra-status: build ## Show what runs and whether it is ready
	$(CLOUDCORD) infra status

# The web client (web/): `npm ci` when the lock changed (downloads cached in ~/.npm),
# `npm run build` when a source changed; make's timestamps decide both.
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) \
	web/index.html web/package.json web/vite.config.ts web/tsconfig.json
web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run build

web: web/dist/index.html ## Build the web client into web/dist when it is missing or stale

web-test: build web chromium ## The web client's ESLint, tsc, Vitest, and its browser tests against a real stack
	cd web && npm run lint && npm run typecheck && npm test && npm run size
	cd web && CLOUDCORD_BIN=$(CLOUDCORD) npm run e2e

# The browser tests drive Debian's Chromium (tools may not download browsers here);
# the emoji font makes reactions legible in their screenshots.
chromium: ## Install Debian's Chromium for the browser tests, when missing
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" != 0 ]; then echo "install Debian's chromium: sudo apt-get install chromium fonts-noto-color-emoji" >&2; exit 1; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-noto-color-emoji; }

fmt: ## Format the Rust code
	cargo fmt --all

lint: ## The checks `make test` runs before the tests
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

# The projectors', query-api's, gateway-ws's and command-api's `sqlx::query!` macros check SQL at
# compile time against the data in their .sqlx/ (committed), so building never needs
# a database. After changing a query or a migration, regenerate it against a scratch
# database migrated by psql (no sqlx-cli needed: the macros write the files when
# SQLX_OFFLINE_DIR is set). The gateway's own tables live in a schema of their own
# at run time ([gateway_ws.sessions] store_schema, reached through search_path, so
# its queries name them unqualified); here they sit beside the read models in the
# default schema, which the macros resolve the same unqualified names in (no table
# names clash). command-api's OAuth2 tables ([command_api.http.oauth] schema) are
# handled the same way. Set SQLX_SCRATCH_DB when several clones share one PostgreSQL, so
# their runs do not drop each other's scratch database.
# The server of CLOUDCORD__POSTGRES__URL (the one `infra up` provisions), without its
# database, so a clone with its own infrastructure never touches another's server.
SQLX_DB_URL ?= $(patsubst %/,%,$(dir $(or $(CLOUDCORD__POSTGRES__URL),postgres://cloudcord:cloudcord@127.0.0.1:5432/cloudcord)))
SQLX_SCRATCH_DB ?= cloudcord_sqlx
PSQL := PGPASSWORD=cloudcord /usr/lib/postgresql/15/bin/psql -v ON_ERROR_STOP=1 -q
SQLX_CHECK := DATABASE_URL="$(SQLX_DB_URL)/$(SQLX_SCRATCH_DB)" cargo check
sqlx-prepare: ## Regenerate projectors/.sqlx, query-api/.sqlx, gateway-ws/.sqlx and command-api/.sqlx (needs `make infra-up`)
	$(PSQL) "$(SQLX_DB_URL)/cloudcord" -c 'DROP DATABASE IF EXISTS "$(SQLX_SCRATCH_DB)"' -c 'CREATE DATABASE "$(SQLX_SCRATCH_DB)"'
	for migration in projectors/migrations/*.sql gateway-ws/migrations/*.sql command-api/migrations/*.sql; do $(PSQL) "$(SQLX_DB_URL)/$(SQLX_SCRATCH_DB)" -f "$$migration"; done
	rm -rf projectors/.sqlx && mkdir -p projectors/.sqlx
	touch projectors/src/lib.rs
	SQLX_OFFLINE_DIR="$(CURDIR)/projectors/.sqlx" $(SQLX_CHECK) -p cloudcord-projectors --all-targets
	rm -rf query-api/.sqlx && mkdir -p query-api/.sqlx
	touch query-api/src/lib.rs
	SQLX_OFFLINE_DIR="$(CURDIR)/query-api/.sqlx" $(SQLX_CHECK) -p cloudcord-query-api --lib
	rm -rf gateway-ws/.sqlx && mkdir -p gateway-ws/.sqlx
	touch gateway-ws/src/lib.rs
	SQLX_OFFLINE_DIR="$(CURDIR)/gateway-ws/.sqlx" $(SQLX_CHECK) -p cloudcord-gateway-ws --lib
	rm -rf command-api/.sqlx && mkdir -p command-api/.sqlx
	touch command-api/src/lib.rs
	SQLX_OFFLINE_DIR="$(CURDIR)/command-api/.sqlx" $(SQLX_CHECK) -p cloudcord-command-api --lib

# The REST API's contract: openapi/cloudcord.json is generated from the route
# tables (`make openapi` rewrites it; a Rust test fails when it drifts), and
# `make api-test` fuzzes a running stack with schemathesis against it — fixed seed,
# authenticated — requiring no 5xx and every response as documented.
API_VENV := $(CLOUDCORD__INFRA__CACHE_DIR)/api/venv-$(shell sha256sum openapi/test/requirements.txt | cut -c1-12)

openapi: build ## Rewrite openapi/cloudcord.json from the code
	$(CLOUDCORD) openapi > openapi/cloudcord.json

$(API_VENV)/.installed: openapi/test/requirements.txt
	python3 -m venv $(API_VENV)
	$(API_VENV)/bin/pip install --quiet --disable-pip-version-check -r openapi/test/requirements.txt
	touch $@

api-tools: $(API_VENV)/.installed ## Install schemathesis (a venv under ~/.cache/cloudcord), when missing

api-test: build api-tools ## Schemathesis against the committed OpenAPI document, on a real stack
	$(CLOUDCORD) infra up
	cd openapi/test && CLOUDCORD_BIN=$(CLOUDCORD) $(API_VENV)/bin/python -m pytest -p no:cacheprovider -q

# The documentation site (docs/, an mdBook; docs/README.md): `make docs` rewrites
# the event and REST references from schemas/ and openapi/cloudcord.json
# (cloudcord-docs; a test fails when the committed pages drift), builds the book
# into docs/book, checks every internal link and anchor in it, and builds the
# crates' API docs with warnings denied. `make test` runs it after the tests, so the
# drift test sees the pages as committed. `make up` only builds the book
# (`docs-book`) and serves it at http://127.0.0.1:8080/docs/. mdBook is pinned, built from crates.io
# without its live-reload server, and cached like the other tools.
MDBOOK_VERSION := 0.5.4
MDBOOK := $(CLOUDCORD__INFRA__CACHE_DIR)/docs/mdbook-$(MDBOOK_VERSION)/bin/mdbook
DOCS_TOOL := $(CARGO_TARGET_DIR)/debug/cloudcord-docs
# The API docs build without a warning (a broken or private link fails the build).
DOCS_RUSTDOCFLAGS := -D warnings

$(MDBOOK):
	cargo install --locked --no-default-features --features search \
		--root $(dir $(@D)) mdbook@$(MDBOOK_VERSION)

docs-tools: $(MDBOOK) ## Install mdBook (pinned, under ~/.cache/cloudcord), when missing

docs-book: docs-tools ## Build the site's pages as committed into docs/book (`make up` serves it at /docs/)
	$(MDBOOK) build docs

docs: docs-tools ## Build the documentation site into docs/book: references regenerated, links checked, API docs
	cargo build --locked -p cloudcord-docs
	$(DOCS_TOOL) generate
	$(MDBOOK) build docs
	$(DOCS_TOOL) check-links docs/book
	RUSTDOCFLAGS="$(DOCS_RUSTDOCFLAGS)" cargo doc --workspace --no-deps --locked

# The examples as written: the sh blocks of the curl walkthrough, the bots, audit and
# replay pages, the discord.js bot and the Python consumer, taken from their pages, and
# the twilight bot the bots page includes (docs/generator/examples/), all
# run against a stack of their own (openapi/test/stack.py). Their Python tools
# (pytest, confluent-kafka, jsonschema; docs/test/requirements.txt, pinned) live in a
# venv keyed by that file; discord.js in docs/test/node_modules (`npm ci`).
DOCS_VENV := $(CLOUDCORD__INFRA__CACHE_DIR)/docs/venv-$(shell sha256sum docs/test/requirements.txt | cut -c1-12)

$(DOCS_VENV)/.installed: docs/test/requirements.txt
	python3 -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/pip install --quiet --disable-pip-version-check -r docs/test/requirements.txt
	touch $@

docs/test/node_modules/.package-lock.json: docs/test/package-lock.json
	cd docs/test && npm ci --no-audit --no-fund

docs-test: build docs-book $(DOCS_VENV)/.installed docs/test/node_modules/.package-lock.json ## Run the documentation's examples, as written, against a real stack
	cargo build --locked -p cloudcord-docs --example twilight_bot
	$(CLOUDCORD) infra up
	cd docs/test && CLOUDCORD_BIN=$(CLOUDCORD) TWILIGHT_BOT=$(CARGO_TARGET_DIR)/debug/examples/twilight_bot \
		$(DOCS_VENV)/bin/python -m pytest -p no:cacheprovider -q

# Voice: real WebRTC peers through the SFU — two headless Chromiums (Debian's, driven
# by the web client's playwright-core), an aiortc publisher (PyPI, in a venv under
# ~/.cache/cloudcord) and browsers forced through Debian's coturn — plus two browsers
# talking through the whole stack. Run by `make test` after the web client's tests,
# which install Chromium and playwright-core.
VOICE_VENV := $(CLOUDCORD__INFRA__CACHE_DIR)/voice/venv-$(shell sha256sum sfu/tests/requirements.txt | cut -c1-12)

$(VOICE_VENV)/.installed: sfu/tests/requirements.txt
	python3 -m venv $(VOICE_VENV)
	$(VOICE_VENV)/bin/pip install --quiet --disable-pip-version-check -r sfu/tests/requirements.txt
	touch $@

voice-tools: $(VOICE_VENV)/.installed ## Install aiortc (a venv) and Debian's coturn, when missing
	@dpkg-query -W -f='$${Status}' coturn 2>/dev/null | grep -q 'install ok installed' || { \
		if [ "$$(id -u)" != 0 ]; then echo "install Debian's coturn: sudo apt-get install coturn" >&2; exit 1; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends coturn; }

voice-test: web chromium voice-tools ## The SFU's browser, aiortc and TURN tests, and voice through the stack
	$(CLOUDCORD) infra up
	PLAYWRIGHT_CORE=$(CURDIR)/web/node_modules/playwright-core AIORTC_PYTHON=$(VOICE_VENV)/bin/python \
		cargo nextest run --locked -p cloudcord-sfu -p cloudcord --run-ignored only

# Faults (cloudcord chaos): two instances of each service on a three-broker cluster of
# its own (Kafka 29092…, PostgreSQL 25432, FerretDB 28017, state in .cloudcord-chaos,
# made afresh each run and stopped afterwards), every fault injected while messages
# flow, then the checker. `make chaos-test` is the reduced run in `make test`;
# `make chaos` the full one (longer faults, more load; CHAOS_ARGS adds options).
# The ports stay below Linux's ephemeral range (32768 and up): there, any outgoing
# connection may take a port while the Kafka nodes start, and a node cannot bind it.
CHAOS_ENV := CLOUDCORD__INFRA__STATE_DIR=$(CURDIR)/.cloudcord-chaos \
	CLOUDCORD__KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:29092 \
	CLOUDCORD__POSTGRES__URL=postgres://cloudcord:cloudcord@127.0.0.1:25432/cloudcord \
	CLOUDCORD__MONGO__URL=mongodb://127.0.0.1:28017

chaos-test: build service-binaries ## Every fault against a multi-process stack, and the lost/duplicated-message checker (reduced)
	$(MAKE) chaos-run CHAOS_ARGS="--hold-secs 6 --settle-secs 6 $(CHAOS_ARGS)"

chaos: build service-binaries ## The full fault run; its report goes to BENCHMARKS.md
	$(MAKE) chaos-run CHAOS_ARGS="--hold-secs 20 --settle-secs 15 --senders 8 --clients 8 --report $(CURDIR)/target/chaos-report.json $(CHAOS_ARGS)"

chaos-run:
	$(CHAOS_ENV) $(CLOUDCORD) infra down 2>/dev/null || true
	rm -rf $(CURDIR)/.cloudcord-chaos
	status=0; $(CHAOS_ENV) $(CLOUDCORD) chaos $(CHAOS_ARGS) || status=$$?; \
		$(CHAOS_ENV) $(CLOUDCORD) infra down; exit $$status

# Operations (k8s/, strimzi/, images/, .github/): `make ops-test` lints and renders
# the Helm chart, validates every manifest offline, runs checkov, promtool, amtool,
# check-jsonschema and zizmor, builds the images, and checks the monitoring against
# the five services running on the shared infrastructure with a real Prometheus.
# Tools: Debian's prometheus, alertmanager (promtool, amtool) and buildah; helm from
# the Go module proxy; the Python tools (k8s/test/requirements.txt, pinned) in a venv
# keyed by that file's hash. All cached under $(CLOUDCORD__INFRA__CACHE_DIR)/ops.
OPS_CACHE := $(CLOUDCORD__INFRA__CACHE_DIR)/ops
HELM_VERSION := v3.22.0
HELM := $(OPS_CACHE)/helm-$(HELM_VERSION)/helm
OPS_VENV := $(OPS_CACHE)/venv-$(shell sha256sum k8s/test/requirements.txt | cut -c1-12)
OPS_DEBIAN_PACKAGES := prometheus prometheus-alertmanager buildah
CARGO_DENY_VERSION := 0.20.2
SERVICES := command-api query-api projectors gateway-ws sfu web
# `make images` builds release binaries; the ops tests check debug-built images
# (same layout, same user, no shell) so `make test` compiles nothing twice.
IMAGE_PROFILE ?= release
IMAGE_REPOSITORY ?= ghcr.io/cloudcord
IMAGE_TAG ?= dev
IMAGE_DIR := $(CARGO_TARGET_DIR)/images
IMAGE_BIN_DIR = $(CARGO_TARGET_DIR)/$(if $(filter dev,$(IMAGE_PROFILE)),debug,$(IMAGE_PROFILE))

$(HELM):
	GOBIN=$(dir $(HELM)) GOFLAGS=-mod=mod go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(OPS_VENV)/.installed: k8s/test/requirements.txt
	python3 -m venv $(OPS_VENV)
	$(OPS_VENV)/bin/pip install --quiet --disable-pip-version-check -r k8s/test/requirements.txt
	touch $@

ops-tools: $(HELM) $(OPS_VENV)/.installed ## Install what the ops tests use, when missing
	@missing=$$(for p in $(OPS_DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "install Debian's $$missing: sudo apt-get install $$missing" >&2; exit 1; fi; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; fi

service-binaries: ## Build the service binaries (debug), the web client's static server among them
	cargo build --locked $(foreach s,$(SERVICES),-p cloudcord-$(s))

images: ops-tools web ## One OCI image per service and one for the web client, with buildah, no daemon (IMAGE_PROFILE, IMAGE_REPOSITORY, IMAGE_TAG)
	cargo build --locked --profile $(IMAGE_PROFILE) $(foreach s,$(SERVICES),-p cloudcord-$(s))
	images/build.sh $(IMAGE_BIN_DIR) $(IMAGE_DIR) $(IMAGE_REPOSITORY) $(IMAGE_TAG) $(SERVICES)

ops-test: build ops-tools service-binaries ## The ops tests: chart, Strimzi, monitoring against a live stack, workflows, images
	$(CLOUDCORD) infra up
	$(MAKE) images IMAGE_PROFILE=dev IMAGE_REPOSITORY=localhost/cloudcord
	cd k8s/test && OPS_HELM=$(HELM) OPS_BIN_DIR=$(CARGO_TARGET_DIR)/debug OPS_IMAGES_DIR=$(IMAGE_DIR) \
		PATH=$(OPS_VENV)/bin:$$PATH $(OPS_VENV)/bin/python -m pytest -p no:cacheprovider -q

# Licences, bans and sources (deny.toml); advisories need the RustSec database,
# which is fetched from the network: run `cargo deny check advisories` where it is
# reachable (CI), or point deny.toml's [advisories] db-path at a vendored copy.
deny: ## cargo-deny: licences, bans and sources
	@cargo deny --version 2>/dev/null | grep -q "cargo-deny $(CARGO_DENY_VERSION)" \
		|| cargo install --locked cargo-deny@$(CARGO_DENY_VERSION)
	cargo deny --locked check licenses bans sources
