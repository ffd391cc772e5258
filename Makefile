# attestd - one non-recursive Makefile.
#   make            build libattest (static + shared), binaries and tests
#   make demo       enrol a swtpm-backed host against a fresh fleet CA
#   make check      run every test (unit + swtpm integration)
#   make asan       the tests under ASan+UBSan (build-asan/)
#   make bench      benchmarks (report only, never fail)
#   make lint       banned functions, exports, docs, cppcheck, clang-tidy (all in check too)
#   make install    PREFIX, DESTDIR, BINDIR, SBINDIR, LIBDIR... (dist/install.mk)
#   make deps       install missing Debian packages (root) or print the line

BUILD   ?= build
CC      ?= cc
# the release: libattest.so.$(SOMAJOR) is the SONAME, libattest.so.$(VERSION)
# the file; every tool's --version prints it
VERSION := 0.1.0
SOMAJOR := 0
# the configuration files are SYSCONFDIR/attestd/attestd.conf and
# SYSCONFDIR/attest-verifier/verifier.conf (compiled in; /etc whatever PREFIX)
SYSCONFDIR ?= /etc
SAN     ?=
LIB_PKGS := tss2-esys tss2-sys tss2-mu tss2-rc tss2-tctildr libcrypto libssl libcjson libcurl \
	libevent_core libevent_extra libevent_openssl libevent_pthreads
# the verifier's store
SRV_PKGS := sqlite3 libpq
PKGS     := $(LIB_PKGS) $(SRV_PKGS) cunit

DEB_PKGS := build-essential pkg-config libtss2-dev libssl-dev libcjson-dev \
	libcunit1-dev libevent-dev libcurl4-openssl-dev libsqlite3-dev libpq-dev libseccomp-dev \
	swtpm swtpm-tools tpm2-tools openssl curl xxd iproute2 procps python3 cppcheck \
	nginx-light systemd man-db clang-tidy postgresql libnghttp2-dev libprotobuf-c-dev \
	protobuf-c-compiler libprotobuf-dev python3-grpcio python3-grpc-tools protobuf-compiler \
	python3-protobuf clang \
	chromium chromium-driver

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla
# Hardening (scripts/check-hardening.sh, run by make check, inspects the
# built binaries): stack protector and stack-clash probes, CET (IBT and
# shadow-stack markings), PIE, full RELRO with BIND_NOW, no executable
# stack; _FORTIFY_SOURCE=3 (GCC >= 12, glibc >= 2.34) where it can work: it
# needs optimisation, so the -O1 sanitizer build keeps the default.
HARDEN  := -fstack-protector-strong -fstack-clash-protection -fcf-protection=full -fPIE
NOEXEC  := -Wl,-z,relro,-z,now,-z,noexecstack
ifeq ($(SAN),)
OPT     := -O2 -g -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3
else
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread
LIB_LIBS   = $(shell pkg-config --libs $(LIB_PKGS) 2>/dev/null)
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -DATTEST_VERSION='"$(VERSION)"' -DATTEST_SYSCONFDIR='"$(SYSCONFDIR)"' $(WARN) $(HARDEN) $(OPT) -Iinclude -Ilibattest -Icli $(PKG_CFLAGS)
LDFLAGS += -pie $(NOEXEC) $(if $(SAN),-fsanitize=address$(comma)undefined)
comma := ,
# every object depends on the flags it was compiled with: $(BUILD)/flags is
# rewritten when they change (a new hardening flag, SAN), so no object built
# with the old ones survives into a link
FLAGS_NOW := $(CC) $(CFLAGS) $(LDFLAGS)
ifneq ($(file <$(BUILD)/flags),$(FLAGS_NOW))
$(shell mkdir -p $(BUILD))
$(file >$(BUILD)/flags,$(FLAGS_NOW))
endif

