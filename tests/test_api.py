"""The public Python API (``hintspec.check``, ``prove``, ``fuzz``, ``simulate`` -> Result) and
the pytest plugin (``hintspec_check``, ``@pytest.mark.hintspec``, ``--hintspec-profile``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import hintspec
import pytest
from hintspec.models.reference_buddy import ReferenceBuddy
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
HANDSHAKE = ROOT / "examples" / "external-model" / "vq_handshake" / "handshake.py"

PUBLIC = {
    "Args", "Check", "Fairness", "Model", "ModelError", "Result", "Trace", "UsageError",
    "Violation", "Virtqueue", "action", "always", "always_eventually", "check", "eventually",
    "fuzz", "leads_to", "load_model", "progress", "prove", "simulate", "sometimes",
}  # fmt: skip


def test_the_public_names_are_exactly_these() -> None:
    assert set(hintspec.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(hintspec, name) is not None
    with pytest.raises(AttributeError):
        hintspec.explore  # type: ignore[attr-defined]  # noqa: B018


def test_importing_the_language_does_not_load_the_checkers() -> None:
    code = "import hintspec.lang, sys; print('z3' in sys.modules, 'hypothesis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_check_gives_verdicts_figures_and_the_trace() -> None:
    result = hintspec.check("reference_buddy", "isolate_ignores_cap", frames=8)
    assert result.verdict == "violated" and not result.ok
    assert result.properties["at most CAP blocks are isolated"] == "violated"
    assert result.properties["a block gets reported"] == "witnessed"
    assert result.properties["no deadlock"] == "holds"
    assert result.statistics["distinct_states"] == 731
    assert result.violated == ["at most CAP blocks are isolated"]
    trace = result.trace
    assert trace is not None and trace.steps == len(result.traces[trace.property or ""]._trace)
    assert "Counterexample to 'at most CAP blocks are isolated'" in trace.text()
    assert all(len(line) <= 80 for line in trace.text().splitlines())
    doc = result.itf()
    assert doc is not None and doc["#meta"]["model"] == "reference_buddy"
    json.dumps(doc)
    with pytest.raises(hintspec.Violation) as caught:
        result.raise_for_violation()
    assert "Counterexample to 'at most CAP blocks are isolated'" in str(caught.value)
    assert caught.value.result is result
    good = hintspec.check(ReferenceBuddy)
    assert good.ok and good.verdict == "holds" and good.trace is None
    good.raise_for_violation()


def test_bounds_are_undetermined_and_bad_input_is_a_usage_error() -> None:
    result = hintspec.check("reference_buddy", max_states=50)
    assert result.verdict == "undetermined" and not result.ok
    result.raise_for_violation()  # undetermined is not a violation
    with pytest.raises(hintspec.UsageError, match="unknown variant 'nope'"):
        hintspec.check("reference_buddy", "nope")
    with pytest.raises(hintspec.UsageError, match="unknown parameter 'pages'"):
        hintspec.check("reference_buddy", pages=3)
    with pytest.raises(hintspec.UsageError, match=r"frames=3\.5 does not have the type"):
        hintspec.check("reference_buddy", config={"frames": 3.5})


def test_prove_fuzz_and_simulate_answer_alike(tmp_path: Path) -> None:
    proof = hintspec.prove("reference_buddy", frames=64)
    assert proof.verdict == "proven" and proof.ok
    assert proof.properties["at most CAP blocks are isolated"] == "proven"
    refuted = hintspec.prove("reference_buddy", "isolate_ignores_cap", bounded=True, frames=8)
    assert refuted.verdict == "refuted"
    assert refuted.properties["at most CAP blocks are isolated"] == "refuted"
    with pytest.raises(hintspec.Violation):
        refuted.raise_for_violation()
    walks = hintspec.simulate("reference_buddy", "isolate_ignores_cap", runs=50, seed=1)
    assert walks.verdict == "violated" and walks.violated == ["at most CAP blocks are isolated"]
    found = hintspec.fuzz("reference_buddy", "isolate_ignores_cap", profile="ci")
    assert found.verdict == "violated" and found.trace is not None
    path = found.trace.write(tmp_path)
    assert path.exists() and path.with_suffix("").with_suffix(".txt").exists()
    clean = hintspec.simulate(str(HANDSHAKE), runs=20, steps=30)
    assert clean.verdict == "not violated" and clean.ok


def test_a_model_that_raises_is_a_model_error() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from toy_models import Faulty
    finally:
        sys.path.pop(0)
    with pytest.raises(hintspec.ModelError) as caught:
        hintspec.check(Faulty)
    assert "raised in action 'write'" in caught.value.report()


# -- the pytest plugin -----------------------------------------------------------------------

USER_TESTS = textwrap.dedent(
    f"""
    import pytest
    from hypothesis import settings

    MODEL = {str(HANDSHAKE)!r}


    def test_holds(hintspec_check):
        hintspec_check.holds(MODEL)


    def test_bad_variant_said_to_hold(hintspec_check):
        hintspec_check.holds(MODEL, variant="drops_on_enospc")


    def test_violated(hintspec_check):
        result = hintspec_check.violated(MODEL, "no buffer is lost", variant="drops_on_enospc")
        assert result.traces["no buffer is lost"].steps == 3


    @pytest.mark.hintspec(MODEL, variant="push_without_notify", violates="no deadlock")
    def test_marked_violated():
        pass


    @pytest.mark.hintspec(MODEL, buffers=2)
    def test_marked_holds():
        pass


    @pytest.mark.hintspec(MODEL, variant="push_without_notify")
    def test_marked_wrongly():
        raise AssertionError("the body does not run when the check fails")


    def test_profile():
        print("profile:", settings._current_profile)
    """
)


def _pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_PROFILE"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:xdist",
         "-p", "no:cacheprovider", "-rA", *args],
        capture_output=True,
        text=True,
        cwd=directory,
        env=env,
        timeout=240,
    )  # fmt: skip


def test_the_plugin_asserts_verdicts_and_shows_the_trace(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    proc = _pytest(tmp_path, "--basetemp", str(tmp_path / "base"), "--hintspec-profile", "thorough")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "2 failed, 5 passed" in out
    assert "FAILED test_user.py::test_bad_variant_said_to_hold" in out
    assert "FAILED test_user.py::test_marked_wrongly" in out
    assert "the body does not run" not in out
    assert "hintspec: expected every property to hold: handshake (variant drops_on_enospc)" in out
    assert "Counterexample to 'no buffer is lost' (3 steps)" in out  # the text trace
    itf = out.split("trace file: ")[1].split()[0]
    assert Path(itf).is_file() and Path(itf).is_relative_to(tmp_path / "base")
    html = next(Path(itf).parent.glob("*no-buffer-is-lost*.html"))
    assert "<!DOCTYPE html>" in html.read_text()[:100] or "<html" in html.read_text()[:200]
    assert "hintspec: trace viewer: " in out
    assert "profile: thorough" in out


def test_the_plugin_leaves_a_suite_alone_unless_asked(tmp_path: Path) -> None:
    # This very suite runs with the plugin loaded: its profile is still conftest's.
    assert settings._current_profile == os.environ.get("HYPOTHESIS_PROFILE", "ci")
    # Hypothesis picks its own profile ("default", or its built-in "ci" when it detects a CI
    # machine), so the baseline is whatever it picks with the plugin switched off.
    (tmp_path / "test_plain.py").write_text(
        "from hypothesis import settings\n\n"
        "def test_plain():\n    print('profile=' + settings._current_profile)\n"
    )
    without_plugin = _pytest(tmp_path, "-s", "-p", "no:hintspec")
    with_plugin = _pytest(tmp_path, "-s")
    for proc in (without_plugin, with_plugin):
        assert proc.returncode == 0, proc.stdout + proc.stderr
    chosen = [p.stdout.split("profile=")[1].split()[0] for p in (without_plugin, with_plugin)]
    assert chosen[0] == chosen[1]
    proc = _pytest(tmp_path, "--help")
    assert "--hintspec-profile" in proc.stdout
