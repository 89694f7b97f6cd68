# Makefile -- builds chat-fcgi, chat-ws and chatctl, runs the local stack and the tests.
#
#   make                 release build into build/: the C programs only, from
#                        Debian packages, no network (deploy/local/deps.sh)
#   make web-client      the web client's socket.io bundle into web/vendor/
#                        (npm, from web/package-lock.json; needs the network)
#   make dist            release tarball build/dist/chat-VERSION.tar.gz: the
#                        source with the built web client (no npm needed)
#   make deb             Debian package build/deb/chat_VERSION_ARCH.deb, built
#                        from that tarball (debhelper, dpkg-buildpackage -b),
#                        then lintian
#   make run             install missing packages, build, start the local stack
#   make test            sanitizer build, unit tests, end-to-end tests, the
#                        package test (tests/deb/run.sh)
#   make install         PREFIX=/usr/local DESTDIR= (needs web/vendor/: a
#                        release tarball has it, a checkout runs make web-client)
#   make lint            banned functions and clang-format check
#   make bench           quick benchmark set (bench/run.sh), bench-full: all
#   make soak            release build, then the soak test (tests/soak/run.sh,
#                        SOAK_SECONDS of load under faults, default 1500)
#   make docs-check      the docs against the shipped files (tests/docs/check.sh)
#   make fuzz            run the libFuzzer harnesses (FUZZ_SECONDS each)
#   make sql-doc         rewrite sql/ (current SQL definitions) from migrations/
#   make clean
#
# SANITIZE=address,undefined builds with the sanitizers (the tests do so,
# into build/asan).

CC       ?= cc
BUILD    ?= build
SANITIZE ?=
PREFIX   ?= /usr/local
DESTDIR  ?=
OPT      ?= -O2 -g
# The release version: one line in VERSION (make dist, make deb).
VERSION  := $(shell cat VERSION 2>/dev/null)

PKG_CFLAGS := $(shell pkg-config --cflags libpq jansson libjwt 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs libpq jansson libjwt 2>/dev/null)
LWS_LIBS   := $(shell pkg-config --libs libwebsockets 2>/dev/null)
# chat-ws sends a flush's frames through one io_uring submission (ws-bridge/wsring.h).
URING_LIBS := -luring

WARN := -std=c11 -Wall -Wextra -Wpedantic -Wstrict-prototypes -Wmissing-prototypes \
	-Wold-style-definition -Wpointer-arith -Wwrite-strings -Wvla -Wformat-security \
	-Wformat=2 -Wshadow -fno-common -Werror

ifneq ($(SANITIZE),)
SANFLAGS := -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT      := -O1 -g
endif

CPPFLAGS += -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Icommon $(PKG_CFLAGS)
CFLAGS   += $(OPT) $(WARN) $(SANFLAGS) -MMD -MP
LDFLAGS  += $(SANFLAGS)

