# tend — build, run, test and package. `make help` lists the targets.

GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOARCH  ?= $(shell $(GO) env GOARCH)
# A build for another architecture goes to bin/linux_GOARCH/, never over
# this machine's bin/tend (which make run, bench and the tests use).
HOSTARCH := $(shell $(GO) env GOHOSTARCH)
BIN      := bin$(if $(filter-out $(HOSTARCH),$(GOARCH)),/linux_$(GOARCH))

# Static binaries: no cgo, pure-Go DNS and user lookups. The armv7 build
# leaves Go's runtime profiles out (cmd/tend/noprofile.go): its flash is
# small, and the binary must stay under 12 MB (cmd/tend/size_test.go).
# It is also built without inlining in code that runs seldom (ARM_COLD: the
# CLI and the agent's wiring in cmd/tend, the importer of systemd units,
# unit files' TOML and the CLI's output, DNS lookups of join names,
# memberlist's rounds and its codec, templates parsed at start, the TLS
# handshakes of https probes and the certificates they parse, cron
# schedules), which saves ~700 KB; the supervisor, probes, the store,
# gossip's encryption and tend's cluster code keep theirs.
# cmd/tend/size_test.go reads the list from here.
comma      := ,
BUILD_TAGS := netgo,osusergo$(if $(filter arm,$(GOARCH)),$(comma)noprofile)
ARM_COLD   := github.com/tendhq/tend/cmd/tend github.com/tendhq/tend/units/sdimport \
	github.com/tendhq/tend/internal/jsonpath github.com/tendhq/tend/supervisor/objects \
	github.com/BurntSushi/toml/... github.com/coreos/go-systemd/v22/... github.com/robfig/cron/v3 \
	github.com/miekg/dns/... github.com/hashicorp/memberlist github.com/hashicorp/go-msgpack/... \
	github.com/hashicorp/go-sockaddr/... github.com/hashicorp/go-metrics github.com/sean-/seed \
	golang.org/x/net/... vendor/golang.org/x/net/idna vendor/golang.org/x/text/... \
	html/template text/template/... net/rpc math/big encoding/asn1 crypto/x509 crypto/x509/pkix \
	crypto/tls crypto/ecdsa crypto/rsa crypto/dsa crypto/ed25519 vendor/golang.org/x/crypto/cryptobyte
GCFLAGS    := $(if $(filter arm,$(GOARCH)),$(foreach p,$(ARM_COLD),-gcflags=$(p)=-l))
LDFLAGS    := -s -w -X main.version=$(VERSION)
GOBUILD     = CGO_ENABLED=0 GOARCH=$(GOARCH) $(GO) build -trimpath -tags $(BUILD_TAGS) $(GCFLAGS) -ldflags "$(LDFLAGS)"

# `make run` keeps the agent out of the source tree: `tend agent --dev` reads
# ./units and keeps its state in ./.tend, and ./units here is the Go package.
DEV_DIR    := $(CURDIR)/.tend/dev
DEV_SOCKET := $(DEV_DIR)/.tend/tend.sock
DEV_UNITS  := examples/kubia.toml examples/ssd-monitor.toml

# `make install`
PREFIX     ?= /usr/local
DESTDIR    ?=
SYSTEMDDIR ?= /etc/systemd/system

# `make package`, `make packages`: nfpm (as a build tool: go run, not a
# dependency of tend) makes the .deb, .rpm and .apk. Versions must rise
# from build to build. Debian's and RPM's: a tag's v1.2.3-4-gabcdef
# becomes 1.2.3+4+gabcdef; a bare commit abcdef (or 1234abc, which dpkg
# would sort as a release 1234) becomes 0.0.0~git<commit time>.abcdef, so
# later commits sort later; a pre-release tag v1.2.3-rc1 sorts before
# v1.2.3: 1.2.3~rc1. Alpine's grammar has no room for a hash: 1.2.3,
# 1.2.3_p4, 1.2.3_rc1, 0.0.0_git<commit time>.
NFPM        := GOARCH=$(HOSTARCH) $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
NFPM_ARCH   := $(if $(filter arm,$(GOARCH)),arm7,$(GOARCH))
PKG_ARCHES  := amd64 arm64 arm
DEB_DATE    := $(shell git log -1 --format=%cd --date=format:%Y%m%d%H%M%S 2>/dev/null || echo 0)
DEB_VERSION := $(shell v='$(patsubst v%,%,$(VERSION))'; case $$v in ([0-9]*.[0-9]*) ;; (dev) v=0.0.0~dev ;; (*) v=0.0.0~git$(DEB_DATE).$$v ;; esac; echo "$$v" | sed -E 's/^([0-9][0-9.]*)-(alpha|beta|rc|pre)/\1~\2/' | tr - +)
APK_VERSION := $(shell v='$(patsubst v%,%,$(VERSION))'; case $$v in ([0-9]*.[0-9]*) echo "$$v" | sed -E 's/^([0-9][0-9.]*)-(alpha|beta|rc|pre)([0-9]*)/\1_\2\3/; s/-([0-9]+)-g[0-9a-f]+/_p\1/; s/-dirty$$//' ;; (*) echo 0.0.0_git$(DEB_DATE) ;; esac)
DEB_ARCH    := $(shell case '$(GOARCH)' in (386) echo i386 ;; (arm) echo armhf ;; (ppc64le) echo ppc64el ;; (*) echo '$(GOARCH)' ;; esac)
DEB_FILE    := dist/tend_$(DEB_VERSION)-1_$(DEB_ARCH).deb
CHANGELOG_DATE := $(shell git log -1 --format=%cD 2>/dev/null || date -R)
CHANGELOG_FROM := $(shell git log -1 --format=%h 2>/dev/null || echo 'an unknown commit')

