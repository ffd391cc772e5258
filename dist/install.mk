# dist/install.mk - make install / make uninstall; included by the top Makefile.
#
#   make install [PREFIX=/usr/local] [DESTDIR=] [BINDIR=...] ...
#   make uninstall (same variables)
#
# Daemons go to SBINDIR (attestd, attest-verifier), tools to BINDIR
# (attestctl, attest-provision), libattest.so.$(VERSION) and
# libattest-verify.so.$(VERSION) to LIBDIR with their SONAME links (.so.0)
# and the development links (.so), headers to INCLUDEDIR/attest, attest.pc
# and attest-verify.pc (with the install paths) to PKGCONFIGDIR, man pages
# to MANDIR, systemd units to UNITDIR, the system users (sysusers.d) to
# SYSUSERSDIR, the example configuration files to SYSCONFDIR (never over an
# existing one), the example programs to LIBEXECDIR/attestd and the docs and
# example sources to DOCDIR. The binaries link libattest statically (they use
# its internal functions, which the shared library does not export); the
# shared libraries are for agents and relying parties.
#
# SYSCONFDIR (the top Makefile, compiled in) is /etc whatever the PREFIX:
# attestd and attest-verifier read /etc/attestd/attestd.conf and
# /etc/attest-verifier/verifier.conf.

PREFIX       ?= /usr/local
EXEC_PREFIX  ?= $(PREFIX)
BINDIR       ?= $(EXEC_PREFIX)/bin
SBINDIR      ?= $(EXEC_PREFIX)/sbin
LIBDIR       ?= $(EXEC_PREFIX)/lib
LIBEXECDIR   ?= $(EXEC_PREFIX)/libexec
INCLUDEDIR   ?= $(PREFIX)/include
DATAROOTDIR  ?= $(PREFIX)/share
MANDIR       ?= $(DATAROOTDIR)/man
DOCDIR       ?= $(DATAROOTDIR)/doc/attestd
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
UNITDIR      ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR  ?= $(PREFIX)/lib/sysusers.d
INSTALL      ?= install

