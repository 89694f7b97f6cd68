# tests/fuzz/fuzz.mk -- libFuzzer harnesses for every parser that reads bytes from outside.
#
# Included from the Makefile, or run alone from the top of the tree:
#   make -f tests/fuzz/fuzz.mk fuzz-build     builds build/fuzz/fuzz_<name> with clang
#   make -f tests/fuzz/fuzz.mk fuzz           fuzzes each for FUZZ_SECONDS (60), -j2 runs two at once
#   make -f tests/fuzz/fuzz.mk fuzz-replay    runs each over its committed seeds only (for make test)
#   make -f tests/fuzz/fuzz.mk fuzz-merge     minimizes build/fuzz/corpus-<name> into build/fuzz/min-<name>
#   make -f tests/fuzz/fuzz.mk fuzz-cov       line coverage of the project code by each corpus
# fuzz-sio, fuzz-replay-qs, ... do one harness. FUZZ_FLAGS adds libFuzzer options.
#
# The project's sources are compiled again here, with clang, coverage
# instrumentation and the sanitizers, into build/fuzz/obj; nothing is shared
# with the gcc objects of build/ and build/asan/. Every name is prefixed with
# FUZZ_ so as not to touch the variables of the Makefile that includes this.

FUZZ_SAVED_GOAL := $(.DEFAULT_GOAL)

FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   ?=
FUZZ_NAMES   := sio json_payloads qs utf8 auth

# The project's warning set (the Makefile's WARN when included); a flag
# clang does not know is dropped rather than failing the build.
FUZZ_WARN_DEFAULT := -std=c11 -Wall -Wextra -Wpedantic -Wstrict-prototypes \
	-Wmissing-prototypes -Wold-style-definition -Wpointer-arith -Wwrite-strings -Wvla \
	-Wformat-security -Wformat=2 -Wshadow -fno-common -Werror
FUZZ_WARN = $(or $(WARN),$(FUZZ_WARN_DEFAULT)) -Wno-unknown-warning-option

FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CPPFLAGS := -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Icommon -Iws-bridge -Ifcgi-app \
	$(shell pkg-config --cflags jansson libwebsockets libpq 2>/dev/null)
FUZZ_INSTR    := -fsanitize=fuzzer-no-link
FUZZ_CFLAGS    = -O1 -g $(FUZZ_WARN) $(FUZZ_SAN) $(FUZZ_INSTR) -MMD -MP
FUZZ_LDFLAGS  := $(FUZZ_SAN) -fsanitize=fuzzer
FUZZ_LIBS     := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson) -lpq -lunistring -lsodium -lcrypto -ljwt

# Line coverage build (fuzz-cov): same sources, no sanitizers.
FUZZ_COV_BUILD  := $(FUZZ_BUILD)/cov
FUZZ_COV_CFLAGS  = -O0 -g $(FUZZ_WARN) -fprofile-instr-generate -fcoverage-mapping $(FUZZ_INSTR)
FUZZ_COV_LDFLAGS := -fprofile-instr-generate -fsanitize=fuzzer
FUZZ_PROFDATA ?= llvm-profdata
FUZZ_LLVM_COV ?= llvm-cov

