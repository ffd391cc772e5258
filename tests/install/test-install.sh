#!/bin/sh
# test-install.sh - the installed tree works alone (make install-check, run
# by make check):
#  1. make install DESTDIR=$tmp/root PREFIX=/usr puts every file where
#     dist/install.mk says, the libraries with their SONAME and links;
#  2. examples/agent_client.c, compiled with nothing but
#     `pkg-config --cflags --libs attest` (PKG_CONFIG_PATH and
#     PKG_CONFIG_SYSROOT_DIR into the DESTDIR), links and runs against the
#     installed libattest.so.0 (LD_LIBRARY_PATH into the DESTDIR only), and
#     binds to the ATTEST_0 symbol version;
#  3. scripts/demo.sh (enrolment, renewal, attestd issuance, intent, the
#     verifier's decisions, audit) runs with the installed tools first on
#     PATH and no build directory on PATH or LD_LIBRARY_PATH; its agents are
#     the program of step 2 and its resource server the installed one;
#  4. make uninstall removes it all but the configuration files.
# Set ATTEST_INSTALL_NO_DEMO=1 to skip step 3. With ATTEST_INSTALL_DEBS
# (make deb-check: the .deb files of make deb), step 1 unpacks those
# packages into the private root instead (dpkg-deb -x; their maintainer
# scripts, which add a system group and user, are checked, not run) and
# step 4 is skipped.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
MAKE=${MAKE:-make}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/attest-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
fail() { echo "test-install: FAILED: $*" >&2; exit 1; }
say() { echo "test-install: $*"; }

# 0. plain `make` builds the examples (it did not: EXAMPLE_BINS was used
# before it was defined)
"$MAKE" -C "$top" --no-print-directory -n -B BUILD="$tmp/dry" all 2>/dev/null |
	grep -q -- "-o $tmp/dry/examples/agent_client " || fail "make (all) does not build the examples"

# 1. install
debs=${ATTEST_INSTALL_DEBS:-}
if [ -n "$debs" ]; then
	for d in $debs; do
		dpkg-deb -x "$d" "$root" || fail "dpkg-deb -x $d"
		dpkg-deb -e "$d" "$tmp/ctl.$(basename "$d")" || fail "dpkg-deb -e $d"
	done
	for p in attestd attest-verifier attest-provision libattest0 libattest-dev; do
		echo "$debs" | grep -q "/${p}_" || fail "no $p package"
	done
	grep -q 'addgroup --system .*attestd-agents' "$tmp"/ctl.attestd_*/postinst ||
		fail "attestd postinst does not add attestd-agents"
	grep -q 'adduser --system .*attest-verifier' "$tmp"/ctl.attest-verifier_*/postinst ||
		fail "attest-verifier postinst does not add its user"
	say "unpacked $(echo $debs | wc -w) packages into a private root"
else
	"$MAKE" -C "$top" --no-print-directory BUILD="$BUILD" DESTDIR="$root" PREFIX=/usr \
		install >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "make install"; }
fi
# the library directory: /usr/lib (make install), /usr/lib/<triplet> (packages)
lib=$(dirname "$(find "$root/usr/lib" -name libattest.so.0 | head -n 1)")
[ -d "$lib" ] || fail "libattest.so.0 not installed"
for f in usr/sbin/attestd usr/sbin/attest-verifier usr/bin/attestctl usr/bin/attest-provision \
	usr/libexec/attestd/agent_client usr/libexec/attestd/resource_server \
	usr/include/attest/attest.h usr/include/attest/client.h usr/include/attest/verify.h \
	"${lib#$root/}/pkgconfig/attest.pc" "${lib#$root/}/pkgconfig/attest-verify.pc" \
	usr/share/doc/attestd/README.md usr/share/doc/attestd/examples/agent_client.c \
	etc/attestd/attestd.conf etc/attest-verifier/verifier.conf; do
	# packages compress docs and man pages (dh_compress)
	[ -e "$root/$f" ] || [ -e "$root/$f.gz" ] || fail "$f not installed"
