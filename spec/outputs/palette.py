"""Colours that mean the same thing in every output: verdicts and frame-map characters.

Verdicts: holds (and witnessed, proven) green; violated (and refuted) red; a violation whose
last state has lost data red with its own mark; undetermined (and Z3's unknown) grey;
vacuous amber. Every verdict also has a word and a symbol, so colour is never the only cue.

Frame maps: a character whose legend says data is lost (discarded, in no container, in two
at once) is red, with white text and a striped border, whatever the model calls it; no
other character is red. Characters a model leaves undescribed get a colour derived from
their code, away from red. Text on a cell is black or white, whichever contrasts more.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class VerdictStyle:
    background: str
    foreground: str
    symbol: str
    meaning: str


VERDICTS: Mapping[str, VerdictStyle] = {
    "holds": VerdictStyle("#e3f1e6", "#1b5e20", "✓", "no reachable state breaks it"),
    "witnessed": VerdictStyle("#e3f1e6", "#1b5e20", "✓", "a reachable state satisfies it"),
    "proven": VerdictStyle("#e3f1e6", "#1b5e20", "✓", "Z3 proved it at the stated size"),
    "violated": VerdictStyle("#fde7e7", "#9b1c1c", "✗", "a reachable run breaks it"),
    "refuted": VerdictStyle("#fde7e7", "#9b1c1c", "✗", "Z3 found a run that breaks it"),
    "lost": VerdictStyle("#b71c1c", "#ffffff", "⚠", "violated, and the run loses data"),
    "vacuous": VerdictStyle("#fff3d6", "#6d4300", "∅", "nothing was checked: it never happens"),
    "undetermined": VerdictStyle("#eceff1", "#37474f", "?", "a bound was hit first"),
    "unknown": VerdictStyle("#eceff1", "#37474f", "?", "Z3 reached a limit"),
    "error": VerdictStyle("#eceff1", "#37474f", "!", "the check raised"),
}
"""Verdict word -> how it is drawn (the CSS class is ``v-<word>``)."""


def verdict_css(selector: str = "") -> str:
    """CSS rules ``<selector>.v-<word>`` for every verdict."""
    return "\n".join(
        f"{selector}.v-{word} {{ background:{s.background}; color:{s.foreground}; }}"
        for word, s in VERDICTS.items()
    )


# -- frame maps ---------------------------------------------------------------------------

LOST_COLOUR = "#c62828"
LOST_CHARS = "!?#*"
"""Characters that mean lost data when the model's legend does not say otherwise."""
_LOST_WORDS = re.compile(
    r"\blost\b|\bloses\b|data (?:was |is )?discarded|discarded (?:\w+ )*data|no container|"
    r"nowhere|two containers|two places|twice|corrupt",
    re.IGNORECASE,
)

FRAME_COLOURS: Mapping[str, str] = {
    "A": "#9e9e9e",
    "a": "#cfcfcf",
    "f": "#a5d6a7",
    "F": "#66bb6a",
    "R": "#64b5f6",
    "r": "#90caf9",
    "I": "#ffb74d",
    "H": "#4dd0e1",
    "h": "#80deea",
    "B": "#ba68c8",
    "b": "#ce93d8",
    "O": "#455a64",
    "o": "#90a4ae",
    "x": "#b39ddb",
    "X": "#5e35b1",
    "0": "#fff176",
    "Z": "#fff176",
    "U": "#ffe082",
    "u": "#c5e1a5",
    "P": "#8d6e63",
    "p": "#d7ccc8",
    "T": "#7986cb",
    "t": "#c5cae9",
    "Q": "#80cbc4",
    "M": "#a1887f",
    "K": "#6d4c41",
    "c": "#b0bec5",
    "d": "#f0b27a",
    ".": "#eeeeee",
    "-": "#eeeeee",
}
"""Characters used by several models; a model's legend says what each means to it."""

BIT_COLOURS: Mapping[str, str] = {"1": "#546e7a", "0": "#eceff1"}
"""Cells of a labelled row of bits (``recv 0110``): set dark, clear light."""


def is_lost(ch: str, legend: Mapping[str, str]) -> bool:
    """Does ``ch`` in a frame map mean lost data? The legend decides when it describes the
    character; otherwise the conventional ``! ? # *``."""
    meaning = legend.get(ch)
    if meaning is not None:
        return bool(_LOST_WORDS.search(meaning))
    return ch in LOST_CHARS


def frame_colour(ch: str, legend: Mapping[str, str] | None = None) -> str:
    """The fill colour of a frame-map character (stable across runs; red only when it
    means lost data)."""
    if is_lost(ch, legend or {}):
        return LOST_COLOUR
    if ch in FRAME_COLOURS:
        return FRAME_COLOURS[ch]
    # Hues 40..320 only: never red, so red keeps its meaning.
    hue = 40 + zlib.crc32(ch.encode()) % 280
    return _hsl_to_hex(hue, 0.55, 0.72)


def _hsl_to_hex(hue: float, sat: float, light: float) -> str:
    c = (1 - abs(2 * light - 1)) * sat
    x = c * (1 - abs((hue / 60) % 2 - 1))
    m = light - c / 2
    sector = int(hue // 60) % 6
    r, g, b = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][sector]
    return "#" + "".join(f"{round((v + m) * 255):02x}" for v in (r, g, b))


def luminance(colour: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    channels = [int(colour[k : k + 2], 16) / 255 for k in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def text_on(background: str) -> str:
    """Black or white, whichever reads better on ``background``."""
    return (
        "#000000"
        if contrast(background, "#000000") >= contrast(background, "#ffffff")
        else ("#ffffff")
    )


@dataclasses.dataclass(frozen=True)
class FrameRow:
    """One row of a frame map: an optional label (a legend key of several characters, e.g.
    ``recv``) and its cells, groups separated by a space."""

    label: str | None
    cells: str


def frame_rows(fmap: str, legend: Mapping[str, str]) -> list[FrameRow]:
    """A frame map split into rows: the frames themselves first, then each labelled row
    (``TTtt tttt   wp 0000 0000`` -> ``TTtt tttt`` and ``wp: 0000 0000``). A word of
    several characters that the legend names starts a row; other groups are cells."""
    rows: list[FrameRow] = []
    label: str | None = None
    groups: list[str] = []
    for word in fmap.split():
        if len(word) > 1 and word in legend:
            if groups or label is not None:
                rows.append(FrameRow(label, " ".join(groups)))
            label, groups = word, []
        else:
            groups.append(word)
    if groups or label is not None or not rows:
        rows.append(FrameRow(label, " ".join(groups)))
    return rows


def cell_colours(
    fmap_chars: str, legend: Mapping[str, str], *, bits: bool = False
) -> dict[str, tuple[str, str]]:
    """Character -> (fill, text colour) for every character of ``fmap_chars``."""
    out: dict[str, tuple[str, str]] = {}
    for ch in set(fmap_chars) - {" "}:
        fill = BIT_COLOURS[ch] if bits and ch in BIT_COLOURS else frame_colour(ch, legend)
        out[ch] = (fill, text_on(fill))
    return out
