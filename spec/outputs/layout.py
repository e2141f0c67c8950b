"""Breaking labels into lines at token boundaries, never inside a token.

A *token* is a run of characters between break opportunities: a space (dropped at a line
break) or the point after an opening parenthesis (``walk(`` | ``order=2,``). A token longer
than the line stays whole on a line of its own; whoever lays the lines out makes room for
the longest token (:func:`longest_token`) instead of cutting it.
"""

from __future__ import annotations

import re

_BREAK_AFTER_PAREN = re.compile(r"(?<=\()(?!\))")


def tokens(text: str) -> list[tuple[str, bool]]:
    """``(token, space_before)`` pairs: the tokens of ``text`` and whether a space separates
    each from the previous one (otherwise the break is after a parenthesis)."""
    out: list[tuple[str, bool]] = []
    for word_index, word in enumerate(text.split()):
        for k, piece in enumerate(p for p in _BREAK_AFTER_PAREN.split(word) if p):
            out.append((piece, k == 0 and word_index > 0))
    return out


def longest_token(text: str) -> int:
    return max((len(t) for t, _space in tokens(text)), default=0)


def wrap_tokens(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken only between tokens (a
    token longer than ``width`` is a line of its own)."""
    lines: list[str] = []
    line = ""
    for tok, space in tokens(text):
        joined = (line + " " + tok if space else line + tok) if line else tok
        if line and len(joined) > width:
            lines.append(line)
            line = tok
        else:
            line = joined
    if line or not lines:
        lines.append(line)
    return lines
