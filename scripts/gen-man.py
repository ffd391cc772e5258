#!/usr/bin/env python3
"""gen-man.py - a man page from a hand-written mdoc page and the program's
own --help (like help2man, for the cli/ framework's help format).

    gen-man.py BINARY PAGE.in OUT

PAGE.in is mdoc written by hand (NAME, SYNOPSIS, DESCRIPTION, FILES,
ENVIRONMENT, EXIT STATUS, EXAMPLES, SEE ALSO...). Its line `.\\" @COMMANDS@`
is replaced by a COMMANDS section made from `BINARY --help` and each
`BINARY COMMAND --help`: every command with its summary, its description and
every option with its help, so the page lists what the binary accepts and
nothing else. Text from the binary is escaped for roff (backslashes, lines
starting with '.' or "'"). Exit 1 if the binary's help cannot be read.
"""
import re
import subprocess
import sys


def helptext(binary, words):
    p = subprocess.run([binary] + words + ["--help"], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    out = p.stdout if p.stdout.strip() else p.stderr
    # --help exits 0; anything else is an error message, not a help text
    # (e.g. a command over cli.h's CLI_MAX_OPTS), never put in the page
    if p.returncode != 0:
        sys.exit("gen-man: %s %s --help failed (exit %d): %s" %
                 (binary, " ".join(words), p.returncode, out.strip()[:200]))
    if not out.strip():
        sys.exit("gen-man: %s %s --help printed nothing" % (binary, " ".join(words)))
    return out


def esc(s):
    s = s.replace("\\", "\\e")
    if s.startswith(".") or s.startswith("'"):
        s = "\\&" + s
    return s


def commands_of(text):
    """the (words, summary) pairs of a 'Commands:' section"""
    cmds, inside = [], False
    for line in text.splitlines():
        if line.startswith("Commands:"):
            inside = True
            continue
        if inside:
            if not line.startswith("  "):
                if cmds:
                    break
                continue
            m = re.match(r"^  (\S+(?: \S+)?)\s{2,}(.*)$", line)
            if m:
                cmds.append((m.group(1).split(" "), m.group(2)))
    return cmds


def parse_command(text):
    """summary, description lines, options [(name, metavar, help)], or None
    when the text is not in the cli framework's command format"""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("Usage:") or "Options:" not in lines:
        return None
    i = 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    summary = lines[i].strip() if i < len(lines) else ""
    j = lines.index("Options:")
    desc = [l for l in lines[i + 1:j]]
    while desc and not desc[0].strip():
        desc.pop(0)
    while desc and not desc[-1].strip():
        desc.pop()
    opts = []
    for line in lines[j + 1:]:
        m = re.match(r"^  --([a-z0-9-]+)(?: (\S+))?\s{2,}(.*)$", line)
        if m is None:
            # a long option and metavar leave one space before the help
            m = re.match(r"^  --([a-z0-9-]+) (\S+) (\S.*)$", line)
        if m is None:
            m2 = re.match(r"^  --([a-z0-9-]+)(?: (\S+))?$", line)
            if m2 is None:
                continue
            m = (m2.group(1), m2.group(2), "")
        else:
            m = (m.group(1), m.group(2), m.group(3))
        if m[0] in ("help", "version"):
            continue
        opts.append(m)
    return summary, desc, opts


def emit_command(binary, words, summary, out):
    text = helptext(binary, words)
    sub = commands_of(text)
    if sub:  # a group: its subcommands in turn
        for w, s in sub:
            emit_command(binary, words + w, s, out)
        return
    parsed = parse_command(text)
    out.append(".It Cm %s Op Ar options" % " ".join(words))
    if parsed is None:
        usages = re.findall(r"^(?:usage: |\s+)%s (%s \S+)" % (re.escape(binary.split("/")[-1]),
                                                            re.escape(" ".join(words))),
                            text, re.M)
        if usages:  # subcommands named only by a free-form usage text
            out.pop()
            for u in usages:
                emit_command(binary, u.split(" "), "", out)
            return
        out.append(esc(summary))
        out.append(".Bd -literal")
        out.extend(esc(l) for l in text.rstrip("\n").splitlines())
        out.append(".Ed")
        return
    summ, desc, opts = parsed
    out.append(esc(summ[:1].upper() + summ[1:]) + ("" if summ.endswith(".") else "."))
    if desc:
        # paragraphs are filled; indented lines (examples, steps) kept as
        # they are in a literal display
        out.append(".Pp")
        literal = False
        for l in desc:
            indented = l.startswith(" ") and l.strip() != ""
            if indented and not literal:
                out.append(".Bd -literal -offset indent")
                literal = True
            elif not indented and literal:
                out.append(".Ed")
                literal = False
            if not l.strip():
                out.append(".Pp")
            else:
                out.append(esc(l.strip() if not literal else l[2:]))
        if literal:
            out.append(".Ed")
    if opts:
        out.append(".Pp")
        out.append(".Bl -tag -width Ds -compact")
        for name, meta, hlp in opts:
            out.append(".It Fl \\-%s%s" % (name, " Ar %s" % esc(meta) if meta else ""))
            out.append(esc(hlp) if hlp else "")
        out.append(".El")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    binary, page_in, out_path = sys.argv[1:]
    top = helptext(binary, [])
    cmds = commands_of(top)
    body = [".Sh COMMANDS", "Each command also takes", "\\fB\\-\\-help\\fR", "(its options) and",
            "\\fB\\-\\-version\\fR.", ".Bl -tag -width Ds"]
    for words, summary in cmds:
        emit_command(binary, words, summary, body)
    body.append(".El")
    with open(page_in) as f:
        page = f.read()
    marker = '.\\" @COMMANDS@\n'
    if marker not in page:
        sys.exit("gen-man: %s has no @COMMANDS@ line" % page_in)
    page = page.replace(marker, "\n".join(l for l in body if l != "") + "\n")
    with open(out_path, "w") as f:
        f.write(page)


if __name__ == "__main__":
    main()