done
for l in libattest libattest-verify; do
	[ -f "$lib/$l.so.0.1.0" ] && [ ! -L "$lib/$l.so.0.1.0" ] || fail "$l.so.0.1.0 is not a file"
	[ "$(readlink "$lib/$l.so.0")" = "$l.so.0.1.0" ] || fail "$l.so.0 does not point at $l.so.0.1.0"
	[ "$(readlink "$lib/$l.so")" = "$l.so.0" ] || fail "$l.so does not point at $l.so.0"
	soname=$(readelf -d "$lib/$l.so.0.1.0" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
	[ "$soname" = "$l.so.0" ] || fail "$l SONAME is '$soname'"
	# every export is attest_* at version ATTEST_0
	bad=$(nm -D --defined-only "$lib/$l.so.0.1.0" | awk '$2 != "A" {print $3}' |
		grep -v '^attest_[A-Za-z0-9_]*@@ATTEST_0$' || true)
	[ -z "$bad" ] || fail "$l exports $(echo "$bad" | head -n 3 | tr '\n' ' ')"
done
grep -qx "libdir=${lib#$root}" "$lib/pkgconfig/attest.pc" || fail "attest.pc libdir is not ${lib#$root}"
grep -q '^includedir=/usr/include$' "$lib/pkgconfig/attest.pc" || fail "attest.pc includedir"
for v in attestd attest-verifier attestctl attest-provision; do
	p=$root/usr/sbin/$v
	[ -x "$p" ] || p=$root/usr/bin/$v
	out=$("$p" --version) || fail "$v --version"
	[ "$out" = "$v 0.1.0" ] || fail "$v --version says '$out'"
done
# every command too
for c in "attestctl host enroll" "attestctl agent register" "attest-provision init" \
	"attest-verifier serve"; do
	set -- $c
	p=$root/usr/sbin/$1
	[ -x "$p" ] || p=$root/usr/bin/$1
	shift
	out=$("$p" "$@" --version) || fail "$c --version"
	[ "$out" = "${c%% *} 0.1.0" ] || fail "$c --version says '$out'"
done
# a usage error names the option once (it printed "----nonce-ttl")
for o in nonce-ttl request-deadline max-conns per-source leaf-cache issuer-cache ak-cache \
	rate-caller rate-host; do
	err=$("$root/usr/sbin/attest-verifier" serve --state "$tmp/x" --ca "$tmp/x" --$o 0 2>&1 || true)
	case $err in
	*"----"*) fail "attest-verifier serve --$o 0: $err" ;;
	*"--$o: \"0\""*) ;;
	*) fail "attest-verifier serve --$o 0 says: $err" ;;
	esac
done
# the installed configuration files parse
"$root/usr/sbin/attestd" --config "$root/etc/attestd/attestd.conf" --print-config >/dev/null ||
	fail "installed attestd.conf"
"$root/usr/sbin/attest-verifier" serve --config "$root/etc/attest-verifier/verifier.conf" \
	--print-config >/dev/null || fail "installed verifier.conf"
# the units: systemd-analyze verify (their ExecStart pointed into DESTDIR,
# where the binaries are) and the exposure score of systemd-analyze security
unitdir=$root/usr/lib/systemd/system
[ -d "$unitdir" ] || unitdir=$root/lib/systemd/system
for u in attestd attest-verifier; do
	[ -f "$unitdir/$u.service" ] || fail "$u.service not installed"
	grep -q "^ExecStart=/usr/sbin/$u" "$unitdir/$u.service" || fail "$u.service: ExecStart"
	grep -qx 'Type=notify' "$unitdir/$u.service" || fail "$u.service: not Type=notify"
done
grep -qx 'g attestd-agents -' "$root/usr/lib/sysusers.d/attestd.conf" || fail "sysusers: attestd-agents"
grep -q '^u attest-verifier ' "$root/usr/lib/sysusers.d/attest-verifier.conf" || fail "sysusers: attest-verifier"
# systemd (systemd-analyze) and man-db are in the Makefile's DEB_PKGS: make
# deps installs them, so a missing one is a set-up fault, not a skip
command -v systemd-analyze >/dev/null 2>&1 ||
	fail "systemd-analyze missing: run make deps as root (Debian package systemd)"
