#!/usr/bin/env python3
"""Checks that every code block of a Markdown guide is an excerpt of a program the tests build and run.

    check_guide.py DOC SNIPPET_DIR [--update]

In DOC, each fenced code block is introduced by a marker on the line right before its opening fence:

    <!-- snippet: guide_kv.cpp#kv-token-major -->
    ```cpp
    ...
    ```

naming a file of SNIPPET_DIR (every .cpp there is built and run by ctest as snippet_<name>) and an excerpt
in it, delimited by comment lines

    // [guide:kv-token-major]
    ...
    // [/guide:kv-token-major]

The excerpt is the lines between the two markers, with marker lines of other excerpts (nested or
overlapping) left out, the common indentation removed and trailing blanks stripped. The check fails when:
  * a code block has no marker, or names a missing file or excerpt;
  * a block differs from its excerpt (a unified diff is printed);
  * an excerpt marker is unbalanced or duplicated in a guide_*.cpp file;
  * an excerpt defined in a guide_*.cpp file is used by no block (documentation that lost its code);
  * a relative link of DOC points to a file that does not exist, or a #link to a heading DOC lacks.
--update rewrites the blocks of DOC from their excerpts (then checks again). Python 3 standard library only.
"""

import difflib
import os
import re
import sys

MARKER = re.compile(r"^\s*<!--\s*snippet:\s*([A-Za-z0-9_.\-/]+)#([A-Za-z0-9_.\-]+)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
EXCERPT = re.compile(r"^\s*//\s*\[(/?)guide:([A-Za-z0-9_.\-]+)\]\s*$")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")


def dedent(lines):
    indents = [len(l) - len(l.lstrip(" ")) for l in lines if l.strip()]
    cut = min(indents) if indents else 0
    return [l[cut:].rstrip() if l.strip() else "" for l in lines]


def parse_excerpts(path, errors):
    """name -> list of lines, for every excerpt of a source file."""
    lines = read_lines(path)
    open_at = {}
    spans = {}
    for i, line in enumerate(lines):
        m = EXCERPT.match(line)
        if not m:
            continue
        closing, name = m.group(1) == "/", m.group(2)
        where = f"{path}:{i + 1}"
        if not closing:
            if name in open_at or name in spans:
                errors.append(f"{where}: excerpt '{name}' is opened twice")
            open_at[name] = i
        else:
            if name not in open_at:
                errors.append(f"{where}: excerpt '{name}' is closed but was never opened")
                continue
            spans[name] = (open_at.pop(name), i)
    for name, i in open_at.items():
        errors.append(f"{path}:{i + 1}: excerpt '{name}' is never closed")
    out = {}
    for name, (a, b) in spans.items():
        body = [l for l in lines[a + 1 : b] if not EXCERPT.match(l)]
        while body and not body[0].strip():
            body.pop(0)
        while body and not body[-1].strip():
            body.pop()
        out[name] = dedent(body)
    return out


def parse_blocks(doc_lines, errors, doc):
    """(marker, fence line index, closing fence index, body lines) for every fenced block."""
    blocks = []
    i = 0
    while i < len(doc_lines):
        m = FENCE.match(doc_lines[i])
        if not m:
            i += 1
            continue
        indent, fence = m.group(1), m.group(2)
        j = i + 1
        while j < len(doc_lines):
            c = FENCE.match(doc_lines[j])
            if c and c.group(2)[0] == fence[0] and len(c.group(2)) >= len(fence) and not c.group(3).strip():
                break
            j += 1
        if j == len(doc_lines):
            errors.append(f"{doc}:{i + 1}: code block is never closed")
            return blocks
        marker = MARKER.match(doc_lines[i - 1]) if i > 0 else None
        if not marker:
            errors.append(f"{doc}:{i + 1}: code block without a '<!-- snippet: FILE#EXCERPT -->' line right before it")
        body = [l[len(indent):] if l.startswith(indent) else l for l in doc_lines[i + 1 : j]]
        blocks.append(((marker.group(1), marker.group(2)) if marker else None, i, j, [l.rstrip() for l in body]))
        i = j + 1
    return blocks


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    update = "--update" in argv[1:]
    if len(args) != 2:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    doc, snippet_dir = args
    errors = []
    excerpts = {}  # file -> {name: lines}
    for fname in sorted(os.listdir(snippet_dir)):
        if fname.endswith(".cpp"):
            excerpts[fname] = parse_excerpts(os.path.join(snippet_dir, fname), errors)

    doc_lines = read_lines(doc)
    blocks = parse_blocks(doc_lines, errors, doc)
    used = set()
    replacements = []
    for marker, start, end, body in blocks:
        if marker is None:
            continue
        fname, name = marker
        if fname not in excerpts:
            errors.append(f"{doc}:{start + 1}: snippet file '{fname}' is not in {snippet_dir}")
            continue
        if name not in excerpts[fname]:
            errors.append(f"{doc}:{start + 1}: '{fname}' has no excerpt '{name}' (// [guide:{name}] … // [/guide:{name}])")
            continue
        used.add((fname, name))
        want = excerpts[fname][name]
        if body != want:
            if update:
                replacements.append((start, end, want))
            else:
                diff = difflib.unified_diff(body, want, f"{doc} (block at line {start + 1})", f"{fname}#{name}", lineterm="")
                errors.append(f"{doc}:{start + 1}: block differs from {fname}#{name}:\n" + "\n".join(diff))

    for fname, names in excerpts.items():
        if not fname.startswith("guide_"):
            continue
        for name in sorted(names):
            if (fname, name) not in used:
                errors.append(f"{os.path.join(snippet_dir, fname)}: excerpt '{name}' is not used by any block of {doc}")

    # Headings outside code blocks, as GitHub turns them into anchors.
    in_block = set()
    for _, start, end, _ in blocks:
        in_block.update(range(start, end + 1))
    anchors = set()
    for i, line in enumerate(doc_lines):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m and i not in in_block:
            anchors.add(re.sub(r"[^\w\- ]", "", m.group(1).replace("`", "").lower()).replace(" ", "-"))
    base = os.path.dirname(os.path.abspath(doc))
    for i, line in enumerate(doc_lines):
        if i in in_block:
            continue
        for target in LINK.findall(line):
            if target.startswith("#"):
                if target[1:] not in anchors:
                    errors.append(f"{doc}:{i + 1}: link '{target}' names no heading of {doc}")
                continue
            if re.match(r"^[a-z]+:", target):
                continue
            path = target.split("#", 1)[0]
            if path and not os.path.exists(os.path.join(base, path)):
                errors.append(f"{doc}:{i + 1}: link target '{target}' does not exist")

    if update and replacements:
        for start, end, want in reversed(replacements):
            indent = FENCE.match(doc_lines[start]).group(1)
            doc_lines[start + 1 : end] = [indent + l if l else "" for l in want]
        with open(doc, "w", encoding="utf-8") as f:
            f.write("\n".join(doc_lines))
        print(f"check_guide: updated {len(replacements)} block(s) of {doc}")
        return main([argv[0], doc, snippet_dir])

    if errors:
        for e in errors:
            print(e, file=sys.stderr)
        print(f"check_guide: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_guide: {len(blocks)} code blocks of {doc} match their excerpts")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
