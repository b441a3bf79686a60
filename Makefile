# husk — build, test, demo. Everything needs root except build, unit and lint.
#
#   make demo        build husk and run a busybox container (installs what it needs)
#   make test        everything CI runs: lint, unit, integration, conformance, engines, VM lane
#   make build       the static husk binary at ./husk
#   make check       lint + unit + integration only (a few minutes)
#   make bench       husk vs runc vs crun, medians and ratios

GO        ?= go
COMMIT    := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
VERSION   := 0.1.0
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -linkmode external -extldflags '-static'
GO_SRC    := $(shell find . -path ./build -prune -o -path ./tests/conformance -prune -o \( -name '*.go' -o -name '*.c' \) -print)
export GOFLAGS := -buildvcs=false

.PHONY: all build deps demo test check lint unit integration ci clean

all: build

# Debian packages the build and the tests need; installed only when missing.
DEB_DEPS := gcc libseccomp-dev musl-tools gperf curl patch xz-utils busybox-static runc crun jq time iproute2 procps util-linux
deps:
	@missing=""; for p in $(DEB_DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	$(GO) mod download

# husk links against musl (LIBC=glibc for glibc): static glibc's start-up probes the CPU with a
# few dozen cpuid instructions, which trap on virtual machines and cost about 0.3 ms in every
# husk process, the container init included. libseccomp is then built for musl from Debian's
# source of the same version (scripts/musl-libseccomp.sh, cached in build/musl).
LIBC ?= musl
MUSL := build/musl
ifeq ($(LIBC),musl)
LIBC_DEP := $(MUSL)/lib/libseccomp.a
CGO_ENV  := CC=musl-gcc PKG_CONFIG_PATH=$(CURDIR)/$(MUSL)/lib/pkgconfig CGO_CFLAGS="-O2 -isystem $(CURDIR)/$(MUSL)/include-linux"
else ifneq ($(LIBC),glibc)
$(error LIBC must be musl or glibc, not $(LIBC))
endif

build: husk
husk: $(GO_SRC) go.mod go.sum $(LIBC_DEP)
	$(CGO_ENV) CGO_ENABLED=1 $(GO) build -tags osusergo,netgo,urfave_cli_no_docs -trimpath -ldflags "$(LDFLAGS)" -o $@ .

$(MUSL)/lib/libseccomp.a: scripts/musl-libseccomp.sh
	./scripts/musl-libseccomp.sh $(MUSL)

# A busybox bundle under build/demo, run once with husk.
demo: deps build
	./scripts/demo.sh

lint: deps
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Unit tests (root-only ones skip with a reason when not root).
unit: deps
	$(GO) test -count=1 ./libcontainer/... ./spec/... ./bench/... .

# Twice: with the C init where a config has a plan form, then with the Go init forced.
integration: deps build
	$(GO) test -count=1 -timeout 20m ./integration/...
	HUSK_GO_INIT=1 $(GO) test -count=1 -timeout 20m ./integration/...

check: lint unit integration

# The whole suite CI runs (README's test command).
test: check conformance engines-test vm-test
	@echo "make test: all lanes passed"

clean:
	rm -rf husk build

-include tests/conformance/Makefile.inc
-include tests/engines/Makefile.inc
-include tests/vm/Makefile.inc
BENCH_DEPS := build
-include bench/Makefile.inc

# Every lane runs the freshly built binary.
conformance engines-test vm-test: build
