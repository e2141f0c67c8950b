"""The pytest plugin (entry point ``pytest11``: loaded wherever hintspec is installed).

A test says that a model, or one of its variants, holds or is violated at a configuration::

    def test_the_handshake_holds(hintspec_check):
        hintspec_check.holds("vq_handshake/handshake.py", slots=2)

    def test_losing_a_buffer_is_caught(hintspec_check):
        hintspec_check.violated("vq_handshake/handshake.py", "no buffer is lost",
                                variant="drops_on_enospc")

    @pytest.mark.hintspec("vq_handshake/handshake.py", variant="drops_on_enospc",
                          violates="no buffer is lost")
    def test_marked():
        pass

On a failure the message holds the verdict of every property and the 80-column text of
the shortest counterexample; each counterexample is also written under the test's
``tmp_path`` as an ITF file (``hintspec show`` / ``hintspec replay`` read it) and as the
HTML trace viewer, and both paths are printed. ``--hintspec-profile dev|ci|thorough``
selects the Hypothesis profile (for ``hintspec.fuzz`` and stateful tests). Without the
marker, the fixture or the option the plugin does nothing: it imports the checkers only
when a test asks for them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from hintspec.api import ModelRef, Result

PROFILES = ("dev", "ci", "thorough")
MARKER = (
    "hintspec(model, variant=None, *, violates=None, **config): check the model "
    "exhaustively before the test runs; fail unless every property holds (or, with "
    "violates=PROPERTY or violates=True, unless it is violated)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hintspec", "hintspec model checking")
    group.addoption(
        "--hintspec-profile",
        choices=PROFILES,
        default=None,
        help="Hypothesis settings profile for hintspec (default: $HYPOTHESIS_PROFILE, else dev)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    profile = config.getoption("hintspec_profile", None)
    if profile:
        from hintspec.engine.fuzzing import register_profiles
        from hypothesis import settings

        os.environ["HYPOTHESIS_PROFILE"] = profile
        register_profiles()
        settings.load_profile(profile)


class HintspecChecker:
    """The ``hintspec_check`` fixture: assertions about a model, with the trace on failure."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.written: list[Path] = []
        """Every trace file written so far (ITF and HTML)."""

    def check(self, model: ModelRef, variant: str | None = None, **config: Any) -> Result:
        """:func:`hintspec.check`, with every counterexample written under ``tmp_path``."""
        from hintspec.api import check

        result = check(model, variant, config=config)
        self._write(result)
        return result

    def holds(self, model: ModelRef, variant: str | None = None, **config: Any) -> Result:
        """Fail unless every property holds (explored completely, nothing vacuous)."""
        result = self.check(model, variant, **config)
        if result.verdict != "holds":
            pytest.fail(self._message(result, "every property to hold"), pytrace=False)
        return result

    def violated(
        self,
        model: ModelRef,
        prop: str | None = None,
        variant: str | None = None,
        **config: Any,
    ) -> Result:
        """Fail unless ``prop`` (default: some property) is violated."""
        result = self.check(model, variant, **config)
        if prop is not None and prop not in result.properties:
            pytest.fail(
                f"{result.model} has no property {prop!r}; its properties: "
                + ", ".join(repr(p) for p in result.properties),
                pytrace=False,
            )
        if (prop is None and not result.violated) or (
            prop is not None and prop not in result.violated
        ):
            what = f"{prop!r} to be violated" if prop else "a property to be violated"
            pytest.fail(self._message(result, what), pytrace=False)
        return result

    def _write(self, result: Result) -> None:
        for trace in result.traces.values():
            itf = trace.write(self.tmp_path)
            html = itf.with_suffix("").with_suffix(".html")
            html.write_text(trace.html(), encoding="utf-8")
            self.written += [itf, html]
            print(f"hintspec: trace of {trace.property!r}: {itf}")
            print(f"hintspec: trace viewer: {html}")

    def _message(self, result: Result, expected: str) -> str:
        lines = [
            f"hintspec: expected {expected}: {result.model} (variant {result.variant}) is "
            f"{result.verdict}",
            result.text().rstrip(),
        ]
        lines += [f"trace file: {p}" for p in self.written]
        return "\n".join(lines)


@pytest.fixture
def hintspec_check(tmp_path: Path) -> HintspecChecker:
    """Check models in a test: ``hintspec_check.holds(...)``, ``.violated(...)``."""
    return HintspecChecker(tmp_path)


def pytest_itemcollected(item: pytest.Item) -> None:
    # A marked test needs the fixture (and so tmp_path) whether it names it or not.
    if (
        item.get_closest_marker("hintspec") is not None
        and isinstance(item, pytest.Function)
        and "hintspec_check" not in item.fixturenames
    ):
        item.fixturenames.append("hintspec_check")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    marker = item.get_closest_marker("hintspec")
    if marker is None or not isinstance(item, pytest.Function):
        return
    if not marker.args:
        pytest.fail("@pytest.mark.hintspec needs the model as its first argument", pytrace=False)
    checker = item.funcargs["hintspec_check"]
    assert isinstance(checker, HintspecChecker)
    options = dict(marker.kwargs)
    violates = options.pop("violates", None)
    variant = options.pop("variant", marker.args[1] if len(marker.args) > 1 else None)
    model = marker.args[0]
    if violates:
        prop = violates if isinstance(violates, str) else None
        checker.violated(model, prop, variant, **options)
    else:
        checker.holds(model, variant, **options)
