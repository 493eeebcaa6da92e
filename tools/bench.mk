# Benchmarks (issue 8): make bench [QUICK=1] [HALT_POLL_NS=N]
# build/bench runs the workloads; build/floorfs is the zero-work floor;
# build/passthrough_ll/passthrough_ll is libfuse's example, built from its source.
# scripts/bench/run.sh installs what is missing, mounts every target,
# runs build/bench and always unmounts (trap).  See docs/PERFORMANCE.md.
QUICK ?=
HALT_POLL_NS ?=
BENCH_CFLAGS := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Wall -Wextra \
	-Werror -Wshadow -g -O2 $(SAN)
PT_SRC := /usr/share/doc/libfuse3-dev/examples

BENCH_SRC := tools/bench.c tools/bench_fs.c tools/bench_conc.c \
	tools/bench_report.c tools/bench_reopen.c tools/bench_requests.c

$(BUILD)/bench: $(BENCH_SRC) tools/bench.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $(BENCH_SRC) -pthread -lsqlite3

$(BUILD)/floorfs: tools/floorfs.c fs/uring.c fs/uring.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(shell pkg-config --cflags fuse3) -Ifs -o $@ \
		tools/floorfs.c fs/uring.c \
		-pthread $(shell pkg-config --libs fuse3)

# Writes the 1,000,000-record store of workload 11 through store/store.h.
$(BUILD)/mkstore: tools/mkstore.c store/store.h $(BUILD)/libstore.a
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -Istore -o $@ $< $(BUILD)/libstore.a -pthread \
		$(PKG_LIBS)

# libfuse's own example, unchanged (its warnings are not ours).
$(BUILD)/passthrough_ll/passthrough_ll: $(PT_SRC)/passthrough_ll.c
	@mkdir -p $(dir $@)
	cp $(PT_SRC)/passthrough_ll.c $(PT_SRC)/passthrough_helpers.h $(dir $@)
	$(CC) -O2 -g -o $@ $(dir $@)passthrough_ll.c \
		$(shell pkg-config --cflags --libs fuse3)

bench-deps:
	@sh scripts/bench/deps.sh

bench: deps-ok bench-deps
	@$(MAKE) --no-print-directory $(BUILD)/recfs $(BUILD)/bench \
		$(BUILD)/floorfs $(BUILD)/passthrough_ll/passthrough_ll \
		$(BUILD)/mkstore
	@BUILD=$(BUILD) QUICK=$(QUICK) HALT_POLL_NS=$(HALT_POLL_NS) sh scripts/bench/run.sh

.PHONY: bench bench-deps
