"""Experiment names that cannot be mistaken for one another.

An experiment is found by its exact name, and two names that look the same must not
be two experiments. So a recorded name is in Unicode NFKC form (no full-width letters,
ligatures or compatibility characters, which have a plain twin), and its letters come
from at most one of the scripts whose letters look alike (Latin, Greek, Cyrillic:
"alpha" and "аlpha" with a Cyrillic а). Other scripts mix freely, as Japanese mixes
kana, kanji and Latin.
"""

from __future__ import annotations

import unicodedata

LOOKALIKE_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC")


def lookalike_reason(name: str) -> str | None:
    """Why ``name`` could be mistaken for another name, or None."""
    normal = unicodedata.normalize("NFKC", name)
    if normal != name:
        return f"must be in Unicode NFKC form, as {normal!r}: it looks like that name"
    scripts = sorted({_script(c) for c in name if c.isalpha()} & set(LOOKALIKE_SCRIPTS))
    if len(scripts) > 1:
        return (f"mixes {' and '.join(s.title() for s in scripts)} letters, which look "
                "alike: use one script")  # fmt: skip
    return None


def _script(letter: str) -> str:
    return unicodedata.name(letter, "").split(" ", 1)[0]
