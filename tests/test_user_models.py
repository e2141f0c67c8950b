"""Models that live outside hintspec: loading them, their traces, project manifests,
``manifest update``, JUnit, ``hintspec new`` and the mistakes a model's author makes.

The handshake model of ``examples/external-model`` is the user's model throughout; it is
copied into each test's directory, so nothing in the repository changes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from hintspec.cli.app import main
from hintspec.lang import registry
from hintspec.lang.errors import UsageError
from hintspec.lang.version import VERSION
from hintspec.traces.files import read_itf

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "external-model"
HANDSHAKE = EXAMPLE / "vq_handshake" / "handshake.py"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test loads its models into a registry of its own (names may repeat)."""
    monkeypatch.setattr(registry, "_loaded", {})
    monkeypatch.setattr(registry, "_origins", dict(registry._origins))
    yield


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example project, the working directory, its package importable."""
    root = tmp_path / "project"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    for name in [m for m in sys.modules if m.startswith("vq_handshake")]:
        monkeypatch.delitem(sys.modules, name)
    return root


# -- loading ----------------------------------------------------------------------------


def test_a_model_file_is_checked_by_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["check", str(HANDSHAKE)], capsys)
    assert code == 0, out
    assert "hintspec check handshake (variant upstream; defaults)" in out
    code, out, _ = run(["check", str(HANDSHAKE), "--variant", "drops_on_enospc"], capsys)
    assert code == 1 and "Counterexample to 'no buffer is lost' (3 steps)" in out


def test_module_class_and_list_say_where_a_model_comes_from(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["check", "vq_handshake.handshake:Handshake"], capsys)
    assert code == 0, out
    code, out, _ = run(["list"], capsys)
    assert code == 0
    assert "from: built-in hintspec.models.page_reporting" in out
    assert "handshake: A two-slot virtqueue handshake" in out
    assert "from: module vq_handshake.handshake:Handshake" in out
    code, out, _ = run(["list", "handshake"], capsys)  # a project model, by name
    assert code == 0 and "drops_on_enospc:" in out


def test_an_entry_point_is_found_by_name(tmp_path: Path) -> None:
    """A distribution on sys.path registers the model in the group hintspec.models."""
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE / "vq_handshake", site / "vq_handshake")
    info = site / "vq_handshake-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vq-handshake\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[hintspec.models]\nhandshake = vq_handshake.handshake:Handshake\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    cmd = [sys.executable, "-m", "hintspec"]
    proc = subprocess.run(
        [*cmd, "list"], capture_output=True, text=True, env=env, cwd=tmp_path, check=True
    )
    assert "from: entry point 'handshake' of vq-handshake 0.1.0" in proc.stdout
    proc = subprocess.run(
        [*cmd, "check", "handshake", "--variant", "drops_on_enospc", "--out", "t"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 1 and "no buffer is lost" in proc.stdout
    (itf,) = (tmp_path / "t").glob("*no-buffer-is-lost*.itf.json")
    meta = json.loads(itf.read_text())["#meta"]
    assert meta["model_spec"] == "vq_handshake.handshake:Handshake"
    proc = subprocess.run(
        [*cmd, "replay", str(itf)], capture_output=True, text=True, env=env, cwd="/"
    )
    assert proc.returncode == 0 and "no divergence" in proc.stdout


BAD_SPECS = [
    ("nope.py", "model file 'nope.py' does not exist"),
    ("no_such_pkg.mod:Model", "no module named 'no_such_pkg'"),
    ("json:JSONDecoder", "json has no model class 'JSONDecoder'"),
    ("ghost", "unknown model 'ghost'"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
def test_a_model_that_cannot_be_loaded_is_one_line(
    spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["check", spec], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err


def test_a_model_file_that_raises_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("from hintspec.lang import Model\n\nx = 1\ny = undefined_name\n")
    code, _, err = run(["check", str(broken)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "broken.py:4" in err and "NameError" in err
    broken.write_text("def f(:\n")
    code, _, err = run(["check", str(broken)], capsys)
    assert code == 2 and "broken.py:1: SyntaxError" in err


def test_two_models_with_one_name_are_refused(tmp_path: Path) -> None:
    twin = tmp_path / "twin.py"
    twin.write_text(HANDSHAKE.read_text())
    registry.get_model(str(HANDSHAKE))
    with pytest.raises(UsageError, match="two models are named 'handshake'"):
        registry.get_model(str(twin))
    clash = tmp_path / "clash.py"
    clash.write_text(HANDSHAKE.read_text().replace('name = "handshake"', 'name = "thp_split"'))
    with pytest.raises(UsageError, match="the built-in model"):
        registry.get_model(str(clash))


def test_a_new_model_file_is_found_without_reinstalling() -> None:
    """A strict editable install links each file: the source directory is searched too."""
    models = __import__("hintspec.models", fromlist=["_"])
    assert str(ROOT / "models") in [os.path.realpath(p) for p in registry.package_dirs(models)]
    assert registry.source_dir("hintspec.models") == ROOT / "models"


# -- traces carry their model ------------------------------------------------------------


def test_show_and_replay_reload_a_file_model_from_the_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "t"
    code, _, _ = run(
        ["check", str(HANDSHAKE), "--variant", "drops_on_enospc", "--out", str(out)], capsys
    )
    assert code == 1
    (itf,) = out.glob("*no-buffer-is-lost*.itf.json")
    meta = json.loads(itf.read_text())["#meta"]
    assert meta["model"] == "handshake" and meta["hintspec"] == VERSION
    assert meta["model_spec"] == f"{HANDSHAKE}:Handshake"
    assert meta["variant"] == "drops_on_enospc" and meta["config"] == {"variant": "drops_on_enospc"}
    monkeypatch.setattr(registry, "_loaded", {})  # a fresh process knows nothing of it
    monkeypatch.chdir(tmp_path)
    code, text, _ = run(["show", str(itf)], capsys)
    assert code == 0 and "Counterexample to 'no buffer is lost' (3 steps)" in text
    code, text, _ = run(["replay", str(itf)], capsys)
    assert code == 0 and "no divergence" in text


def test_a_trace_of_another_version_or_a_lost_model_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "handshake.py"
    model.write_text(HANDSHAKE.read_text())
    code, _, _ = run(
        ["check", str(model), "--variant", "drops_on_enospc", "--out", str(tmp_path)], capsys
    )
    (itf,) = tmp_path.glob("*no-buffer-is-lost*.itf.json")
    doc = json.loads(itf.read_text())
    old = tmp_path / "old.itf.json"
    old.write_text(json.dumps({**doc, "#meta": {**doc["#meta"], "hintspec": "0.0.1"}}))
    code, out, err = run(["replay", str(old)], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"written by hintspec 0.0.1, this is hintspec {VERSION}" in err
    registry._loaded.clear()
    model.unlink()
    code, out, err = run(["show", str(itf)], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "its model 'handshake' cannot be loaded: model file" in err


# -- project manifests, manifest update, JUnit ---------------------------------------------


def test_check_all_runs_the_project_manifest(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["check", "--all"], capsys)
    assert code == 0, out
    assert "4 entries, 4 as expected, 0 not as expected" in out
    assert "page_reporting" not in out


def test_manifest_update_writes_the_figures_and_shows_the_diff(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "manifest" / "handshake.json"
    doc = json.loads(path.read_text())
    doc["entries"][0]["expect"]["distinct_states"] = 1
    path.write_text(json.dumps(doc, indent=2) + "\n")
    code, out, _ = run(["manifest", "update", "--dry-run"], capsys)
    assert code == 1 and '-        "distinct_states": 1,' in out and "--dry-run" in out
    assert json.loads(path.read_text())["entries"][0]["expect"]["distinct_states"] == 1
    code, out, _ = run(["manifest", "update", "--only", "handshake"], capsys)
    assert code == 1 and '+        "distinct_states": 46,' in out
    after = json.loads(path.read_text())
    assert after["entries"][0]["expect"]["distinct_states"] == 46
    assert after["entries"][0]["note"] == doc["entries"][0]["note"]  # notes are kept
    code, out, _ = run(["manifest", "update"], capsys)
    assert code == 0 and "the manifest is up to date" in out


def test_a_violation_fails_check_all_with_the_trace_and_junit_says_how_to_reproduce(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "manifest" / "handshake.json"
    doc = json.loads(path.read_text())
    bad = doc["entries"][2]
    assert bad["variant"] == "drops_on_enospc"
    bad["expect"] = {**bad["expect"], "verdict": "holds", "failing": []}
    path.write_text(json.dumps(doc, indent=2))
    junit = project / "junit.xml"
    code, out, _ = run(["check", "--all", "--junit", str(junit)], capsys)
    assert code == 1
    assert "Counterexample to 'no buffer is lost' (3 steps)" in out  # the trace, in the log
    suite = ET.parse(junit).getroot()
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert len(cases) == 4 * (1 + 4)  # per entry: its figures, and its 4 properties
    case = cases["handshake/drops_on_enospc [defaults] :: no buffer is lost"]
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "expected not violated, got violated"
    text = failure.text or ""
    assert "Counterexample to 'no buffer is lost' (3 steps)" in text
    itf = text.split("trace file (ITF): ")[1].splitlines()[0]
    assert Path(itf).exists() and read_itf(Path(itf)).prop == "no buffer is lost"
    assert (
        "reproduce: hintspec check vq_handshake.handshake:Handshake --variant drops_on_enospc"
        in text
    )
    ok = cases["handshake/push_without_notify [defaults] :: no deadlock"]
    assert ok.find("failure") is None  # violated, as the manifest expects


def test_a_project_in_pyproject_or_hintspec_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hintspec.lang.project import find_project

    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert find_project(tmp_path) is None
    (tmp_path / "sub").mkdir()
    (tmp_path / "pyproject.toml").write_text(
        "[tool.hintspec]\nmodels = ['m/', 'pkg.mod:Cls']\nmanifests = ['man']\n"
    )
    found = find_project(tmp_path / "sub")
    assert found is not None and found.root == tmp_path.resolve()
    assert found.models == (str((tmp_path / "m").resolve()), "pkg.mod:Cls")
    (tmp_path / "sub" / "hintspec.toml").write_text("models = 3\n")
    with pytest.raises(UsageError, match="'models' must be a list of strings"):
        find_project(tmp_path / "sub")


# -- hintspec new ------------------------------------------------------------------------


def test_new_writes_a_model_its_test_and_manifest_that_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(["new", "mailbox"], capsys)
    assert code == 0, out
    for path in ("hintspec.toml", "models/mailbox.py", "manifest/mailbox.json"):
        assert (tmp_path / path).exists()
    code, out, _ = run(["check", "--all"], capsys)
    assert code == 0 and "2 entries, 2 as expected" in out, out
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "tests/test_mailbox.py",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    code, _, err = run(["new", "mailbox"], capsys)
    assert code == 2 and "exists; nothing was written" in err
    code, _, err = run(["new", "Not-A-Name"], capsys)
    assert code == 2 and "is not a model name" in err


# -- a model's mistakes name its line ------------------------------------------------------

MISTAKES = textwrap.dedent(
    """
    from dataclasses import dataclass
    from hintspec.lang import Model, action, always, sometimes


    @dataclass(frozen=True)
    class Config:
        fault: str = "none"
        variant: str = "upstream"


    @dataclass(frozen=True)
    class State:
        n: int
        items: tuple = ()


    class Mistakes(Model[Config, State]):
        name = "mistakes"
        variants = {"upstream": "the design", "same": "changes nothing"}

        def initial_states(self):
            yield State(0)

        @action("toy: step")
        def step(self, s):
            if s.n < 3:
                if self.config.fault == "list" and s.n == 2:
                    yield {}, State(s.n + 1, [1])
                elif self.config.fault == "swap":
                    yield State(s.n + 1), {}
                elif self.config.fault == "tuple":
                    yield {}, (s.n + 1,)
                else:
                    yield {}, State(s.n + 1)

        @action("toy: none")
        def none(self, s):
            if self.config.fault == "return":
                return [State(s.n)]
            return iter(())

        @always("n is small")
        def small(self, s):
            return {"ok": 1} if self.config.fault == "prop" else True

        @sometimes("n reaches 3")
        def three(self, s):
            return s.n == 3
    """
)

MISTAKE_CASES = [
    ("list", "a state must be hashable", "yield {}, State(s.n + 1, [1])"),
    ("swap", "an action must yield (args, next_state) pairs", "yield State(s.n + 1), {}"),
    ("tuple", "a next state that is a tuple, not a State", "yield {}, (s.n + 1,)"),
    ("return", "State(n=0, items=()), not a pair", "def none"),
    ("prop", "an @always property returns True, or a string", "def small"),
]


@pytest.mark.parametrize(("fault", "rule", "line"), MISTAKE_CASES)
def test_a_broken_contract_names_the_rule_and_the_line(
    fault: str, rule: str, line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "mistakes.py"
    model.write_text(MISTAKES)
    code, out, err = run(
        ["check", str(model), "--set", f"fault={fault}", "--out", str(tmp_path)], capsys
    )
    assert code == 2 and out == "" and "Traceback" not in err
    assert rule in err
    assert "mistakes.py:" in err and line in err, err


def test_lint_finds_no_teeth_and_a_variant_that_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "mistakes.py"
    model.write_text(MISTAKES)
    code, out, _ = run(["lint", str(model)], capsys)
    assert code == 1
    lines = out.splitlines()
    assert any(
        "mistakes.py:43: no variant violates 'n is small' (rule: every property needs teeth" in x
        for x in lines
    ), out
    assert any(
        "mistakes.py:20: variant 'same' explores the same state graph as 'upstream'" in x
        for x in lines
    ), out
    witness = '    @sometimes("n reaches 3")\n    def three(self, s):\n        return s.n == 3\n'
    assert witness in MISTAKES
    model = tmp_path / "no_witness.py"
    model.write_text(MISTAKES.replace(witness, "").replace('"mistakes"', '"no_witness"'))
    code, out, _ = run(["lint", str(model), "--no-manifest"], capsys)
    assert code == 1 and "Mistakes has no @sometimes property (rule: every model needs" in out, out
    code, out, _ = run(["lint", str(HANDSHAKE)], capsys)
    assert code == 0 and "no findings" in out, out


# -- the guide -------------------------------------------------------------------------------

GUIDE = ROOT / "docs" / "writing-a-model.md"


def test_the_guide_shows_the_example_verbatim_and_covers_every_hook() -> None:
    from hintspec.lang.model import Model

    text = GUIDE.read_text()
    assert f"```python\n{HANDSHAKE.read_text()}```" in text
    hooks = {
        "Config", "State", "initial_states", "is_terminal", "frame_map", "frame_legend",
        "canonical", "symmetric", "view", "messages", "lanes", "hypothesis_config",
        "reference_config", "designs", "vectorized", "check_deadlock", "variants",
    }  # fmt: skip
    declared = {n for n in vars(Model) if not n.startswith("_")}
    used_by_checkers = {
        "actions", "properties", "successors", "steps_of", "action_index", "property",
        "evaluate_always", "fairness_of", "summary", "properties_of", "name",
    }  # fmt: skip
    assert declared - used_by_checkers <= hooks
    for hook in hooks:
        assert f"`{hook}" in text, hook
    for decorator in ("@action", "@always", "@sometimes", "@eventually", "@leads_to",
                      "@always_eventually", "@progress", "trigger=", "fair="):  # fmt: skip
        assert decorator in text, decorator


def test_a_module_added_after_a_strict_editable_install_is_discovered(tmp_path: Path) -> None:
    """The install links each file of the source tree; a file added later has no link."""
    src, link = tmp_path / "src" / "usermodels", tmp_path / "link" / "usermodels"
    src.mkdir(parents=True)
    link.mkdir(parents=True)
    (src / "__init__.py").write_text('"""A package of models."""\n')
    (link / "__init__.py").symlink_to(src / "__init__.py")
    (src / "added_later.py").write_text(HANDSHAKE.read_text())
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from hintspec.lang.model import Model\n"
        "from hintspec.lang.registry import discover\n"
        "print(sorted(discover('usermodels', Model, 'name')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "link")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == "['handshake']"