INST_SBIN    := attestd attest-verifier
INST_BIN     := attestctl attest-provision
INST_EXAMPLES := agent_client resource_server intent_server
INST_HEADERS := $(sort $(wildcard include/attest/*.h))
INST_MAN     := $(MAN_PAGES)
INST_UNITS   := $(patsubst dist/systemd/%.in,$(BUILD)/install/%,$(sort $(wildcard dist/systemd/*.service.in)))
INST_SYSUSERS := $(sort $(wildcard dist/sysusers/*.conf))
INST_DOCS    := README.md $(sort $(wildcard docs/*.md))
INST_EXSRC   := examples/README.md examples/policy.json $(sort $(wildcard examples/*.c examples/*.py))
INST_PC      := $(BUILD)/install/attest.pc $(BUILD)/install/attest-verify.pc

.PHONY: install uninstall install-check build-dist

# what install needs, built without installing (debian/rules builds this:
# no tests, so no CUnit or swtpm at package build time)
build-dist: $(LIB_SO) $(LIBV_SO) $(BINS) $(EXAMPLE_BINS) $(INST_PC) $(INST_UNITS) $(MAN_PAGES)

$(BUILD)/install/%.pc: Makefile dist/install.mk
	$(call write_pc,$@,$(LIBDIR),$(INCLUDEDIR),$*)

# the units name the daemons where this install puts them
$(BUILD)/install/%.service: dist/systemd/%.service.in Makefile dist/install.mk
	@mkdir -p $(dir $@)
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' $< >$@

install: $(LIB_SO) $(LIBV_SO) $(BINS) $(EXAMPLE_BINS) $(INST_PC) $(INST_UNITS) $(MAN_PAGES)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) \
	  $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(INCLUDEDIR)/attest $(DESTDIR)$(DOCDIR)/examples \
	  $(DESTDIR)$(LIBEXECDIR)/attestd
	$(INSTALL) -m 0755 $(INST_BIN:%=$(BUILD)/%) $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0755 $(INST_SBIN:%=$(BUILD)/%) $(DESTDIR)$(SBINDIR)
	$(INSTALL) -m 0755 $(INST_EXAMPLES:%=$(BUILD)/examples/%) $(DESTDIR)$(LIBEXECDIR)/attestd
	for l in libattest libattest-verify; do \
	  $(INSTALL) -m 0644 $(BUILD)/$$l.so.$(VERSION) $(DESTDIR)$(LIBDIR) && \
	  ln -sf $$l.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$$l.so.$(SOMAJOR) && \
	  ln -sf $$l.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/$$l.so || exit 1; \
	done
	$(INSTALL) -m 0644 $(INST_PC) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 0644 $(INST_HEADERS) $(DESTDIR)$(INCLUDEDIR)/attest
	$(INSTALL) -m 0644 $(INST_DOCS) $(DESTDIR)$(DOCDIR)
	$(INSTALL) -m 0644 $(INST_EXSRC) $(DESTDIR)$(DOCDIR)/examples
	for m in $(INST_MAN); do \
	  s=$${m##*.}; $(INSTALL) -d $(DESTDIR)$(MANDIR)/man$$s && \
	  $(INSTALL) -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s || exit 1; \
	done
	$(if $(INST_UNITS),$(INSTALL) -d $(DESTDIR)$(UNITDIR) && \
	  $(INSTALL) -m 0644 $(INST_UNITS) $(DESTDIR)$(UNITDIR))
	$(INSTALL) -d $(DESTDIR)$(SYSUSERSDIR)
	$(INSTALL) -m 0644 $(INST_SYSUSERS) $(DESTDIR)$(SYSUSERSDIR)
	for c in $(wildcard dist/config/*.conf); do \
	  n=$$(basename $$c); case $$n in attestd.conf) d=attestd ;; *) d=attest-verifier ;; esac; \
	  $(INSTALL) -d $(DESTDIR)$(SYSCONFDIR)/$$d && \
	  { [ -e $(DESTDIR)$(SYSCONFDIR)/$$d/$$n ] || \
	    $(INSTALL) -m 0644 $$c $(DESTDIR)$(SYSCONFDIR)/$$d/$$n; } || exit 1; \
	done

# configuration files an operator may have edited stay (like dpkg's conffiles
# on remove): uninstall removes what install put elsewhere
uninstall:
	rm -f $(INST_BIN:%=$(DESTDIR)$(BINDIR)/%) $(INST_SBIN:%=$(DESTDIR)$(SBINDIR)/%)
	rm -f $(INST_EXAMPLES:%=$(DESTDIR)$(LIBEXECDIR)/attestd/%)
	-rmdir $(DESTDIR)$(LIBEXECDIR)/attestd 2>/dev/null
	for l in libattest libattest-verify; do \
	  rm -f $(DESTDIR)$(LIBDIR)/$$l.so $(DESTDIR)$(LIBDIR)/$$l.so.$(SOMAJOR) \
	    $(DESTDIR)$(LIBDIR)/$$l.so.$(VERSION); \
	done
	rm -f $(DESTDIR)$(PKGCONFIGDIR)/attest.pc $(DESTDIR)$(PKGCONFIGDIR)/attest-verify.pc
	rm -f $(INST_HEADERS:include/attest/%=$(DESTDIR)$(INCLUDEDIR)/attest/%)
	-rmdir $(DESTDIR)$(INCLUDEDIR)/attest 2>/dev/null
	rm -rf $(DESTDIR)$(DOCDIR)
	for m in $(INST_MAN); do rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$$(basename $$m); done
	rm -f $(INST_UNITS:$(BUILD)/install/%=$(DESTDIR)$(UNITDIR)/%)
	rm -f $(INST_SYSUSERS:dist/sysusers/%=$(DESTDIR)$(SYSUSERSDIR)/%)

# the installed tree works alone: tests/install/test-install.sh installs into
# a temporary DESTDIR, builds a program from attest.pc and runs the demo's
# enrolment, issuance and decision flow from the installed files only
install-check: $(BINS) $(EXAMPLE_BINS) $(LIB_SO) $(LIBV_SO)
	@BUILD=$(BUILD) MAKE=$(MAKE) sh tests/install/test-install.sh

# ---- Debian packages (debian/): make deb builds attestd, attest-verifier,
# attest-provision, libattest0 and libattest-dev from a copy of this tree in
# $(BUILD)/deb (dpkg-buildpackage writes next to the tree it builds), then
# runs lintian on them. make deb-check also extracts them into a private root
# and runs tests/install/test-install.sh against it.
DEB_DIR  := $(BUILD)/deb
DEB_DEPS := debhelper dpkg-dev lintian
.PHONY: deb deb-deps deb-check

deb-deps:
	@sh scripts/deps.sh $(DEB_DEPS)

deb: deb-deps
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/attestd-$(VERSION)
	tar -cf - --exclude=./.git --exclude=./build --exclude='./build-*' . | \
	  tar -xf - -C $(DEB_DIR)/attestd-$(VERSION)
	cd $(DEB_DIR)/attestd-$(VERSION) && \
	  DEB_BUILD_OPTIONS="$${DEB_BUILD_OPTIONS:-parallel=$$(nproc)}" dpkg-buildpackage -us -uc -b
	lintian --fail-on error $(DEB_DIR)/*.changes
	@ls -l $(DEB_DIR)/*.deb

deb-check: deb
	@BUILD=$(BUILD) ATTEST_INSTALL_DEBS="$$(ls $(DEB_DIR)/*.deb)" sh tests/install/test-install.sh
