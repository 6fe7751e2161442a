"""Splitting text into sentences (no I/O), shared by the note and summary fallbacks."""

from __future__ import annotations

import re

# Abbreviations after which a full stop does not end a sentence (lower case, no final dot).
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e eg ie approx dept fig no inc ltd co cf "
    "a.m p.m".split()
)
_SENTENCE_END_RE = re.compile(r"([.!?…。！？]+)([\"'”’)\]]*)(?:\s+|$)")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, whitespace collapsed, blank ones dropped.

    A line break always ends a sentence; so does terminal punctuation followed by a space or
    the end of the line, except a full stop after a known abbreviation or a single-letter
    initial, or one followed by a lower-case letter ("e.g. this", "J. Smith", "3 p.m. today").
    """
    out: list[str] = []
    for raw_line in text.splitlines():
        line = " ".join(raw_line.split())
        if not line:
            continue
        start = 0
        for m in _SENTENCE_END_RE.finditer(line):
            end = m.end()
            if m.group(1) == "." and end < len(line):
                before = line[start : m.start()].rsplit(None, 1)
                last = before[-1].lower().rstrip(".") if before else ""
                initial = len(last) == 1 and last.isalpha()
                if last in _ABBREVIATIONS or initial or line[end].islower():
                    continue
            piece = line[start:end].strip()
            if piece:
                out.append(piece)
            start = end
        tail = line[start:].strip()
        if tail:
            out.append(tail)
    return out
