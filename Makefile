# keystorm: chaos and load testing for HSM-backed key stores.
#
#   make run    the main job: the flagship scenario on the embedded stack, with reports
#   make test   vet, then every test with the race detector (what CI runs)
#   make bench  raw PKCS#11 against the session pool, and against full-stack KMS Encrypt

GO         ?= go
BENCHTIME  ?= 2s
# The flagship scenario: bursty load, HSMs deleted under it, the documented
# recovery, budgets and integrity checked (about a minute).
SCENARIO   ?= scenarios/hsm-deleted-under-load.yaml
RUN_ARGS   ?= --out keystorm-out
CAPACITY_ARGS ?= --rate 2000 --burst-rate 1500 --period 2s --duration 10s
# Debian packages the code needs: SoftHSM (the HSM tokens), the PKCS#11
# headers and pkg-config for the one cgo helper, a C compiler for cgo; and
# the aws CLI (Debian's awscli, unless one is on the PATH already), which the
# tests use as a real client of the stack.
DEB_PACKAGES := softhsm2 libp11-kit-dev pkg-config gcc debootstrap
# What only the tests need: a real browser that opens the HTML report
# (Debian's chromium, headless), with the fonts the charts name.
TEST_DEB_PACKAGES := chromium fonts-liberation
# Where the tests keep what they make for a person to look at (the
# browser's screenshots of the report): go test -artifacts.
TEST_ARTIFACTS ?= test-artifacts
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export CGO_ENABLED := 1

.PHONY: deps test-deps build run capacity test vet bench

## deps: install the Debian packages that are missing, and the Go modules.
## test-deps: the same, with what only the tests need (chromium).
deps: PACKAGES = $(DEB_PACKAGES)
test-deps: PACKAGES = $(DEB_PACKAGES) $(TEST_DEB_PACKAGES)
deps test-deps:
	@command -v dpkg >/dev/null || { echo "deps: not a Debian system; install: $(PACKAGES)" >&2; exit 1; }
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v aws >/dev/null 2>&1 || missing="$$missing awscli"; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@$(GO) mod download

## build: the keystorm binary in bin/.
build: deps
	$(GO) build -o bin/keystorm ./cmd/keystorm

## run: the flagship scenario on the embedded stack; reports in keystorm-out/.
run: deps
	$(GO) run ./cmd/keystorm run $(RUN_ARGS) $(SCENARIO)

## capacity: an HSM capacity run, bursty encrypt/decrypt through the PKCS#11
## session pool into two SoftHSM tokens, with a report.
capacity: deps
	$(GO) run ./cmd/keystorm capacity $(CAPACITY_ARGS)

## vet: go vet and gofmt.
vet: deps
	$(GO) vet ./...
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi

## test: vet; every package's tests with the race detector; then the
## resilience gate: the whole scenario library on the embedded stack (two
## scenarios at a time, without the race detector, whose slowdown would
## make the load generator miss its schedule).
test: vet test-deps
	@mkdir -p $(TEST_ARTIFACTS)
	$(GO) test -race -count=1 -artifacts -outputdir $(TEST_ARTIFACTS) $$($(GO) list ./... | grep -v '/scenarios$$')
	$(GO) test -count=1 -timeout 50m ./scenarios/

## bench: raw C_Encrypt/C_Decrypt against the same work through the pool;
## raw C_Encrypt against a SigV4-signed KMS Encrypt through the whole stack;
## and the harness at a constant 2,000 requests/s for 30 s against a
## separate `keystorm serve` (achieved rate, and the harness's memory).
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) ./fakes/sessionpool/ ./fakes/kmsapi/
	$(GO) test -run '^$$' -bench HarnessConstant2000 -benchtime 1x ./cmd/keystorm/