command -v man >/dev/null 2>&1 || fail "man missing: run make deps as root (Debian package man-db)"
{
	mkdir -p "$tmp/units"
	for u in attestd attest-verifier; do
		sed "s|^ExecStart=/usr/sbin/|ExecStart=$root/usr/sbin/|" "$unitdir/$u.service" \
			>"$tmp/units/$u.service"
	done
	systemd-analyze verify --man=no "$tmp/units/attestd.service" \
		"$tmp/units/attest-verifier.service" >"$tmp/verify.log" 2>&1 ||
		{ cat "$tmp/verify.log" >&2; fail "systemd-analyze verify"; }
	[ ! -s "$tmp/verify.log" ] || { cat "$tmp/verify.log" >&2; fail "systemd-analyze verify warned"; }
	for u in attestd attest-verifier; do
		score=$(systemd-analyze security --offline=true "$tmp/units/$u.service" 2>/dev/null |
			sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p')
		say "systemd-analyze verify: $u.service ok; security exposure ${score:-?}"
	done
}
# man pages: each renders without a warning; the hand-written ones say
# every option and every configuration key the binaries know
mandir=$root/usr/share/man
for p in man1/attestctl.1 man1/attest-provision.1 man8/attestd.8 man8/attest-verifier.8 \
	man5/attestd.conf.5 man5/verifier.conf.5; do
	[ -f "$mandir/$p" ] || [ -f "$mandir/$p.gz" ] || fail "man page $p not installed"
	[ -f "$mandir/$p" ] || gzip -dc "$mandir/$p.gz" >"$tmp/$(basename "$p")"
	[ ! -f "$mandir/$p" ] || cp "$mandir/$p" "$tmp/$(basename "$p")"
done
{
	for p in "$mandir"/man*/*; do
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$p" >"$tmp/man.out" 2>"$tmp/man.err" ||
			fail "man -l $p"
		[ ! -s "$tmp/man.err" ] || { cat "$tmp/man.err" >&2; fail "man --warnings: $p"; }
		[ -s "$tmp/man.out" ] || fail "man -l $p rendered nothing"
	done
	say "$(ls "$mandir"/man*/* | wc -l) man pages render without warnings (man --warnings -l)"
}
for o in $("$root/usr/sbin/attestd" --help | grep -o -- '--[a-z][a-z-]*' | grep -vx -- --help | sort -u); do
	pat=".It Fl \\${o#-}" # the page's "\-name" for --name
	grep -qF -- "$pat " "$tmp/attestd.8" || grep -qxF -- "$pat" "$tmp/attestd.8" ||
		fail "attestd.8 lacks $o"
done
keys() { tail -n +2 | sed -n 's/^\(# \)\{0,1\}\([a-z][a-z-]*\)[ =].*/\2/p'; }
for k in $("$root/usr/sbin/attestd" --print-config | keys); do
	grep -q "^\.It Cm .*\b$k\b" "$tmp/attestd.conf.5" || fail "attestd.conf.5 lacks $k"
done
for k in $("$root/usr/sbin/attest-verifier" serve --print-config | keys); do
	grep -q "^\.It Cm .*\b$k\b" "$tmp/verifier.conf.5" || fail "verifier.conf.5 lacks $k"
done
nman=$(find "$root/usr/share/man" -type f 2>/dev/null | wc -l)
say "installed $(find "$root" -type f | wc -l) files ($nman man pages) under DESTDIR"

