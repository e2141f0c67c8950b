"""Every ``@always`` says what it is about: a trigger (its premise) or ``unconditional=True``.

An invariant about a situation that never happens at a configuration checks nothing there;
with its trigger declared, the explorer says *vacuous* instead of *holds* (and the report
shows it). An undeclared premise is indistinguishable from "about every state", so every
``always`` must declare one or the other.

The models' owners are adding the declarations: :data:`KNOWN_UNDECLARED` lists the ones
still missing. A new ``always`` without a declaration fails here, and so does an entry of
the list that has been declared since (remove it: the list only shrinks).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hintspec.engine.check import check
from hintspec.lang.errors import ModelDefinitionError
from hintspec.lang.model import Check, PropertyKind, always
from hintspec.lang.registry import all_models
from hintspec.manifests.explorer import Entry
from hintspec.outputs.markdown import render_report_markdown
from hintspec.outputs.report import Report, entry_outcome, model_report
from hintspec.outputs.report_html import render_report_html
from test_vacuity import Config, Counter, State

KNOWN_UNDECLARED: dict[str, set[str]] = {
    "hinting_oom": {
        "PG_reported only on free blocks",
        "every block is in exactly one place",
        "hinting causes an OOM only when free memory is tight",
        "hinting holds at most CAPACITY blocks",
        "hinting never takes the zone below the low watermark",
        "no hinting-induced OOM",
    },
    "reference_buddy": {
        "at most CAP blocks are isolated",
        "every frame is in exactly one aligned block",
        "reported is set only on heads of free blocks",
    },
}
MODELS = sorted(all_models())


def _undeclared(name: str) -> set[str]:
    cls = all_models()[name]
    return {
        p.name
        for p in cls.properties_of(PropertyKind.ALWAYS)
        if p.trigger is None and not p.unconditional
    }


@pytest.mark.parametrize("name", MODELS)
def test_every_always_declares_its_trigger_or_that_it_is_unconditional(name: str) -> None:
    missing = _undeclared(name)
    known = KNOWN_UNDECLARED.get(name, set())
    new = sorted(missing - known)
    assert not new, (
        f"{name}: declare what these invariants are about -- trigger='<a @sometimes "
        f"property>' (or a callable) for a situation, unconditional=True for every state: "
        f"{new}"
    )
    declared = sorted(known - missing)
    assert not declared, (
        f"{name}: now declared (or gone), remove from KNOWN_UNDECLARED in {Path(__file__).name}:"
        f" {declared}"
    )


def test_unconditional_and_trigger_exclude_each_other() -> None:
    with pytest.raises(ModelDefinitionError, match="an unconditional property has no trigger"):
        always("x", trigger="the counter overflows", unconditional=True)

    class Declared(Counter):
        name = "toy_declared"

        @always("the value is never negative", unconditional=True)
        def non_negative(self, s: State) -> Check:
            return s.value >= 0

    prop = next(p for p in Declared.properties if p.name == "the value is never negative")
    assert prop.unconditional and prop.trigger is None
    result = check(Declared(Config(limit=3)))
    verdicts = {p.name: p.verdict.value for p in result.properties}
    assert verdicts["the value is never negative"] == "holds"


def test_the_report_shows_a_vacuous_invariant_as_vacuous(tmp_path: Path) -> None:
    model = Counter(Config(limit=3))
    result = check(model)
    entry = Entry("toy_vacuity", "upstream", {"limit": 3}, {})
    outcome = entry_outcome(entry, result, model, None)
    assert outcome.property("an overflow is caught").cell == "vacuous"
    report = Report([model_report(Counter, [outcome])], "now", False, 0.0)
    markdown = render_report_markdown(report, tmp_path / "r.md")
    row = next(line for line in markdown.splitlines() if "an overflow is caught" in line)
    assert "vacuous" in row and "holds" not in row
    page = render_report_html(report, tmp_path / "r.html")
    cell = page[page.index("an overflow is caught") :]
    assert "vacuous" in cell[: cell.index("</tr>")]
