#!/usr/bin/env python3
"""gen_unicode.py: generate src/tokenizer/unicode_data.c from the Unicode Character Database.

The byte-level BPE pre-tokenizers (qwen2, qwen35) need four properties per code
point: \\p{L} (letter), \\p{M} (mark), \\p{N} (number) and \\s (White_Space).
This script turns UnicodeData.txt (general categories) and PropList.txt
(White_Space) into one compact table of runs: `ag_uni_run_start[i]` is the
first code point of run i and `ag_uni_run_flags[i]` its flags, so a lookup is
a binary search for the last run starting at or before the code point. The
ASCII range also gets a direct 128-entry table for the common case.

Why runs and not a 0x110000-entry array (what llama.cpp builds at startup):
the run table is ~10 KB of constant data, needs no initialisation and no heap,
and the binary search costs ~11 steps for non-ASCII text, which is negligible
next to BPE. A two-level page table would be faster but bigger and harder to
read; rejected until profiling says otherwise.

The White_Space set is the one llama.cpp's unicode_cpt_flags use (PropList's
White_Space: U+0009..U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A,
U+2028, U+2029, U+202F, U+205F, U+3000); the script checks that the file
agrees with that list so a future UCD change is noticed rather than silently
followed.

Usage (from the repository root; needs `apt-get install unicode-data`):
    python3 scripts/gen_unicode.py [--ucd /usr/share/unicode] [--out src/tokenizer/unicode_data.c]
"""
import argparse
import os
import re
import sys

MAX_CP = 0x110000

FLAG_LETTER = 1
FLAG_MARK = 2
FLAG_NUMBER = 4
FLAG_SPACE = 8

EXPECTED_WHITESPACE = (list(range(0x09, 0x0E)) + [0x20, 0x85, 0xA0, 0x1680] +
                       list(range(0x2000, 0x200B)) + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000])


def read_categories(path):
    """Yields (code point, general category) for every assigned code point."""
    first = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            if len(fields) < 15:
                continue
            cp = int(fields[0], 16)
            name, cat = fields[1], fields[2]
            if name.endswith(", First>"):
                first = (cp, cat)
                continue
            if name.endswith(", Last>"):
                assert first is not None and first[1] == cat, "unpaired range at %04X" % cp
                for c in range(first[0], cp + 1):
                    yield c, cat
                first = None
                continue
            yield cp, cat


def read_lowercase(path):
    """Simple lowercase mappings cp -> lower (field 13)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            if len(fields) >= 15 and fields[13]:
                out[int(fields[0], 16)] = int(fields[13], 16)
    return out


def read_whitespace(path):
    ws = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            rng, prop = [x.strip() for x in line.split(";")]
            if prop != "White_Space":
                continue
            if ".." in rng:
                a, b = [int(x, 16) for x in rng.split("..")]
            else:
                a = b = int(rng, 16)
            ws.extend(range(a, b + 1))
    return sorted(ws)


def read_version(path):
    with open(path, encoding="utf-8") as f:
        head = f.readline()
    m = re.search(r"-(\d+\.\d+\.\d+)\.txt", head)
    if not m:
        sys.exit("cannot find the Unicode version in the first line of %s" % path)
    return m.group(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ucd", default="/usr/share/unicode", help="UCD directory")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "src", "tokenizer", "unicode_data.c"))
    args = ap.parse_args()

    udata = os.path.join(args.ucd, "UnicodeData.txt")
    plist = os.path.join(args.ucd, "PropList.txt")
    version = read_version(plist)

    flags = bytearray(MAX_CP)
    for cp, cat in read_categories(udata):
        if cat[0] == "L":
            flags[cp] = FLAG_LETTER
        elif cat[0] == "M":
            flags[cp] = FLAG_MARK
        elif cat[0] == "N":
            flags[cp] = FLAG_NUMBER

    ws = read_whitespace(plist)
    if ws != EXPECTED_WHITESPACE:
        sys.exit("White_Space in %s differs from the set llama.cpp uses: %s" %
                 (plist, ["%04X" % c for c in ws]))
    for cp in ws:
        assert flags[cp] == 0, "whitespace U+%04X has a letter/mark/number category" % cp
        flags[cp] |= FLAG_SPACE

    # The scanners match the contractions 's 't 're 've 'm 'll 'd case-insensitively
    # with ASCII comparisons; llama.cpp uses unicode_tolower(). They agree only if no
    # non-ASCII code point lowercases to one of those letters: check it.
    for cp, lower in read_lowercase(udata).items():
        if cp >= 0x80 and chr(lower) in "stmdrevl":
            sys.exit("U+%04X lowercases to '%s': the ASCII contraction match is not enough" %
                     (cp, chr(lower)))

    starts, run_flags = [0], [flags[0]]
    for cp in range(1, MAX_CP):
        if flags[cp] != run_flags[-1]:
            starts.append(cp)
            run_flags.append(flags[cp])

    lines = []
    w = lines.append
    w("/* unicode_data.c: generated by scripts/gen_unicode.py from UnicodeData.txt version %s" % version)
    w(" * (and PropList.txt White_Space); do not edit.")
    w(" *")
    w(" * Runs of code points with equal flags (AG_UNI_LETTER \\p{L}, AG_UNI_MARK \\p{M},")
    w(" * AG_UNI_NUMBER \\p{N}, AG_UNI_SPACE \\s): run i covers ag_uni_run_start[i] up to")
    w(" * the next start. See src/tokenizer/unicode.h for the lookup. */")
    w('#include "tokenizer/unicode.h"')
    w("")
    w('const char ag_uni_version[] = "%s";' % version)
    w("")
    w("const uint8_t ag_uni_ascii[128] = {")
    for i in range(0, 128, 16):
        w("    " + " ".join("%d," % flags[c] for c in range(i, i + 16)))
    w("};")
    w("")
    w("const uint32_t ag_uni_n_runs = %d;" % len(starts))
    w("")
    w("const uint32_t ag_uni_run_start[%d] = {" % len(starts))
    for i in range(0, len(starts), 8):
        w("    " + " ".join("0x%05X," % s for s in starts[i:i + 8]))
    w("};")
    w("")
    w("const uint8_t ag_uni_run_flags[%d] = {" % len(starts))
    for i in range(0, len(run_flags), 24):
        w("    " + " ".join("%d," % f for f in run_flags[i:i + 24]))
    w("};")
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s: Unicode %s, %d runs" % (args.out, version, len(starts)))


if __name__ == "__main__":
    main()
