#!/bin/sh
# check-hardening.sh - inspect the built binaries and libraries for the
# hardening the Makefile asks for (issue 12, item 4). Run by make check.
#
# Every ELF we ship (the four programs, libattest.so, libattest-verify.so,
# the examples):
#   GNU_STACK present and not executable         -z noexecstack
#   GNU_RELRO present and BIND_NOW (NOW flag)    -z relro -z now
#   programs: ET_DYN with the PIE flag           -fPIE -pie
#   __stack_chk_fail imported                    -fstack-protector-strong
#   at least one __*_chk import                  -D_FORTIFY_SOURCE (not in SAN builds)
# Every object file we compile (BUILD/obj):
#   .note.gnu.property with x86 IBT and SHSTK    -fcf-protection (x86-64)
# (The linked programs lose that note: the linker keeps it only when every
# input has it, and Debian 12's crt1.o/crti.o do not. The code we compile
# still carries the endbr64 landing pads.)
# -fstack-clash-protection and _FORTIFY_SOURCE=3 leave no marker of their
# level in a binary: probes compiled with make's CFLAGS (make print-cflags)
# show them: page-by-page stack probes for a large frame, and a checked
# memcpy into a buffer of run-time size, which level 2 leaves unchecked.
#
# BUILD=dir (default build); SAN=1 for a sanitizer build (no fortify there).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
cd "$top"
fail=0
bad() { echo "check-hardening: $1: $2" >&2; fail=1; }

command -v readelf >/dev/null || { echo "check-hardening: readelf missing (binutils)" >&2; exit 1; }

progs="attestctl attest-provision attestd attest-verifier"
libs="libattest.so libattest-verify.so"
files=""
for p in $progs; do files="$files $build/$p"; done
for l in $libs; do files="$files $build/$l"; done
for e in "$build"/examples/*; do [ -f "$e" ] && [ -x "$e" ] && files="$files $e"; done

arch=$(uname -m)
n=0
for f in $files; do
	[ -f "$f" ] || { bad "$f" "missing (build first)"; continue; }
	n=$((n + 1))
	hdr=$(readelf -hW "$f")
	ph=$(readelf -lW "$f")
	dyn=$(readelf -dW "$f")
	syms=$(readelf --dyn-syms -W "$f")
	stack=$(echo "$ph" | awk '$1 == "GNU_STACK" { print $7 }')
	case "$stack" in
	"") bad "$f" "no GNU_STACK header (stack executable by default)" ;;
	*E*) bad "$f" "executable stack (GNU_STACK $stack)" ;;
	esac
	echo "$ph" | grep -q 'GNU_RELRO' || bad "$f" "no GNU_RELRO segment"
	echo "$dyn" | grep -Eq '\(BIND_NOW\)|\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW' ||
		bad "$f" "not linked with -z now (no BIND_NOW)"
	case "$f" in
	*.so) ;;
	*)
		echo "$hdr" | grep -Eq 'Type:[[:space:]]+DYN' || bad "$f" "not position independent (ELF type is not DYN)"
		echo "$dyn" | grep -Eq '\(FLAGS_1\).*PIE' || bad "$f" "no PIE flag in FLAGS_1"
		;;
	esac
	echo "$syms" | grep -q '__stack_chk_fail' || bad "$f" "no stack protector (__stack_chk_fail not imported)"
	if [ -z "${SAN:-}" ]; then
		echo "$syms" | grep -Eq ' __[a-z_]+_chk(@|$)' || bad "$f" "no _FORTIFY_SOURCE checks (__*_chk not imported)"
	fi
done
[ "$n" -gt 0 ] || bad "$build" "no binaries found"

if [ "$arch" = x86_64 ]; then
	nobj=0
	for o in $(find "$build/obj" -name '*.o' | sort); do
		# an object whose source is gone (a renamed file) is linked into
		# nothing, and one older than BUILD/flags (the Makefile rewrites it
		# when the flags change) is rebuilt before any link: not ours to judge
		src=${o#"$build/obj/"}
		[ -f "${src%.o}.c" ] || continue
		[ ! -f "$build/flags" ] || [ "$o" -nt "$build/flags" ] || continue
		nobj=$((nobj + 1))
		notes=$(readelf -nW "$o")
		case "$notes" in
		*IBT*SHSTK*) ;;
		*) bad "$o" "no x86 IBT and SHSTK property (-fcf-protection)" ;;
		esac
	done
	[ "$nobj" -gt 0 ] || bad "$build/obj" "no object files"
fi

# _FORTIFY_SOURCE=3 and stack-clash probes: compile probes with the flags
# make uses (make print-cflags) and look at what the compiler made.
flags=$(make -s --no-print-directory BUILD="$build" SAN="${SAN:-}" print-cflags)
case "$flags" in
*-fstack-clash-protection*) ;;
*) bad "CFLAGS" "no -fstack-clash-protection" ;;
esac
case "$flags" in
*-fcf-protection*) ;;
*) bad "CFLAGS" "no -fcf-protection" ;;
esac
if [ -z "${SAN:-}" ]; then
	case "$flags" in
	*-D_FORTIFY_SOURCE=3*) ;;
	*) bad "CFLAGS" "no -D_FORTIFY_SOURCE=3" ;;
	esac
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/hardening.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# Level 3 knows sizes only __builtin_dynamic_object_size sees: a
	# buffer of run-time size. Level 2 leaves this memcpy unchecked.
	cat >"$tmp/f3.c" <<'EOF'
#include <stdlib.h>
#include <string.h>
char *probe(size_t n, const char *src, size_t len);
char *probe(size_t n, const char *src, size_t len)
{
	char *p = malloc(n);
	if (p != NULL)
		memcpy(p, src, len);
	return p;
}
EOF
	# shellcheck disable=SC2086
	${CC:-cc} $flags -c "$tmp/f3.c" -o "$tmp/f3.o" 2>"$tmp/f3.err" || bad "probe" "$(cat "$tmp/f3.err")"
	readelf -sW "$tmp/f3.o" | grep -q '__memcpy_chk' ||
		bad "CFLAGS" "_FORTIFY_SOURCE=3 is not effective (no __memcpy_chk for a malloc'd buffer)"
	# Stack-clash protection probes each page of a large frame (x86-64: an
	# "or $0x0,(%rsp)" per 4 KiB) instead of one big sub.
	cat >"$tmp/sc.c" <<'EOF'
#include <string.h>
int probe(const char *s);
int probe(const char *s)
{
	char big[64 * 1024];
	strncpy(big, s, sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	return (int)strlen(big);
}
EOF
	# shellcheck disable=SC2086
	${CC:-cc} $flags -S "$tmp/sc.c" -o "$tmp/sc.s" 2>"$tmp/sc.err" || bad "probe" "$(cat "$tmp/sc.err")"
	if [ "$arch" = x86_64 ]; then
		grep -Eq 'orq?[[:space:]]+\$0, *\(%rsp\)' "$tmp/sc.s" ||
			bad "CFLAGS" "-fstack-clash-protection made no stack probes"
	fi
fi

if [ "$fail" -ne 0 ]; then
	echo "check-hardening: FAILED" >&2
	exit 1
fi
echo "check-hardening: $n ELF files: noexecstack, relro+now, PIE, stack protector$( [ -z "${SAN:-}" ] && echo ', fortify 3, stack-clash probes'); objects: CET"