FUZZ_COMMON_SRC := $(sort $(wildcard common/*.c))
FUZZ_SIO_SRC    := ws-bridge/sio.c ws-bridge/frame.c
FUZZ_FCGI_SRC   := fcgi-app/route.c fcgi-app/http.c fcgi-app/fcgiout.c

# What each harness links besides common/, its extra libraries, its input size.
FUZZ_SRC_sio           := $(FUZZ_SIO_SRC)
FUZZ_SRC_json_payloads := $(FUZZ_SIO_SRC)
FUZZ_SRC_qs            :=
FUZZ_SRC_utf8          :=
FUZZ_SRC_auth          := $(FUZZ_FCGI_SRC)
FUZZ_LIBS_auth         := -lfcgi
# The files each harness is about, for fuzz-cov's report.
FUZZ_COVER_sio           := ws-bridge/sio.c ws-bridge/frame.c
FUZZ_COVER_json_payloads := common/valid.c common/utf8.c common/envelope.c common/err.c \
	common/tok.c ws-bridge/sio.c
FUZZ_COVER_qs            := common/qs.c common/valid.c common/cfg.c
FUZZ_COVER_utf8          := common/utf8.c common/valid.c common/envelope.c common/err.c
FUZZ_COVER_auth          := common/tok.c fcgi-app/route.c fcgi-app/http.c
FUZZ_MAXLEN_sio           := 4096
FUZZ_MAXLEN_json_payloads := 16384
FUZZ_MAXLEN_qs            := 1024
FUZZ_MAXLEN_utf8          := 4096
FUZZ_MAXLEN_auth          := 512

FUZZ_BIN     := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_ALL_SRC := $(FUZZ_COMMON_SRC) $(FUZZ_SIO_SRC) $(FUZZ_FCGI_SRC) \
	$(FUZZ_NAMES:%=tests/fuzz/fuzz_%.c)
FUZZ_OBJ     := $(FUZZ_ALL_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_COV_OBJ := $(FUZZ_ALL_SRC:%.c=$(FUZZ_COV_BUILD)/obj/%.o)

.PHONY: fuzz-build fuzz fuzz-replay fuzz-merge fuzz-cov fuzz-clean \
	$(FUZZ_NAMES:%=fuzz-%) $(FUZZ_NAMES:%=fuzz-replay-%) $(FUZZ_NAMES:%=fuzz-merge-%) \
	$(FUZZ_NAMES:%=fuzz-cov-%)

fuzz-build: $(FUZZ_BIN)

$(FUZZ_OBJ): $(FUZZ_BUILD)/obj/%.o: %.c tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_COV_OBJ): $(FUZZ_COV_BUILD)/obj/%.o: %.c tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_COV_CFLAGS) -c -o $@ $<

# Only the project's code guides the fuzzer: the harnesses' own checks are
# not instrumented, so an input that only takes another branch of a
# reference decoder is not kept as new.
$(FUZZ_NAMES:%=$(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o) \
$(FUZZ_NAMES:%=$(FUZZ_COV_BUILD)/obj/tests/fuzz/fuzz_%.o): FUZZ_INSTR :=

# $(1) is the harness name.
define FUZZ_HARNESS
$(FUZZ_BUILD)/fuzz_$(1): $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_$(1).o \
		$(FUZZ_SRC_$(1):%.c=$(FUZZ_BUILD)/obj/%.o) $(FUZZ_COMMON_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $$@ $$^ $(FUZZ_LIBS_$(1)) $(FUZZ_LIBS)

$(FUZZ_COV_BUILD)/fuzz_$(1): $(FUZZ_COV_BUILD)/obj/tests/fuzz/fuzz_$(1).o \
		$(FUZZ_SRC_$(1):%.c=$(FUZZ_COV_BUILD)/obj/%.o) \
		$(FUZZ_COMMON_SRC:%.c=$(FUZZ_COV_BUILD)/obj/%.o)
	$(FUZZ_CC) $(FUZZ_COV_LDFLAGS) -o $$@ $$^ $(FUZZ_LIBS_$(1)) $(FUZZ_LIBS)

# Fuzzes; new inputs go to build/fuzz/corpus-$(1), crashes to artifacts-$(1)/.
fuzz-$(1): $(FUZZ_BUILD)/fuzz_$(1)
	@mkdir -p $(FUZZ_BUILD)/corpus-$(1) $(FUZZ_BUILD)/artifacts-$(1)
	@echo "fuzz_$(1): $(FUZZ_SECONDS)s, log in $(FUZZ_BUILD)/fuzz_$(1).log"
	@$(FUZZ_BUILD)/fuzz_$(1) -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAXLEN_$(1)) \
		-timeout=10 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts-$(1)/ \
		-dict=tests/fuzz/dict/$(1).dict $(FUZZ_FLAGS) \
		$(FUZZ_BUILD)/corpus-$(1) tests/fuzz/corpus/$(1) >$(FUZZ_BUILD)/fuzz_$(1).log 2>&1 \
		|| { tail -n 60 $(FUZZ_BUILD)/fuzz_$(1).log; \
		     echo "fuzz_$(1): FAILED, reproducer in $(FUZZ_BUILD)/artifacts-$(1)/"; exit 1; }
	@grep -E '^#[0-9]+[[:space:]]+DONE|stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' \
		$(FUZZ_BUILD)/fuzz_$(1).log | sed 's/^/fuzz_$(1): /'

# Runs the committed seeds (and crash reproducers) once each; fails on any finding.
fuzz-replay-$(1): $(FUZZ_BUILD)/fuzz_$(1)
	@mkdir -p $(FUZZ_BUILD)/artifacts-$(1)
	@$(FUZZ_BUILD)/fuzz_$(1) -runs=0 -artifact_prefix=$(FUZZ_BUILD)/artifacts-$(1)/ \
		tests/fuzz/corpus/$(1) >$(FUZZ_BUILD)/replay_$(1).log 2>&1 \
		|| { cat $(FUZZ_BUILD)/replay_$(1).log; echo "fuzz_$(1): replay FAILED"; exit 1; }
	@echo "fuzz_$(1): replayed $$$$(ls tests/fuzz/corpus/$(1) | wc -l) inputs"

# Keeps the inputs that add coverage, from the committed seeds and the run corpus.
fuzz-merge-$(1): $(FUZZ_BUILD)/fuzz_$(1)
	@rm -rf $(FUZZ_BUILD)/min-$(1) && mkdir -p $(FUZZ_BUILD)/min-$(1) $(FUZZ_BUILD)/corpus-$(1)
	@$(FUZZ_BUILD)/fuzz_$(1) -merge=1 -max_len=$(FUZZ_MAXLEN_$(1)) $(FUZZ_BUILD)/min-$(1) \
		tests/fuzz/corpus/$(1) $(FUZZ_BUILD)/corpus-$(1) >$(FUZZ_BUILD)/merge_$(1).log 2>&1 \
		|| { tail -n 30 $(FUZZ_BUILD)/merge_$(1).log; exit 1; }
	@echo "fuzz_$(1): $$$$(ls $(FUZZ_BUILD)/min-$(1) | wc -l) inputs in $(FUZZ_BUILD)/min-$(1)"

# Line coverage of the project's files by the committed seeds and the run corpus.
fuzz-cov-$(1): $(FUZZ_COV_BUILD)/fuzz_$(1)
	@mkdir -p $(FUZZ_BUILD)/corpus-$(1)
	@LLVM_PROFILE_FILE=$(FUZZ_COV_BUILD)/$(1).profraw $(FUZZ_COV_BUILD)/fuzz_$(1) -runs=0 \
		tests/fuzz/corpus/$(1) $(FUZZ_BUILD)/corpus-$(1) >$(FUZZ_COV_BUILD)/$(1).log 2>&1 \
		|| { tail -n 30 $(FUZZ_COV_BUILD)/$(1).log; exit 1; }
	@$(FUZZ_PROFDATA) merge -sparse -o $(FUZZ_COV_BUILD)/$(1).profdata \
		$(FUZZ_COV_BUILD)/$(1).profraw
	@echo "== fuzz_$(1)"
	@$(FUZZ_LLVM_COV) report $(FUZZ_COV_BUILD)/fuzz_$(1) \
		-instr-profile=$(FUZZ_COV_BUILD)/$(1).profdata \
		$(FUZZ_COVER_$(1))
endef

$(foreach n,$(FUZZ_NAMES),$(eval $(call FUZZ_HARNESS,$(n))))

fuzz: $(FUZZ_NAMES:%=fuzz-%)
fuzz-replay: $(FUZZ_NAMES:%=fuzz-replay-%)
fuzz-merge: $(FUZZ_NAMES:%=fuzz-merge-%)
fuzz-cov: $(FUZZ_NAMES:%=fuzz-cov-%)

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

-include $(FUZZ_OBJ:.o=.d) $(FUZZ_COV_OBJ:.o=.d)

# Included from the Makefile, do not take its default goal.
ifneq ($(filter-out tests/fuzz/fuzz.mk %.d,$(MAKEFILE_LIST)),)
.DEFAULT_GOAL := $(FUZZ_SAVED_GOAL)
endif
