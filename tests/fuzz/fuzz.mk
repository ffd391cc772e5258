# tests/fuzz/fuzz.mk - fuzz targets; included by the top Makefile.
#
#   make fuzz-replay              build each target with $(CC) $(CFLAGS) (no
#                                 libFuzzer) as $(BUILD)/fuzz/replay_<t> and
#                                 run it once over tests/fuzz/corpus/<t>;
#                                 fails on any crash or abort (regression)
#   make -j2 fuzz [FUZZ_SECONDS=30]   build with clang + libFuzzer + ASan + UBSan
#                                 into build-fuzz/ (libattest compiled into
#                                 each binary) and fuzz each target for
#                                 FUZZ_SECONDS on build-fuzz/corpus/<t>, a
#                                 copy of the seeds that keeps what it finds
#   make fuzz FUZZ_TARGETS=tpm    one target only
#   make fuzz-corpus              regenerate the software seeds (writes
#                                 tests/fuzz/corpus; swtpm-seeds.sh adds the
#                                 swtpm-made ones)
#   make fuzz-clean               rm -rf build-fuzz
#
# A crash leaves build-fuzz/artifacts/<t>/crash-<sha1>; reproduce with
#   build-fuzz/fuzz_<t> build-fuzz/artifacts/<t>/crash-<sha1>
# and once fixed, copy it into tests/fuzz/corpus/<t>/ so fuzz-replay keeps it.
# Logs: build-fuzz/fuzz_<t>.log. Before the include line exists:
#   make -f Makefile -f tests/fuzz/fuzz.mk fuzz-replay

FUZZ_TARGETS := json tpm enrol policy eventlog conf audit hostpush refset intent x509 registry procfs csr attestd vbody jwtsvid tpmrsp monproto fedbundle
# Objects from outside libattest a target links (attestd/, verifier/): the
# daemons' pure parse functions. FUZZ_EXTRA_<t> lists their sources.
FUZZ_EXTRA_x509 :=
FUZZ_ATTESTD_LOG := attestd/log.c attestd/nodump.c cli/journal.c
FUZZ_EXTRA_registry := attestd/registry.c $(FUZZ_ATTESTD_LOG)
FUZZ_EXTRA_csr := attestd/reqparse.c attestd/request.c $(FUZZ_EXTRA_registry)
FUZZ_EXTRA_attestd := $(FUZZ_EXTRA_csr) attestd/admin.c attestd/registration.c attestd/adminwire.c attestd/monproto.c
FUZZ_EXTRA_vbody := verifier/bodies.c verifier/check_quote.c cli/cli.c cli/cli_tpm.c cli/cliconf.c \
	cli/journal.c
FUZZ_EXTRA_jwtsvid := attestd/workload_jwtv.c verifier/jwtsvid.c
FUZZ_EXTRA_fedbundle :=
FUZZ_EXTRA_monproto := attestd/monproto.c attestd/mintwire.c attestd/adminwire.c \
	attestd/pushwire.c attestd/request.c attestd/federation.c
# gen_corpus writes records with registry_record_print
FUZZ_EXTRA_gen := $(FUZZ_EXTRA_registry) attestd/mintwire.c attestd/adminwire.c attestd/pushwire.c \
	attestd/monproto.c attestd/request.c attestd/federation.c
FUZZ_CC      ?= clang
# the fuzz path's own Debian package (also in the top Makefile's DEB_PKGS:
# make check fuzzes every target)
FUZZ_DEB_PKGS := clang
FUZZ_SECONDS ?= 30
FUZZ_DIR     := build-fuzz
FUZZ_SRC     := tests/fuzz
FUZZ_CORPUS  := $(FUZZ_SRC)/corpus

# The project's flags minus optimisation, fortify and any SAN= sanitizers,
# plus libFuzzer coverage, ASan and UBSan (UB aborts, so it is a crash).
FUZZ_CFLAGS   = $(filter-out -O% -D_FORTIFY_SOURCE=% -fsanitize=% -fno-sanitize-recover=%,$(CFLAGS)) \
	-g -O1 -fno-omit-frame-pointer -DATTEST_BUILDING_LIB \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_LDFLAGS  = $(filter-out -fsanitize=%,$(LDFLAGS)) -fsanitize=fuzzer,address,undefined
FUZZ_ENV     := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
REPLAY_BINS  := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/replay_%)
REPLAY_OBJ   := $(BUILD)/fuzz/obj
FUZZ_COMMON  := $(REPLAY_OBJ)/standalone.o $(REPLAY_OBJ)/fuzz_fixture.o

.PHONY: fuzz fuzz-deps fuzz-replay fuzz-corpus fuzz-clean

fuzz-deps:
	@sh scripts/deps.sh $(FUZZ_DEB_PKGS)

# ---- replay with the normal compiler and flags

$(REPLAY_OBJ)/%.o: $(FUZZ_SRC)/%.c $(BUILD)/flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(REPLAY_OBJ)/%.o: CFLAGS += -Iattestd -Iverifier

$(BUILD)/fuzz/replay_%: $(REPLAY_OBJ)/fuzz_%.o $(FUZZ_COMMON) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIB_A) $(PKG_LIBS)

# each replay binary also depends on its extra objects
$(foreach t,$(FUZZ_TARGETS),$(eval $(BUILD)/fuzz/replay_$(t): $(FUZZ_EXTRA_$(t):%.c=$(BUILD)/obj/%.o)))