COMMON_SRC := $(sort $(wildcard common/*.c))
FCGI_SRC   := $(sort $(wildcard fcgi-app/*.c))
WS_SRC     := $(sort $(wildcard ws-bridge/*.c))
CTL_SRC    := $(sort $(wildcard chatctl/*.c))
UNIT_SRC   := $(sort $(wildcard tests/unit/common/test_*.c))
UNIT_WS_SRC   := $(sort $(wildcard tests/unit/ws-bridge/test_*.c))
UNIT_FCGI_SRC := $(sort $(wildcard tests/unit/fcgi-app/test_*.c))
UNIT_CTL_SRC  := $(sort $(wildcard tests/unit/chatctl/test_*.c))
UNIT_BENCH_SRC := $(sort $(wildcard tests/unit/bench/test_*.c))

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)

# The release (VERSION) and the schema this build needs (the newest
# migrations/NNNN_*.sql), compiled into common/version.c alone.
CHAT_VERSION := $(shell cat VERSION 2>/dev/null)
CHAT_SCHEMA  := $(lastword $(sort $(patsubst migrations/%,%,$(wildcard migrations/[0-9][0-9][0-9][0-9]_*.sql))))
CHAT_SCHEMA  := $(firstword $(subst _, ,$(CHAT_SCHEMA)))
FCGI_OBJ   := $(FCGI_SRC:%.c=$(BUILD)/obj/%.o)
WS_OBJ     := $(WS_SRC:%.c=$(BUILD)/obj/%.o)
CTL_OBJ    := $(CTL_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/common/%.c=$(BUILD)/tests/%) \
	$(UNIT_WS_SRC:tests/unit/ws-bridge/%.c=$(BUILD)/tests/ws/%) \
	$(UNIT_FCGI_SRC:tests/unit/fcgi-app/%.c=$(BUILD)/tests/fcgi/%) \
	$(UNIT_CTL_SRC:tests/unit/chatctl/%.c=$(BUILD)/tests/chatctl/%) \
	$(UNIT_BENCH_SRC:tests/unit/bench/%.c=$(BUILD)/tests/bench/%)
# The bridge's and the pool's modules the unit tests link (no main).
WS_LIB_OBJ   := $(filter-out $(BUILD)/obj/ws-bridge/main.o,$(WS_OBJ))
FCGI_LIB_OBJ := $(filter-out $(BUILD)/obj/fcgi-app/main.o,$(FCGI_OBJ))
CTL_LIB_OBJ  := $(filter-out $(BUILD)/obj/chatctl/main.o,$(CTL_OBJ))

COMMON_LIB  := $(BUILD)/libchatcommon.a
COMMON_LIBS := -lsodium -lcrypto -lunistring $(PKG_LIBS)

.PHONY: all run test unit unit-build e2e deps install lint clean web-client soak docs-check \
	sql-doc sql-doc-check dist deb deb-test

# The C programs only: Debian's compiler and libraries, no npm, no network.
all: $(BUILD)/chat-fcgi $(BUILD)/chat-ws $(BUILD)/chatctl

# The web client's socket.io bundle: npm ci from web/package-lock.json,
# copied into web/vendor/ (git-ignored). Built once, on a machine with npm,
# into the release artefacts (make dist, make deb); a server never runs it.
web-client:
	web/build.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/common/version.o: CPPFLAGS += -DCHAT_VERSION='"$(CHAT_VERSION)"' \
	-DCHAT_SCHEMA='"$(CHAT_SCHEMA)"'
$(BUILD)/obj/common/version.o: VERSION $(wildcard migrations/[0-9]*.sql)

$(COMMON_LIB): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/chat-fcgi: $(FCGI_OBJ) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $(FCGI_OBJ) $(COMMON_LIB) -lfcgi $(COMMON_LIBS)

$(BUILD)/chat-ws: $(WS_OBJ) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $(WS_OBJ) $(COMMON_LIB) $(LWS_LIBS) $(URING_LIBS) -lev $(COMMON_LIBS)

# The administration tool (docs/operations.md): libpq and the common library only.
$(BUILD)/chatctl: $(CTL_OBJ) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $(CTL_OBJ) $(COMMON_LIB) $(COMMON_LIBS)

$(BUILD)/tests/%: tests/unit/common/%.c $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(COMMON_LIB) -lcmocka $(COMMON_LIBS)

$(BUILD)/tests/ws/%: tests/unit/ws-bridge/%.c $(WS_LIB_OBJ) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Iws-bridge $(CFLAGS) -o $@ $< $(WS_LIB_OBJ) $(COMMON_LIB) -lcmocka \
		$(LWS_LIBS) $(URING_LIBS) $(COMMON_LIBS)

$(BUILD)/tests/fcgi/%: tests/unit/fcgi-app/%.c $(FCGI_LIB_OBJ) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ifcgi-app $(CFLAGS) -o $@ $< $(FCGI_LIB_OBJ) $(COMMON_LIB) -lcmocka \
		-lfcgi $(COMMON_LIBS)

$(BUILD)/tests/chatctl/%: tests/unit/chatctl/%.c $(CTL_LIB_OBJ) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ichatctl $(CFLAGS) -o $@ $< $(CTL_LIB_OBJ) $(COMMON_LIB) -lcmocka \
		$(COMMON_LIBS)

# chat-bench's framing and host probe (bench/wsframe.c, hostprobe.c: no other dependency).
UNIT_BENCH_OBJ := $(BUILD)/obj/bench/wsframe.o $(BUILD)/obj/bench/hostprobe.o
$(BUILD)/tests/bench/%: tests/unit/bench/%.c $(UNIT_BENCH_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ibench $(CFLAGS) -o $@ $< $(UNIT_BENCH_OBJ) -lcmocka

deps:
	deploy/local/deps.sh

run: deps
	$(MAKE) all web-client
	deploy/local/stack.sh run

unit-build: $(UNIT_BIN)

# Runs every unit test binary, then fails if any failed.
unit: unit-build
	@fail=0; for t in $(UNIT_BIN); do echo "== $$t"; $$t || fail=1; done; exit $$fail

# The whole suite: sanitizer build, unit tests, then the real stack.
test: deps
	$(MAKE) lint
	$(MAKE) BUILD=build/asan SANITIZE=address,undefined all web-client unit chat-bench
	$(MAKE) fuzz-replay
	tests/docs/check.sh
	tests/e2e/run.sh build/asan
	tests/browser/run.sh build/asan
	tests/deb/run.sh

# Not part of test: about SOAK_SECONDS (default 1500) plus a few minutes.
soak: deps
	$(MAKE) all
	tests/soak/run.sh $(BUILD)

docs-check:
	tests/docs/check.sh

# Deployment files go to share/chat/deploy/ only, never to /etc: the
# sysadmin copies them into place (docs/deploy.md); the Debian package
# moves them (debian/rules). web/. is copied into the directory, so a
# second install replaces files instead of nesting web/. The units and the
# nginx site name the programs and the web client under /usr (the
# package's paths): their copies here name them under PREFIX instead.
# The web client's bundle is not built here (no npm on a server): a release
# tarball (make dist) has it, a checkout gets it from make web-client.
SHAREDIR = $(DESTDIR)$(PREFIX)/share/chat
UNITS    = $(wildcard deploy/systemd/*.service deploy/systemd/*.socket deploy/systemd/*.target)
PREFIX_SED = sed -E -e 's,/usr(/local)?/bin/(chat-fcgi|chat-ws|chatctl)\>,$(PREFIX)/bin/\2,g' \
	-e 's,/usr(/local)?/share/chat/,$(PREFIX)/share/chat/,g'
install: all
	@[ -f web/vendor/socket.io.esm.min.js ] || { echo "make install: web/vendor/ is missing:" \
		"run make web-client first (needs npm), or install from a release tarball (make dist)" >&2; exit 1; }
	install -d $(DESTDIR)$(PREFIX)/bin $(SHAREDIR)/migrations $(SHAREDIR)/web \
		$(SHAREDIR)/deploy/systemd $(SHAREDIR)/deploy/nginx
	install -m 0755 $(BUILD)/chat-fcgi $(DESTDIR)$(PREFIX)/bin/chat-fcgi
	install -m 0755 $(BUILD)/chat-ws $(DESTDIR)$(PREFIX)/bin/chat-ws
	install -m 0755 $(BUILD)/chatctl $(DESTDIR)$(PREFIX)/bin/chatctl
	install -m 0644 migrations/*.sql $(SHAREDIR)/migrations/
	install -m 0755 deploy/migrate.sh $(SHAREDIR)/deploy/migrate.sh
	for f in $(UNITS); do \
		$(PREFIX_SED) "$$f" >"$(SHAREDIR)/deploy/systemd/$${f##*/}" && \
		chmod 0644 "$(SHAREDIR)/deploy/systemd/$${f##*/}" || exit 1; \
	done
	$(PREFIX_SED) deploy/nginx/chat.conf >$(SHAREDIR)/deploy/nginx/chat.conf
	chmod 0644 $(SHAREDIR)/deploy/nginx/chat.conf
	install -m 0644 deploy/chat.env.example $(SHAREDIR)/deploy/chat.env.example
	install -d $(SHAREDIR)/web/js $(SHAREDIR)/web/vendor
	install -m 0644 web/index.html web/app.css web/favicon.svg $(SHAREDIR)/web/
	install -m 0644 web/js/*.js $(SHAREDIR)/web/js/
	install -m 0644 web/vendor/* $(SHAREDIR)/web/vendor/
	install -d $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0644 docs/man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/

# sql/: one readable file per family of SQL functions plus sql/schema.sql,
# generated from migrations/ applied to a throw-away cluster. The
# end-to-end test t40-schema-doc fails when they disagree with the migrated
# database; sql-doc-check compares without the stack.
sql-doc:
	sql/generate.sh

sql-doc-check:
	sql/generate.sh --check

BANNED := sprintf|strcpy|strcat|strncpy|strtok|atoi|gets
# Every C file of the tree: the banned functions (curl's checksrc list),
# then the committed .clang-format (clang-format --dry-run --Werror).
LINT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null || \
	find common fcgi-app ws-bridge chatctl bench tests -name '*.[ch]')
lint:
	@if grep -nE '\b($(BANNED))\s*\(' $(LINT_SRC) | grep -v 'snprintf\|vsnprintf'; then \
		echo "lint: banned function used"; exit 1; fi
	@clang-format --dry-run --Werror $(LINT_SRC)
	@echo "lint: ok ($(words $(LINT_SRC)) files)"

# A release tree (make dist: no .git) keeps web/vendor/: it has no npm
# lock install to build it again from.
clean:
	rm -rf build
	[ ! -e .git ] || rm -rf web/vendor

-include $(COMMON_OBJ:.o=.d) $(FCGI_OBJ:.o=.d) $(WS_OBJ:.o=.d) $(CTL_OBJ:.o=.d)

# libFuzzer harnesses (clang): make fuzz runs each for FUZZ_SECONDS; make
# test replays the committed seed corpus (fuzz-replay).
include tests/fuzz/fuzz.mk

# chat-bench, the Socket.IO load generator, and the benchmark sets.
include bench/bench.mk

# The release artefacts: make dist (tarball), make deb (Debian package).
include deploy/release.mk