# Lists the Go files gofmt would change (testdata and dev state excluded)
# and fails if there are any.
define gofmt_check
	@files=$$(find . -name '*.go' -not -path './.tend/*' -not -path './dist/*' -not -path '*/testdata/*' -print | xargs -r gofmt -l); \
	if [ -n "$$files" ]; then echo "gofmt -w needed on:"; echo "$$files" | sed 's/^/  /'; exit 1; fi
endef

.DEFAULT_GOAL := build
.PHONY: help build run test bench bench-smoke lint fuzz clean deb deb-version apk-version deb-check install man completions pkg-docs package packages

help: ## list the targets
	@echo "usage: make TARGET [VERSION=...] [GOARCH=...]"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | awk -F'\t' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build static bin/tend and bin/kubia (the demo web server); GOARCH=arm64|arm: into bin/linux_GOARCH/
	@mkdir -p $(BIN)
	$(GOBUILD) -o $(BIN)/tend ./cmd/tend
	$(GOBUILD) -o $(BIN)/kubia ./cmd/kubia

run: build ## run an agent in the foreground on this host, with example units, state in .tend/dev
	@mkdir -p $(DEV_DIR)
	@if [ ! -d $(DEV_DIR)/units ]; then \
		mkdir -p $(DEV_DIR)/units; \
		for f in $(DEV_UNITS); do \
			if [ -f $$f ]; then cp $$f $(DEV_DIR)/units/; else echo "warning: $$f is missing; not copied" >&2; fi; \
		done; \
	fi
	@echo
	@echo "tend agent (dev mode): units in $(DEV_DIR)/units, state in $(DEV_DIR)/.tend"
	@echo
	@echo "In another terminal, point the CLI at this agent:"
	@echo
	@echo "  export TEND_SOCKET=$(DEV_SOCKET)"
	@echo "  export PATH=$(CURDIR)/bin:\$$PATH"
	@echo
	@echo "and try:"
	@echo
	@echo "  tend get po"
	@echo "  tend describe rc kubia"
	@echo '  tend label node $$(hostname) disk=ssd'
	@echo
	@echo "Edit or add unit files in $(DEV_DIR)/units; Ctrl-C stops the agent and its instances."
	@echo
	cd $(DEV_DIR) && PATH=$(CURDIR)/bin:$$PATH exec $(CURDIR)/bin/tend agent --dev

test: ## install missing test deps (.ci/deps), then vet, gofmt check, go test -race
	bash ./.ci/deps
	$(GO) vet ./...
	$(gofmt_check)
	$(GO) test -race -count=1 -timeout 13m ./...

bench: build ## Go benchmarks, then tend beside its peers (cmd/tend-bench): bench-results/, docs/benchmarks.md; TEND_BEFORE=OLD also measures an older tend binary
	$(GO) test -run='^$$' -bench=. -benchtime=1x -benchmem -timeout 10m ./...
	$(GOBUILD) -o bin/tend-bench ./cmd/tend-bench
	bin/tend-bench -tend bin/tend $(if $(TEND_BEFORE),-tend-before $(TEND_BEFORE)) -results bench-results -docs docs

bench-smoke: build ## every tend-bench figure at tiny sizes, installed peers only (CI runs it)
	$(GOBUILD) -o bin/tend-bench ./cmd/tend-bench
	bin/tend-bench -smoke -tend bin/tend -results bench-results/smoke

lint: ## go vet, gofmt check, and staticcheck when it is installed
	$(GO) vet ./...
	$(gofmt_check)
	@if command -v staticcheck >/dev/null; then echo staticcheck ./...; staticcheck ./...; \
	else echo "staticcheck not installed; skipped (go install honnef.co/go/tools/cmd/staticcheck@latest)"; fi

