"""Which characters the system accepts in text it keeps: names, ids, purposes, reasons.

One rule for both edges where text comes in (dataset files and the HTTP API): printable
characters, tabs and line breaks. Refused:

- control characters (Unicode category ``Cc``) other than tab, line feed and carriage return:
  NUL cannot be stored in a PostgreSQL ``text`` or ``jsonb`` column, and the others are
  invisible on screen;
- lone surrogates (``Cs``): they cannot be encoded as UTF-8, so every later write or read of
  the record would fail (a JSON file or body can smuggle them in as ``"\\ud800"``);
- bidirectional embeddings, overrides and isolates (U+202A to U+202E, U+2066 to U+2069): they
  reorder how the rest of a line is displayed, so a name or purpose could read differently on
  the regulator's map than what was filed ("Trojan Source", CVE-2021-42574).
"""

from __future__ import annotations

import unicodedata

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Characters that reorder the display of the text after them."""

_ALLOWED_CONTROLS = frozenset("\t\n\r")


def is_refused_character(character: str) -> bool:
    """True if ``character`` may not appear in text the system keeps (see the module)."""
    category = unicodedata.category(character)
    if category == "Cc":
        return character not in _ALLOWED_CONTROLS
    return category == "Cs" or character in BIDI_CONTROLS


def first_refused_character(text: str) -> int | None:
    """The position of the first refused character of ``text``, or None if it has none."""
    if text.isascii() and text.isprintable():  # the usual case, without a Python loop
        return None
    for position, character in enumerate(text):
        if is_refused_character(character):
            return position
    return None


def describe_character(character: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``: how messages name a refused character."""
    name = unicodedata.name(character, "")
    return f"U+{ord(character):04X}" + (f" {name}" if name else "")