# tpmrsp: its TCTI is a shared object the TCTI loader opens beside the
# binary (not instrumented: it only hands over bytes), which calls back
# into the binary for the next response
FUZZRSP_SO_SRC := $(FUZZ_SRC)/tcti_fuzzrsp.c
define fuzzrsp_so
$(1)/libtss2-tcti-fuzzrsp.so: $(FUZZRSP_SO_SRC) $(BUILD)/flags
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) -fPIC -shared -Wl,-soname,libtss2-tcti-fuzzrsp.so -o $$@ $$< \
	  $$$$(pkg-config --libs tss2-tctildr)
endef
$(eval $(call fuzzrsp_so,$(BUILD)/fuzz))
$(eval $(call fuzzrsp_so,$(FUZZ_DIR)))
$(BUILD)/fuzz/replay_tpmrsp: LDFLAGS += -Wl,--export-dynamic
$(BUILD)/fuzz/replay_tpmrsp: | $(BUILD)/fuzz/libtss2-tcti-fuzzrsp.so
$(FUZZ_DIR)/fuzz_tpmrsp: FUZZ_LDFLAGS += -Wl,--export-dynamic
$(FUZZ_DIR)/fuzz_tpmrsp: | $(FUZZ_DIR)/libtss2-tcti-fuzzrsp.so

fuzz-replay: $(REPLAY_BINS)
	@for t in $(FUZZ_TARGETS); do \
	  printf '%-6s ' "$$t"; \
	  $(BUILD)/fuzz/replay_$$t $(FUZZ_CORPUS)/$$t || { echo "fuzz-replay: $$t FAILED" >&2; exit 1; }; \
	done

# ---- libFuzzer build: clang, sanitizers, libattest objects linked directly

$(FUZZ_DIR)/obj/%.o: %.c | fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

# libattest is written against gcc's -Werror; clang finds more (e.g.
# -Wformat-nonliteral in err.c's vset, which lacks a format attribute). Show
# those warnings here but let the lint/gcc builds decide, so the fuzzer runs.
$(FUZZ_LIB_OBJ): FUZZ_CFLAGS += -Wno-error

$(FUZZ_DIR)/obj/$(FUZZ_SRC)/%.o: FUZZ_CFLAGS += -Iattestd -Iverifier
# attestd/ and verifier/ objects: like libattest's, warnings shown, not fatal
$(FUZZ_DIR)/obj/attestd/%.o $(FUZZ_DIR)/obj/verifier/%.o: FUZZ_CFLAGS += -Wno-error -Iattestd -Iverifier

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/$(FUZZ_SRC)/fuzz_%.o \
		$(FUZZ_DIR)/obj/$(FUZZ_SRC)/fuzz_fixture.o $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $(filter %.o,$^) $(PKG_LIBS)

$(foreach t,$(FUZZ_TARGETS),$(eval $(FUZZ_DIR)/fuzz_$(t): $(FUZZ_EXTRA_$(t):%.c=$(FUZZ_DIR)/obj/%.o)))

# One rule per target, so `make -j2 fuzz` runs two at a time (make check
# does); each prints its summary in one piece when it ends.
fuzz: $(FUZZ_TARGETS:%=fuzz-run-%)

fuzz-run-%: $(FUZZ_DIR)/fuzz_%
	@mkdir -p $(FUZZ_DIR)/corpus/$* $(FUZZ_DIR)/artifacts/$*
	@cp $(FUZZ_CORPUS)/$*/* $(FUZZ_DIR)/corpus/$*/
	@if $(FUZZ_ENV) $(FUZZ_DIR)/fuzz_$* -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	     -rss_limit_mb=2048 -print_final_stats=1 \
	     -artifact_prefix=$(FUZZ_DIR)/artifacts/$*/ $(FUZZ_DIR)/corpus/$* \
	     >$(FUZZ_DIR)/fuzz_$*.log 2>&1; then \
	  echo "fuzz $*: $(FUZZ_SECONDS) s, $$(sed -n 's/^stat::number_of_executed_units: *//p' \
	    $(FUZZ_DIR)/fuzz_$*.log) runs, $$(grep -o 'cov: [0-9]*' $(FUZZ_DIR)/fuzz_$*.log | \
	    tail -n 1), no finding (log $(FUZZ_DIR)/fuzz_$*.log)"; \
	else \
	  tail -n 80 $(FUZZ_DIR)/fuzz_$*.log; \
	  echo "fuzz $*: FAILED, input in $(FUZZ_DIR)/artifacts/$*/" >&2; exit 1; \
	fi

# ---- seeds

$(BUILD)/fuzz/gen_corpus: $(REPLAY_OBJ)/gen_corpus.o $(REPLAY_OBJ)/fuzz_fixture.o \
		$(FUZZ_EXTRA_gen:%.c=$(BUILD)/obj/%.o) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

fuzz-corpus: $(BUILD)/fuzz/gen_corpus
	@mkdir -p $(FUZZ_TARGETS:%=$(FUZZ_CORPUS)/%)
	$(BUILD)/fuzz/gen_corpus $(FUZZ_CORPUS)

fuzz-clean:
	rm -rf $(FUZZ_DIR)

-include $(shell find $(FUZZ_DIR) -type f -name '*.d' 2>/dev/null)
