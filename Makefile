# recfs - plain Makefile.  `make` builds into build/; see README.md.
CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build
PKGS    := fuse3 libxxhash
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Wall -Wextra -Werror \
	-Wshadow -Wno-unused-parameter -g -O2 -MMD -MP -Istore
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)
SAN     ?=
override CFLAGS := $(CFLAGS_BASE) $(PKG_CFLAGS) $(SAN) $(CFLAGS)
LDFLAGS += $(SAN) -pthread

STORE_SRC := $(wildcard store/*.c)
FS_SRC    := $(wildcard fs/*.c)
TEST_SRC  := $(wildcard tests/test_*.c)
STORE_OBJ := $(STORE_SRC:%.c=$(BUILD)/obj/%.o)
FS_OBJ    := $(FS_SRC:%.c=$(BUILD)/obj/%.o)
TESTS     := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
PROGS     := $(BUILD)/recctl $(if $(wildcard fs/main.c),$(BUILD)/recfs)

.PHONY: all deps test check clean install run unmount bench-store
all: deps-ok $(PROGS) $(TESTS)

# Installs missing Debian packages when root, else prints the apt-get line.
deps:
	@sh scripts/deps.sh
deps-ok:
	@sh scripts/deps.sh --quiet
.PHONY: deps-ok

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libstore.a: $(STORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

RECCTL_SRC := tools/recctl.c $(wildcard tools/rc_*.c)
$(BUILD)/recctl: $(RECCTL_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libstore.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench_store: $(BUILD)/obj/tools/bench_store.o $(BUILD)/libstore.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# In-process store figures (store issue's planning numbers).
bench-store: $(BUILD)/bench_store
	@d=$$(mktemp -d /tmp/recfs-bench.XXXXXX); $(BUILD)/bench_store $$d; rm -rf $$d

$(BUILD)/recfs: $(FS_OBJ) $(BUILD)/libstore.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(BUILD)/libstore.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS)

# Every unit and end-to-end test; the last line is "N passed, N failed".
test: all
	@BUILD=$(BUILD) sh tests/run.sh

# The same tests under AddressSanitizer and UndefinedBehaviorSanitizer.
check: deps-ok
	@$(MAKE) --no-print-directory BUILD=build-san \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		CFLAGS="-O1" test

STORE ?= ./data
MNT   ?= ./mnt
# Install what is missing, build, mount STORE on MNT, show what to try.
run: all
	@BUILD=$(BUILD) sh scripts/run.sh "$(STORE)" "$(MNT)"

unmount:
	fusermount3 -u "$(MNT)"

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	if [ -d man ]; then install -d $(DESTDIR)$(PREFIX)/share/man/man1 && \
		install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/; fi
	if [ -f tools/recctl.bash ]; then \
		install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions && \
		install -m 644 tools/recctl.bash \
			$(DESTDIR)$(PREFIX)/share/bash-completion/completions/recctl; fi

clean:
	rm -rf build build-san

-include $(shell find $(BUILD) build-san -name '*.d' 2>/dev/null)
.SECONDARY:
