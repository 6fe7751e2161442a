"""Recover a JSON object from an LLM's reply (pure; no I/O).

Local models often wrap JSON in prose or Markdown fences, leave trailing commas, or quote with
single quotes. `extract_json_object` tries, in order: the text as is, the text of a fenced code
block, the outermost `{...}` span (found by a quote-aware brace scan), and each of those with
minimal repairs (trailing commas dropped, single-quoted strings turned into double-quoted ones,
Python's True/False/None turned into JSON's). Anything that is still not a JSON object gives
None: the caller retries or falls back, it never guesses further.
"""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}


def _loads_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def top_level_objects(text: str) -> list[str]:
    """Every balanced top-level `{...}` span of `text`, in order; braces inside strings ignored.

    Strings may be quoted with " or ' (so a reply in Python-dict style is scanned correctly;
    an apostrophe inside a word, as in "don't", is not a quote). A span cut off is left out.
    """
    spans: list[str] = []
    depth = 0
    start = -1
    quote: str | None = None
    escaped = False
    for i, ch in enumerate(text):
        if depth == 0:
            if ch == "{":
                depth, start, quote, escaped = 1, i, None, False
            continue
        if quote is not None:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch == '"' or (ch == "'" and not text[i - 1].isalnum()):
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    return spans


def outermost_object(text: str) -> str | None:
    """The longest top-level `{...}` span of `text` (None when there is none)."""
    spans = top_level_objects(text)
    return max(spans, key=len) if spans else None


def repair(text: str) -> str:
    """Minimal, string-aware repairs: single-quoted strings become double-quoted, trailing
    commas before `}`/`]` are dropped, bare True/False/None become true/false/null."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"' or ch == "'":
            # copy a string, re-quoting it with double quotes
            quote = ch
            j = i + 1
            buf: list[str] = []
            while j < n:
                c = text[j]
                if c == "\\" and j + 1 < n:
                    nxt = text[j + 1]
                    if quote == "'" and nxt == "'":
                        buf.append("'")
                    else:
                        buf.append(c + nxt)
                    j += 2
                    continue
                if c == quote:
                    break
                if quote == "'" and c == '"':
                    buf.append('\\"')
                else:
                    buf.append(c)
                j += 1
            out.append('"' + "".join(buf) + '"')
            i = j + 1
            continue
        if ch == ",":
            k = i + 1
            while k < n and text[k] in " \t\r\n":
                k += 1
            if k < n and text[k] in "}]":
                i += 1  # drop the trailing comma
                continue
        if ch.isalpha():
            k = i
            while k < n and (text[k].isalnum() or text[k] == "_"):
                k += 1
            word = text[i:k]
            out.append(_PY_LITERALS.get(word, word))
            i = k
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _candidates(text: str) -> list[str]:
    seen: list[str] = []

    def add(candidate: str | None) -> None:
        if candidate is not None:
            candidate = candidate.strip()
            if candidate and candidate not in seen:
                seen.append(candidate)

    add(text)
    for block in _FENCE.findall(text):
        add(block)
        for span in sorted(top_level_objects(block), key=len, reverse=True):
            add(span)
    for span in sorted(top_level_objects(text), key=len, reverse=True):
        add(span)
    return seen


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in an LLM reply, repaired minimally; None when there is none."""
    if not text:
        return None
    candidates = _candidates(text)
    for candidate in candidates:
        value = _loads_object(candidate)
        if value is not None:
            return value
    for candidate in candidates:
        value = _loads_object(repair(candidate))
        if value is not None:
            return value
    return None