# 2. a program built from attest.pc against the installed library
pc() {
	PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root" pkg-config "$@"
}
flags=$(pc --cflags --libs attest) || fail "pkg-config attest"
case $flags in *"$top"*) fail "attest.pc points into the source tree: $flags" ;; esac
mkdir -p "$tmp/ex"
# shellcheck disable=SC2086
${CC:-cc} -std=c11 -Wall -Wextra -Werror -o "$tmp/ex/agent_client.ld" \
	"$top/examples/agent_client.c" $flags || fail "agent_client does not build from attest.pc"
readelf -d "$tmp/ex/agent_client.ld" | grep -q 'NEEDED.*\[libattest.so.0\]' ||
	fail "agent_client does not need libattest.so.0"
objdump -T "$tmp/ex/agent_client.ld" | grep -q '(ATTEST_0) *attest_client_issue$' ||
	fail "agent_client does not bind attest_client_issue@ATTEST_0"
resolved=$(env -i LD_LIBRARY_PATH="$lib" ldd "$tmp/ex/agent_client.ld" |
	sed -n 's/.*libattest.so.0 => \([^ ]*\).*/\1/p')
[ "$resolved" = "$lib/libattest.so.0" ] || fail "libattest.so.0 resolves to '$resolved'"
env -i LD_LIBRARY_PATH="$lib" "$tmp/ex/agent_client.ld" --help >"$tmp/help.out" 2>&1 ||
	fail "agent_client --help against the installed library: $(cat "$tmp/help.out")"
grep -q -- '--agent' "$tmp/help.out" || fail "agent_client --help printed no usage"
say "agent_client built from 'pkg-config --cflags --libs attest' runs against $resolved"

[ "${ATTEST_INSTALL_NO_DEMO:-0}" = 1 ] || {
	# 3. the demo from the installed files. attestd starts agents with their
	# registered environment only, so the demo's agents find the installed
	# library through their RUNPATH, not LD_LIBRARY_PATH.
	# shellcheck disable=SC2086
	${CC:-cc} -std=c11 -Wall -Wextra -Werror -o "$tmp/ex/agent_client" \
		"$top/examples/agent_client.c" $flags -Wl,-rpath,"$lib" ||
		fail "agent_client (RUNPATH) does not build"
	cp "$root/usr/libexec/attestd/resource_server" "$tmp/ex/resource_server"
	path=$root/usr/sbin:$root/usr/bin:/usr/local/bin:/usr/bin:/bin
	case $path in *"$top"*) fail "the source tree is on PATH" ;; esac
	[ "$(env PATH="$path" sh -c 'command -v attestd')" = "$root/usr/sbin/attestd" ] ||
		fail "attestd does not resolve into DESTDIR"
	mkdir -p "$tmp/demo"
	if ! env -u LD_LIBRARY_PATH -u BUILD PATH="$path" TMPDIR="$tmp/demo" \
		ATTEST_DEMO_PATH="$root/usr/sbin:$root/usr/bin" ATTEST_DEMO_EXAMPLES="$tmp/ex" \
		sh "$top/scripts/demo.sh" >"$tmp/demo.log" 2>&1; then
		tail -n 40 "$tmp/demo.log" >&2
		fail "the demo from the installed files"
	fi
	grep -q '^== done:' "$tmp/demo.log" || fail "the demo did not reach its end"
	grep -q 'HTTP 200' "$tmp/demo.log" || fail "the demo shows no allowed request"
	say "the demo's enrolment, issuance and decision flow ran from DESTDIR ($(grep -c '^== ' "$tmp/demo.log") steps)"
}

# 4. uninstall
[ -z "$debs" ] || { echo "test-install: ok (packages)"; exit 0; }
"$MAKE" -C "$top" --no-print-directory BUILD="$BUILD" DESTDIR="$root" PREFIX=/usr \
	uninstall >"$tmp/uninstall.log" 2>&1 || { cat "$tmp/uninstall.log" >&2; fail "make uninstall"; }
left=$(find "$root" -type f ! -path "$root/etc/*" | sed "s|^$root||")
[ -z "$left" ] || fail "make uninstall left $(echo "$left" | head -n 5 | tr '\n' ' ')"
say "make uninstall removed everything but /etc"
echo "test-install: ok"
