# bench/bench.mk -- chat-bench (the Socket.IO load generator) and the benchmark targets.
#
# Included at the end of the Makefile (it uses BUILD, CC, CPPFLAGS, CFLAGS,
# LDFLAGS and the $(BUILD)/obj/%.o pattern rule defined there):
#
#   make chat-bench      build $(BUILD)/chat-bench
#   make pwhash-bench    build $(BUILD)/pwhash-bench and run it: milliseconds
#                        per Argon2id hash for candidate costs (docs/security.md)
#   make floor-fanout    build $(BUILD)/floor-fanout and run it: the bare CPU per
#                        delivery of one frame written to 200 loopback sockets,
#                        send() against io_uring (FLOOR_ARGS; bench/README.md)
#   make bench           quick benchmark set (< 5 min), bench/run.sh
#   make bench-full      everything, bench/run.sh --full
#   make bench-read      read state and search at size, bench/run.sh --read
#   make bench-session   GET /api/rooms: syscalls and CPU per request per
#                        process, logout propagation (bench/session-cost.sh)
#   make compare         side by side with the reference peers, bench/compare
#                        (COMPARE_ARGS=--quick for the short run)
#   make bench-storm     connects/s and CPU per connect, CPU per idle heartbeat,
#                        bench/storm.sh (stack on BENCH_PORT + 5)
#   make bench-floor     the floors under those: CPU per loopback TCP round trip,
#                        per WebSocket round trip and upgrade through nginx to a
#                        trivial upstream (bench/floor/floor.sh, BENCH_PORT + 7, + 8)
#   make floor-hiccup    build $(BUILD)/hiccup and run it: how long and how often
#                        the CPUs stop running a busy process (HICCUP_SECONDS, 30)
#
# The benchmark targets build the release binaries themselves (make all
# chat-bench into build/) and run their own stack: var/bench on port 18380,
# var/compare/stack on port 18480 for compare.
ifndef BENCH_MK_INCLUDED
BENCH_MK_INCLUDED := 1

BENCH_SRC    := $(sort $(wildcard bench/*.c))
BENCH_OBJ    := $(BENCH_SRC:%.c=$(BUILD)/obj/%.o)
BENCH_CFLAGS := $(shell pkg-config --cflags libcurl jansson 2>/dev/null)
BENCH_LIBS   := $(shell pkg-config --libs libcurl jansson 2>/dev/null)

.PHONY: chat-bench bench bench-full bench-read bench-session bench-storm bench-floor compare \
	pwhash-bench net-floor floor-fanout floor-hiccup

chat-bench: $(BUILD)/chat-bench

$(BENCH_OBJ): CPPFLAGS += $(BENCH_CFLAGS)

$(BUILD)/chat-bench: $(BENCH_OBJ)
	$(CC) $(LDFLAGS) -o $@ $(BENCH_OBJ) $(BENCH_LIBS)

$(BUILD)/pwhash-bench: bench/pwhash/pwhash-bench.c $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(COMMON_LIB) $(COMMON_LIBS)

$(BUILD)/floor-fanout: bench/floor/floor-fanout.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< -luring

floor-fanout: $(BUILD)/floor-fanout
	$(BUILD)/floor-fanout $(FLOOR_ARGS)

floor-hiccup: $(BUILD)/hiccup
	$(BUILD)/hiccup $(HICCUP_SECONDS)

$(BUILD)/hiccup: bench/floor/hiccup.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

net-floor: $(BUILD)/net-floor

$(BUILD)/net-floor: bench/floor/net-floor.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

pwhash-bench: $(BUILD)/pwhash-bench
	$(BUILD)/pwhash-bench $(PWHASH_BENCH_ARGS)

bench:
	bench/run.sh

bench-full:
	bench/run.sh --full

bench-read:
	bench/run.sh --read

bench-session: all chat-bench
	bench/session-cost.sh

compare:
	bench/compare $(COMPARE_ARGS)

bench-storm:
	bench/storm.sh

bench-floor:
	bench/floor/floor.sh

-include $(BENCH_OBJ:.o=.d)
endif
