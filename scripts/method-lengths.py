#!/usr/bin/env python3
"""Lists the longest methods (constructors, accessors and operators included) of C# sources, longest first.

Usage: scripts/method-lengths.py [--top N] [--max LINES] DIR...
A method's length is its lines from the first line of its signature to its closing brace (or, expression-bodied, to
its ';'), local functions included. With --max, exits 1 when a method is longer. A small lexer, not a parser: it skips
comments, strings (verbatim, raw and interpolated) and char literals, then matches braces; a brace block is a type body
when its header declares a type (class, struct, record, interface, enum, namespace, an extension block), a member
otherwise.
"""
import argparse
import pathlib
import re
import sys

TYPE_HEADER = re.compile(r"\b(class|struct|record|interface|enum|namespace)\b")
MEMBER_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:<[^()]*>)?)\s*\(")
PROPERTY_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*$")


def code_chars(text):
    """Yields (index, char) of code only: comments, strings and char literals are left out."""
    i, n = 0, len(text)
    holes = []  # for interpolated strings: brace depth inside each open hole

    def skip_string(i):
        # text[i] starts a string literal (after any $/@ prefix handling by the caller); returns the index after it.
        start = i
        interpolated = verbatim = False
        while text[i] in "$@":
            interpolated |= text[i] == "$"
            verbatim |= text[i] == "@"
            i += 1
        if text.startswith('"""', i):  # raw string literal
            quotes = 0
            while i < n and text[i] == '"':
                quotes += 1
                i += 1
            end = text.find('"' * quotes, i)
            return n if end < 0 else end + quotes
        i += 1  # the opening quote
        while i < n:
            c = text[i]
            if verbatim and c == '"' and i + 1 < n and text[i + 1] == '"':
                i += 2
            elif not verbatim and c == "\\":
                i += 2
            elif c == '"':
                return i + 1
            elif interpolated and c == "{":
                if i + 1 < n and text[i + 1] == "{":
                    i += 2
                else:
                    i = skip_hole(i + 1)
            else:
                i += 1
        return i

    def skip_hole(i):
        depth = 1
        while i < n and depth > 0:
            c = text[i]
            if c == '"' or (c in "$@" and i + 1 < n and text[i + 1] in '"$@'):
                i = skip_string(i)
                continue
            if c == "'":
                i = skip_char(i)
                continue
            depth += c == "{"
            depth -= c == "}"
            i += 1
        return i

    def skip_char(i):
        j = i + 1
        if j < n and text[j] == "\\":
            j += 2
        else:
            j += 1
        while j < n and text[j] != "'":
            j += 1
        return j + 1

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            i = text.find("*/", i)
            i = n if i < 0 else i + 2
        elif c == '"' or (c in "$@" and i + 1 < n and text[i + 1] in '"$@'):
            i = skip_string(i)
            yield i - 1, " "  # a string separates tokens
        elif c == "'":
            i = skip_char(i)
        else:
            yield i, c
            i += 1


def methods(path):
    text = path.read_text(encoding="utf-8-sig")
    line_of = [0] * (len(text) + 1)
    line = 1
    for k, ch in enumerate(text):
        line_of[k] = line
        line += ch == "\n"
    line_of[len(text)] = line

    stack = []  # (kind, start_index, name) per open brace; kind 'type' | 'member' | 'inner'
    header_start = None  # index of the first code char of the current header
    header = []
    results = []
    for i, c in code_chars(text):
        if header_start is None and not c.isspace():
            header_start = i
        if c in "{;}":
            head = "".join(header).strip()
            in_type = not stack or stack[-1][0] == "type"
            if c == "{":
                if in_type and is_type_header(head):
                    stack.append(("type", header_start, None))
                elif in_type and head:
                    stack.append(("member", header_start, member_name(head)))
                else:
                    stack.append(("inner", None, None))
            elif c == "}":
                if stack:
                    kind, start, name = stack.pop()
                    if kind == "member":
                        results.append((line_of[i] - line_of[start] + 1, path, line_of[start], name))
            elif c == ";" and in_type and "=>" in head:
                results.append((line_of[i] - line_of[header_start] + 1, path, line_of[header_start], member_name(head)))
            header, header_start = [], None
        else:
            header.append(c)
    return results


def is_type_header(head):
    # Only what comes before the first '(' declares a type: `where T : class` constraints and `record R(...)` both work.
    before = head.split("(")[0]
    return bool(TYPE_HEADER.search(before)) or bool(re.search(r"\bextension\s*$", before))


KEYWORDS = {"static", "public", "private", "protected", "internal", "async", "override", "virtual", "new", "readonly",
            "unsafe", "extern", "sealed", "abstract", "partial", "implicit", "explicit", "operator"}


def member_name(head):
    head = re.sub(r"\[[^\]]*\]", " ", head)  # attributes
    before_body = head.split("=>")[0]
    # The parameter list's '(' follows the name: skip modifiers before a tuple return type, `static (int A, int B) Run(`.
    for match in MEMBER_NAME.finditer(before_body):
        if match.group(1) not in KEYWORDS:
            return match.group(1)
    prop = PROPERTY_NAME.search(before_body.strip())
    return prop.group(1) if prop else before_body.strip()[:40]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--max", type=int)
    parser.add_argument("dirs", nargs="+")
    args = parser.parse_args()
    found = []
    for d in args.dirs:
        for path in sorted(pathlib.Path(d).rglob("*.cs")):
            if {"bin", "obj"} & set(path.parts):
                continue
            found.extend(methods(path))
    found.sort(key=lambda r: (-r[0], str(r[1]), r[2]))
    for length, path, line, name in found[: args.top]:
        print(f"{length:5} {path}:{line} {name}")
    if args.max is not None:
        over = [r for r in found if r[0] > args.max]
        if over:
            print(f"{len(over)} method(s) over {args.max} lines", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