LIB_SRC := $(sort $(wildcard libattest/*/*.c))
# libattest's folders, lowest first: a file may include or call only its own
# folder and those before it (scripts/check-cycles.py, run by make check)
LIB_LAYERS := core tpm x509 measure intent decide audit enrol net attestation
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB_A   := $(BUILD)/libattest.a
LIB_SO  := $(BUILD)/libattest.so
# libattest-verify: what a relying party needs (attest_decide, the path rule,
# intent verification, policy) without ESYS, the TCTI loader, libcurl or
# libevent: core/, x509/, intent/, decide/ and tpm/ less its ESYS seam.
LIBV_PKGS := libcrypto libssl libcjson tss2-mu tss2-rc
LIBV_SRC  := $(filter-out libattest/tpm/tpm.c,$(sort $(wildcard \
	$(addprefix libattest/,$(addsuffix /*.c,core tpm x509 intent decide)))))
LIBV_OBJ  := $(LIBV_SRC:%.c=$(BUILD)/obj/%.o)
LIBV_A    := $(BUILD)/libattest-verify.a
LIBV_SO   := $(BUILD)/libattest-verify.so
LIBV_LIBS  = $(shell pkg-config --libs $(LIBV_PKGS) 2>/dev/null)
PC_FILES  := $(BUILD)/pkgconfig/attest.pc $(BUILD)/pkgconfig/attest-verify.pc

BIN_NAMES := attestctl attest-provision attestd attest-verifier
BINS      := $(addprefix $(BUILD)/,$(BIN_NAMES))
CLI_SRC       := cli/cli.c cli/cli_tpm.c cli/cliconf.c cli/journal.c
ATTESTD_SRC   := attestd/attestd.c attestd/server.c attestd/daemon.c attestd/request.c \
	attestd/register.c attestd/registration.c attestd/reqparse.c attestd/caller.c attestd/signers.c attestd/crl.c attestd/issue.c attestd/registry.c \
	attestd/log.c attestd/push.c attestd/auditlog.c attestd/closer.c \
	attestd/nodump.c attestd/clock.c attestd/host.c attestd/dispatch.c attestd/admin.c attestd/adminrun.c attestd/adminwire.c attestd/pushwire.c attestd/mint.c attestd/mintwire.c attestd/monproto.c attestd/monitor.c attestd/front.c \
	attestd/renew.c \
	attestd/workload.c attestd/workload_api.c attestd/workload_mon.c attestd/workload_jwt.c attestd/workload_jwtv.c \
	attestd/federation.c \
	cli/cliconf.c cli/sdnotify.c cli/journal.c
# the SPIFFE Workload API (docs/spiffe.md): HTTP/2 by libnghttp2, messages by
# protobuf-c code that protoc-c generates from attestd/workload.proto (and
# google/protobuf/struct.proto, which it imports) at build time
WL_PKGS    := libnghttp2 libprotobuf-c
WL_LIBS     = $(shell pkg-config --libs $(WL_PKGS) 2>/dev/null)
PROTO_INC  ?= /usr/include
WL_GEN_DIR := $(BUILD)/gen
WL_GEN_OBJ := $(WL_GEN_DIR)/workload.pb-c.o $(WL_GEN_DIR)/google/protobuf/struct.pb-c.o
WL_USERS   := $(BUILD)/obj/attestd/workload.o $(BUILD)/obj/attestd/workload_api.o \
	$(BUILD)/obj/examples/spiffe_client.o $(BUILD)/obj/bench/bench_spiffe.o
$(WL_GEN_DIR)/stamp: attestd/workload.proto
	@mkdir -p $(WL_GEN_DIR)
	protoc-c --c_out=$(WL_GEN_DIR) -Iattestd -I$(PROTO_INC) attestd/workload.proto \
	  google/protobuf/struct.proto
	@touch $@
$(WL_GEN_DIR)/%.pb-c.c: $(WL_GEN_DIR)/stamp ;
$(WL_GEN_DIR)/%.pb-c.o: $(WL_GEN_DIR)/%.pb-c.c $(BUILD)/flags
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libprotobuf-c 2>/dev/null) -I$(WL_GEN_DIR) -c $< -o $@
$(WL_USERS): CFLAGS += -I$(WL_GEN_DIR) $(shell pkg-config --cflags $(WL_PKGS) 2>/dev/null)
$(WL_USERS): | $(WL_GEN_DIR)/stamp
# clang-tidy (scripts/tidy.sh) reads the Workload API's sources with them too
TIDY_FLAGS  = -I$(WL_GEN_DIR) $(shell pkg-config --cflags $(WL_PKGS) 2>/dev/null)
EVENT_LIBS     = $(shell pkg-config --libs libevent_core 2>/dev/null)
SECCOMP_LIBS   = $(shell pkg-config --libs libseccomp 2>/dev/null)
ATTESTCTL_SRC := attestd/attestctl.c attestd/attestctl_agent.c attestd/attestctl_host.c \
	attestd/attestctl_audit.c $(CLI_SRC)
PROVISION_SRC := $(sort $(wildcard provisioning/*.c)) $(CLI_SRC)
# verifier/: everything but main is also linked into tests and benchmarks
VERIFIER_MAIN := verifier/attest-verifier.c
VERIFIER_SRC  := $(filter-out $(VERIFIER_MAIN),$(sort $(wildcard verifier/*.c))) $(CLI_SRC) \
	cli/sdnotify.c
VERIFIER_OBJ  := $(VERIFIER_SRC:%.c=$(BUILD)/obj/%.o)
# the same objects as an archive for tests and benchmarks: the linker takes
# only the members a test uses (test_store the store, test_policy the policy
# tool...), so a test links what it tests, not the whole verifier
VERIFIER_A    := $(BUILD)/verifier.a
# the fleet dashboard's files (verifier/dashboard/, docs/dashboard.md), in the
# binary as const arrays that xxd writes at build time; no other build chain
DASH_FILES := index.html app.js app.css favicon.svg
DASH_GEN   := $(BUILD)/gen/dash_assets.c
VERIFIER_OBJ += $(BUILD)/obj/gen/dash_assets.o
$(DASH_GEN): $(addprefix verifier/dashboard/,$(DASH_FILES))
	@mkdir -p $(dir $@)
	@for f in $(DASH_FILES); do \
	  xxd -i -n dash_$$(echo $$f | tr . _) verifier/dashboard/$$f || exit 1; \
	done | sed 's/^unsigned /const unsigned /' >$@.tmp && mv $@.tmp $@
$(BUILD)/obj/gen/dash_assets.o: $(DASH_GEN) $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
SRV_LIBS       = $(shell pkg-config --libs $(SRV_PKGS) 2>/dev/null) -lm -pthread # -lm -pthread: the detector (issue 19)

TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c))
TEST_BINS := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TESTUTIL_SRC := $(sort $(wildcard tests/unit/testutil*.c))
TESTUTIL_OBJ := $(TESTUTIL_SRC:%.c=$(BUILD)/obj/%.o)
# the test helpers as an archive too: a test takes the helpers it calls (and
# what they call in the verifier and libattest), not the swtpm, daemon,
# verifier-fleet and software-fleet fixtures of every other test
TESTUTIL_A   := $(BUILD)/testutil.a
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BINS := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

# examples/: agents showing the client API (docs/agents.md)
EXAMPLE_SRC  := $(sort $(wildcard examples/*.c))
EXAMPLE_BINS := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)

# man pages: attestctl(1), attest-provision(1) and attest-verifier(8) are
# man/*.in (written by hand) with a COMMANDS section made from the binary's
# own --help (scripts/gen-man.py); the others are written by hand whole
MAN_GEN    := attestctl.1 attest-provision.1 attest-verifier.8
MAN_STATIC := $(notdir $(wildcard man/*.[1-8]))
MAN_PAGES  := $(addprefix $(BUILD)/man/,$(MAN_GEN) $(MAN_STATIC))

.PHONY: all deps demo check check-fast asan asan-run bench lint cppcheck clean test-bins fuzz fuzz-replay print-cflags
.SECONDARY:
all: $(LIB_A) $(LIB_SO) $(LIBV_A) $(LIBV_SO) $(PC_FILES) $(BINS) $(TEST_BINS) $(BENCH_BINS) $(EXAMPLE_BINS) \
	$(MAN_PAGES)

deps:
	@sh scripts/deps.sh $(DEB_PKGS)

$(BUILD)/obj/%.o: %.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/libattest/%.o: libattest/%.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -DATTEST_BUILDING_LIB -fvisibility=hidden -MMD -MP -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# the file libattest.so.$(VERSION), its SONAME link libattest.so.$(SOMAJOR)
# and the link-time name libattest.so; only attest_* is exported, versioned
LIB_MAP := libattest/libattest.map
$(LIB_SO): $(LIB_OBJ) $(LIB_MAP)
	$(CC) -shared -Wl,-soname,libattest.so.$(SOMAJOR) $(NOEXEC) \
	  -Wl,--version-script=$(LIB_MAP) \
	  $(if $(SAN),-fsanitize=address$(comma)undefined) -o $@.$(VERSION) $(LIB_OBJ) $(LIB_LIBS)
	ln -sf $(notdir $@).$(VERSION) $@.$(SOMAJOR)
	ln -sf $(notdir $@).$(SOMAJOR) $@

$(LIBV_A): $(LIBV_OBJ)
	@rm -f $@
	ar rcs $@ $^

# --no-undefined: the relying-party library must resolve from LIBV_PKGS alone
$(LIBV_SO): $(LIBV_OBJ) $(LIB_MAP)
	$(CC) -shared -Wl,-soname,libattest-verify.so.$(SOMAJOR) $(NOEXEC) -Wl,--no-undefined \
	  -Wl,--version-script=$(LIB_MAP) \
	  $(if $(SAN),-fsanitize=address$(comma)undefined) -o $@.$(VERSION) $(LIBV_OBJ) $(LIBV_LIBS)
	ln -sf $(notdir $@).$(VERSION) $@.$(SOMAJOR)
	ln -sf $(notdir $@).$(SOMAJOR) $@

# pkg-config files: attest, attest-verify; the public headers use OpenSSL's
# types, so libcrypto is a public Requires. write_pc OUT,LIBDIR,INCLUDEDIR,NAME
# writes one: for the build tree here (uninstalled), for PREFIX at make install.
PC_DESC_attest := attestd's library: TPM, enrolment, attestation, audit, decisions
PC_DESC_attest-verify := attestd's relying-party library: decisions, path rule, intent
PC_PRIV_attest = $(filter-out libcrypto,$(LIB_PKGS))
PC_PRIV_attest-verify = $(filter-out libcrypto,$(LIBV_PKGS))
define write_pc
	@mkdir -p $(dir $(1))
	@printf '%s\n' "libdir=$(2)" "includedir=$(3)" "" \
	  "Name: $(4)" "Description: $(PC_DESC_$(4))" \
	  "Version: $(VERSION)" "Requires: libcrypto" "Requires.private: $(PC_PRIV_$(4))" \
	  "Cflags: -I\$${includedir}" "Libs: -L\$${libdir} -l$(4)" >$(1)
endef

$(BUILD)/pkgconfig/%.pc: Makefile
	$(call write_pc,$@,$(abspath $(BUILD)),$(abspath include),$*)

$(BUILD)/man/%.1: man/%.1.in $(BUILD)/% scripts/gen-man.py
	@mkdir -p $(dir $@)
	python3 scripts/gen-man.py $(BUILD)/$* $< $@

$(BUILD)/man/%.8: man/%.8.in $(BUILD)/% scripts/gen-man.py
	@mkdir -p $(dir $@)
	python3 scripts/gen-man.py $(BUILD)/$* $< $@

$(BUILD)/man/%: man/%
	@mkdir -p $(dir $@)
	cp $< $@

$(BUILD)/attestctl: $(ATTESTCTL_SRC:%.c=$(BUILD)/obj/%.o) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)

$(BUILD)/attest-provision: $(PROVISION_SRC:%.c=$(BUILD)/obj/%.o) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)

$(BUILD)/attestd: $(ATTESTD_SRC:%.c=$(BUILD)/obj/%.o) $(WL_GEN_OBJ) $(LIB_A)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LIB_LIBS) $(EVENT_LIBS) $(SECCOMP_LIBS) $(WL_LIBS)

$(BUILD)/attest-verifier: $(BUILD)/obj/$(VERIFIER_MAIN:.c=.o) $(VERIFIER_OBJ) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIB_LIBS) $(SRV_LIBS)

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIB_LIBS) $(SRV_LIBS)

# the SPIFFE Workload API client: the generated messages, nghttp2, OpenSSL
$(BUILD)/examples/spiffe_client: $(BUILD)/obj/examples/spiffe_client.o $(WL_GEN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(WL_LIBS) $(shell pkg-config --libs libcrypto 2>/dev/null)

# test agents: small programs the tests launch and measure
AGENT_SRC  := $(sort $(wildcard tests/agents/*.c))
AGENT_BINS := $(AGENT_SRC:tests/agents/%.c=$(BUILD)/agents/%)
$(BUILD)/agents/%: tests/agents/%.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD)/obj/tests/%.o: CFLAGS += -Iverifier
$(VERIFIER_A): $(VERIFIER_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(TESTUTIL_A): $(TESTUTIL_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TESTUTIL_A) $(VERIFIER_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# test_parsers: attestd's pure parse functions (attestd/reqparse.c, admin.c) too
TEST_PARSERS_ATTESTD := attestd/reqparse.c attestd/request.c attestd/registry.c attestd/log.c \
	attestd/nodump.c attestd/admin.c attestd/registration.c attestd/adminwire.c attestd/monproto.c
# and the fuzz fixture's keys and agent CA (tests/fuzz/fuzz_fixture.c)
$(BUILD)/obj/tests/unit/test_parsers.o: CFLAGS += -Iattestd -Itests/fuzz
$(BUILD)/tests/test_parsers: $(BUILD)/obj/tests/unit/test_parsers.o \
		$(TEST_PARSERS_ATTESTD:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/tests/fuzz/fuzz_fixture.o \
		$(TESTUTIL_A) $(VERIFIER_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# test_spiffe: the federation list (attestd/federation.c) and ValidateJWTSVID's
# check (attestd/workload_jwtv.c) directly too
# and the fuzz fixture's software chains (tests/fuzz/fuzz_fixture.c)
$(BUILD)/obj/tests/unit/test_spiffe.o: CFLAGS += -Iattestd -Itests/fuzz
$(BUILD)/tests/test_spiffe: $(BUILD)/obj/tests/unit/test_spiffe.o \
		$(BUILD)/obj/attestd/federation.o $(BUILD)/obj/attestd/monproto.o \
		$(BUILD)/obj/attestd/workload_jwtv.o \
		$(BUILD)/obj/tests/fuzz/fuzz_fixture.o \
		$(TESTUTIL_A) $(VERIFIER_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/obj/bench/%.o: CFLAGS += -Itests/unit -Iverifier

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(TESTUTIL_A) $(VERIFIER_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench/bench_spiffe: $(BUILD)/obj/bench/bench_spiffe.o $(WL_GEN_OBJ) $(TESTUTIL_A) \
		$(VERIFIER_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(WL_LIBS)

# the fault-injection TCTI (tests/tcti/attestfault.c), loaded by
# Tss2_TctiLdr from its path or as "attestfault" with $(BUILD)/tcti on
# the library path; test_tctifault uses it
FAULT_TCTI := $(BUILD)/tcti/libtss2-tcti-attestfault.so.0
$(BUILD)/obj/tests/tcti/%.o: tests/tcti/%.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -MMD -MP -c $< -o $@
$(FAULT_TCTI): $(BUILD)/obj/tests/tcti/attestfault.o $(BUILD)/obj/libattest/core/cursor.o
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libtss2-tcti-attestfault.so.0 -Wl,-z,relro,-z,now \
	  $(if $(SAN),-fsanitize=address$(comma)undefined) -o $@ $^ \
	  $(shell pkg-config --libs tss2-tctildr 2>/dev/null)
	ln -sf $(notdir $@) $(BUILD)/tcti/libtss2-tcti-attestfault.so

# test_privsep: a compromised front speaking the monitor protocol, and an
# attestd whose front has a deliberate bad path (a syscall outside its filter)
PRIVSEP_BINS := $(BUILD)/tests/evil_front $(BUILD)/tests/attestd-hooks
$(BUILD)/obj/tests/privsep/%.o: CFLAGS += -Iattestd
$(BUILD)/tests/evil_front: $(BUILD)/obj/tests/privsep/evil_front.o $(BUILD)/obj/attestd/monproto.o \
		$(BUILD)/obj/attestd/mintwire.o $(BUILD)/obj/attestd/adminwire.o $(BUILD)/obj/attestd/pushwire.o \
		$(BUILD)/obj/attestd/request.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIB_LIBS)
$(BUILD)/obj-hooks/attestd/front.o: attestd/front.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DATTESTD_TEST_HOOKS -MMD -MP -c $< -o $@
# (issue 17: auditlog.c too, whose test build fails audit syncs on request)
$(BUILD)/obj-hooks/attestd/auditlog.o: attestd/auditlog.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DATTESTD_TEST_HOOKS -MMD -MP -c $< -o $@
$(BUILD)/tests/attestd-hooks: $(filter-out $(BUILD)/obj/attestd/front.o $(BUILD)/obj/attestd/auditlog.o,$(ATTESTD_SRC:%.c=$(BUILD)/obj/%.o)) \
		$(BUILD)/obj-hooks/attestd/front.o $(BUILD)/obj-hooks/attestd/auditlog.o $(WL_GEN_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LIB_LIBS) $(EVENT_LIBS) $(SECCOMP_LIBS) $(WL_LIBS)

test-bins: $(LIB_A) $(LIB_SO) $(LIBV_A) $(LIBV_SO) $(PC_FILES) $(BINS) $(TEST_BINS) $(AGENT_BINS) $(EXAMPLE_BINS) $(PRIVSEP_BINS) $(FAULT_TCTI) \
	$(MAN_PAGES)

# make check is the CI gate (.ci/run calls it): check-fast, then the whole
# suite again under ASan+UBSan, then every libFuzzer target for
# FUZZ_CI_SECONDS each (two at a time). check-fast is the quick loop while
# developing: the same build, gates, tests and package checks, without the
# sanitizer and fuzzing passes.
FUZZ_CI_SECONDS ?= 20

check: check-fast
	@$(MAKE) --no-print-directory asan-run
	@$(MAKE) --no-print-directory -j2 fuzz FUZZ_SECONDS=$(FUZZ_CI_SECONDS)
	@echo "make check: passed (check-fast, ASan+UBSan suite, fuzzing $(FUZZ_CI_SECONDS) s per target)"

check-fast: deps
	@sh scripts/check-docs.sh
	@sh scripts/banned.sh
	@$(MAKE) --no-print-directory test-bins
	@sh scripts/check-exports.sh $(LIB_SO)
	@sh scripts/check-exports.sh $(LIBV_SO)
	@$(MAKE) --no-print-directory cppcheck
	@CFLAGS="$$(echo $(CFLAGS))" TIDY_FLAGS="$$(echo $(TIDY_FLAGS))" sh scripts/tidy.sh
	@$(MAKE) --no-print-directory fuzz-replay
	@BUILD=$(BUILD) sh scripts/check-verify-lib.sh
	@BUILD=$(BUILD) SAN=$(SAN) sh scripts/check-hardening.sh
	@python3 scripts/check-cycles.py --layers "$(LIB_LAYERS)" $(BUILD) libattest
	@python3 scripts/check-cycles.py $(BUILD) verifier cli attestd
	@BUILD=$(BUILD) sh tests/run-tests.sh $(TEST_BINS)
	@BUILD=$(BUILD) sh tests/install/test-config.sh
	@BUILD=$(BUILD) MAKE=$(MAKE) sh tests/install/test-install.sh
	@$(MAKE) --no-print-directory deb-check >$(BUILD)/deb-check.log 2>&1 || \
	  { tail -n 40 $(BUILD)/deb-check.log; echo 'deb-check: FAILED (whole log: $(BUILD)/deb-check.log)'; exit 1; }
	@tail -n 1 $(BUILD)/deb-check.log

asan: deps
	@$(MAKE) --no-print-directory asan-run

asan-run:
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 test-bins
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  BUILD=build-asan sh tests/run-tests.sh $(TEST_BINS:$(BUILD)/%=build-asan/%)

demo: deps
	@$(MAKE) --no-print-directory $(BINS) $(EXAMPLE_BINS)
	@BUILD=$(BUILD) sh scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory $(BINS) $(BENCH_BINS) $(EXAMPLE_BINS) $(AGENT_BINS) $(FAULT_TCTI)
	@BUILD=$(BUILD) sh bench/run-bench.sh || true

lint: $(LIB_SO) $(LIBV_SO) $(WL_GEN_DIR)/stamp
	@sh scripts/banned.sh
	@sh scripts/check-exports.sh $(LIB_SO)
	@sh scripts/check-exports.sh $(LIBV_SO)
	@sh scripts/check-docs.sh
	@$(MAKE) --no-print-directory cppcheck
	@CFLAGS="$$(echo $(CFLAGS))" TIDY_FLAGS="$$(echo $(TIDY_FLAGS))" sh scripts/tidy.sh

# about 30 s on 2 cores: part of make check
cppcheck:
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability -j2 \
	  --inline-suppr -Iinclude -Ilibattest -Icli libattest attestd provisioning verifier cli

# the compiler flags, for scripts/check-hardening.sh
print-cflags:
	@echo $(CFLAGS)

clean:
	rm -rf build build-asan

include tests/fuzz/fuzz.mk
include dist/install.mk

-include $(shell find $(BUILD) -path $(BUILD)/deb -prune -o -type f -name '*.d' -print 2>/dev/null)