fuzz: ## fuzz the unit file parser and the importer of systemd units, 30s each
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=30s ./units
	$(GO) test -run='^$$' -fuzz=FuzzConvert -fuzztime=30s ./units/sdimport
	$(GO) test -run='^$$' -fuzz=FuzzCalendarToCron -fuzztime=30s ./units/sdimport

clean: ## remove bin/ and dist/ (the dev agent's .tend/ is kept; rm -rf .tend to reset it)
	rm -rf bin dist

# The manual pages and completion scripts come from the help texts of a
# tend built for this machine (the one in bin/ may be for another GOARCH).
HOSTTEND = dist/host/tend

# Built once for the make; go build itself knows when it is up to date.
.PHONY: hosttend
hosttend:
	CGO_ENABLED=0 GOARCH=$(HOSTARCH) $(GO) build -trimpath -tags netgo,osusergo -o $(HOSTTEND) ./cmd/tend

man: hosttend ## the manual pages, from the same help texts as --help: dist/man/*.1
	rm -rf dist/man
	$(HOSTTEND) __man dist/man

completions: hosttend ## the bash, zsh and fish completion scripts: dist/completions/
	mkdir -p dist/completions
	$(HOSTTEND) completion bash > dist/completions/tend.bash
	$(HOSTTEND) completion zsh > dist/completions/_tend
	$(HOSTTEND) completion fish > dist/completions/tend.fish

install: build man completions ## install tend, its manual, completions, systemd unit and default config under DESTDIR/PREFIX
	install -D -m 0755 $(BIN)/tend $(DESTDIR)$(PREFIX)/bin/tend
	install -d -m 0755 $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0644 dist/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -D -m 0644 dist/completions/tend.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/tend
	install -D -m 0644 dist/completions/_tend $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_tend
	install -D -m 0644 dist/completions/tend.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/tend.fish
	install -d -m 0755 $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)/etc/tend/units.d
	sed 's|/usr/bin/tend|$(PREFIX)/bin/tend|' packaging/tend.service > $(DESTDIR)$(SYSTEMDDIR)/tend.service
	chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/tend.service
	@if [ -e $(DESTDIR)/etc/tend/tend.toml ]; then echo "kept existing $(DESTDIR)/etc/tend/tend.toml"; \
	else install -m 0644 packaging/tend.toml $(DESTDIR)/etc/tend/tend.toml; fi
	@echo "installed; now: systemctl daemon-reload && systemctl enable --now tend"

# What every package holds besides the binary: the manual pages gzipped,
# the copyright files (Debian's pointing to common-licenses), and the
# native package's changelog.
pkg-docs: man completions
	for f in dist/man/*.1; do gzip -9nc $$f > $$f.gz; done
	GOARCH=$(HOSTARCH) $(GO) run ./packaging/copyright -o dist/copyright -debian dist/copyright.debian
	printf 'tend (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- tend maintainers <maintainers@tendhq.invalid>  %s\n' \
		'$(DEB_VERSION)-1' '$(CHANGELOG_FROM)' '$(CHANGELOG_DATE)' | gzip -9nc > dist/changelog.gz

NFPM_ENV = NFPM_ARCH=$(NFPM_ARCH) NFPM_BIN=$(BIN) NFPM_DESCRIPTION="$$(cat packaging/description)"

package: build pkg-docs ## this GOARCH's .deb, .rpm and .apk into dist/, with nfpm
	$(NFPM_ENV) NFPM_VERSION='$(DEB_VERSION)' $(NFPM) pkg -f packaging/nfpm.yaml -p deb -t dist/
	$(NFPM_ENV) NFPM_VERSION='$(DEB_VERSION)' $(NFPM) pkg -f packaging/nfpm.yaml -p rpm -t dist/
	$(NFPM_ENV) NFPM_VERSION='$(APK_VERSION)' NFPM_DESCRIPTION="$$(head -1 packaging/description)" $(NFPM) pkg -f packaging/nfpm.yaml -p apk -t dist/

packages: ## .deb, .rpm and .apk for amd64, arm64 and armv7 into dist/
	for a in $(PKG_ARCHES); do $(MAKE) --no-print-directory package GOARCH=$$a || exit 1; done

deb: build pkg-docs ## this GOARCH's .deb alone: dist/tend_VERSION-1_ARCH.deb
	$(NFPM_ENV) NFPM_VERSION='$(DEB_VERSION)' $(NFPM) pkg -f packaging/nfpm.yaml -p deb -t dist/

deb-version: ## print the .deb's (and the .rpm's) version
	@echo $(DEB_VERSION)

apk-version: ## print the .apk's version
	@echo $(APK_VERSION)

deb-check: deb ## build the .deb and show its control data and contents
	dpkg-deb --info $(DEB_FILE)
	dpkg-deb --contents $(DEB_FILE)
