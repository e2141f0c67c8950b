"""Design-review outputs without a browser: message sequences, the trace page's data, the
report (HTML, Markdown, results.json) and JUnit XML. The text report, graphs and the
explorer have their own files (test_report_text.py, test_graph.py, test_serve.py).

The browser tests (tests/test_html_browser.py) load the same pages in headless Chromium.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hintspec.cli.app import main
from hintspec.engine.check import check
from hintspec.lang.model import Message
from hintspec.lang.registry import all_models, get_model
from hintspec.lang.virtqueue import Virtqueue
from hintspec.manifests.explorer import Entry, load_manifest, run_entry
from hintspec.outputs.html import render_trace_html, trace_data
from hintspec.outputs.junit import junit_xml
from hintspec.outputs.markdown import render_report_markdown
from hintspec.outputs.report import build_report, expected_violation, findings
from hintspec.outputs.report_html import render_report_html
from hintspec.outputs.report_json import load_results, write_results
from hintspec.outputs.sequence import actor, step_messages, trace_messages
from hintspec.traces.files import read_itf
from hintspec.traces.trace import Step, Trace
from toy_hinting import Config, State, ToyHinting

BUDDY_ENTRIES = [e for e in load_manifest() if e.model == "reference_buddy" and not e.slow]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def toy_trace(variant: str, prop: str) -> tuple[ToyHinting, Trace]:
    model = ToyHinting(Config(variant=variant))
    result = check(model)
    trace = next(p.trace for p in result.properties if p.name == prop)
    assert trace is not None
    return model, trace


def assert_self_contained(page: str) -> None:
    """Nothing a browser would fetch: no external URL in src/href/url(), no <link>."""
    assert "<link" not in page
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:|//)""", page)
    assert "url(http" not in page and "@import" not in page
    assert "default-src 'none'" in page


# -- sequence diagrams --------------------------------------------------------------------


def test_actor_comes_from_the_citation() -> None:
    m = ToyHinting(Config())
    assert actor(m, "hint") == "guest"  # mm/page_reporting.c
    assert actor(m, "pop") == "host"  # hw/virtio/virtio.c
    assert actor(m, "get_buf") == "guest"  # drivers/virtio/...


def test_virtqueue_traffic_becomes_arrows() -> None:
    model, trace = toy_trace("reuse_before_ack", "a page in use is never discarded")
    lanes, per_step = trace_messages(model, trace)
    assert lanes == ["guest", "vq", "host"]
    assert [s.action for s in trace.steps] == [None, "hint", "pop", "alloc", "ack"]
    assert per_step == [
        [],
        [Message("guest", "vq", "hint: add [0]", "add")],
        [Message("vq", "host", "pop: pop [0]", "pop")],
        [Message("guest", "guest", "alloc(page=0)", "local")],
        [Message("host", "vq", "ack: used [0]", "ack")],
    ]


def test_get_buf_config_and_fault_steps() -> None:
    model = ToyHinting(Config())
    lanes = ["guest", "vq", "host"]
    used = State(Virtqueue(1, used=((0,),)), frozenset(), frozenset({0}), 0)
    empty = replace(used, vq=Virtqueue(1))
    assert step_messages(model, "get_buf", {}, used, empty, lanes) == [
        Message("vq", "guest", "get_buf: get_buf [0]", "get_buf")
    ]
    assert step_messages(
        model, "update_config", {"target": 1}, empty, replace(empty, target=1), lanes
    ) == [Message("host", "guest", "update_config(target=1)", "config")]
    faulted = replace(empty, inuse=frozenset({0}))
    assert step_messages(model, "page_fault", {"page": 0}, faulted, faulted, lanes) == [
        Message("guest", "guest", "page_fault(page=0)", "fault")
    ]


def test_a_model_hook_overrides_the_derivation() -> None:
    class Custom(ToyHinting):
        lanes = ("driver", "device")

        def messages(self, action: str, args: Any, before: Any, after: Any) -> list[Message]:
            return [Message("driver", "device", action.upper(), "notify")]

    model, trace = toy_trace("reuse_before_ack", "a page in use is never discarded")
    lanes, per_step = trace_messages(Custom(model.config), trace)
    assert lanes == ["driver", "device"]
    assert per_step[1] == [Message("driver", "device", "HINT", "notify")]


# -- the trace page -------------------------------------------------------------------------


def test_trace_page_data_marks_changes_and_frames() -> None:
    model, trace = toy_trace("reuse_before_ack", "a page in use is never discarded")
    data = trace_data(trace, model)
    assert len(data["steps"]) == 5
    assert data["initial"] == 4  # the violating state is shown first
    assert [s["frames"] for s in data["steps"]] == [
        [[None, m]] for m in ("ff", "Hf", "Hf", "Af", "Af")
    ]
    changed = [[v[0] for v in s["vars"] if v[2] is not None] for s in data["steps"]]
    assert changed == [[], ["vq"], ["vq"], ["inuse"], ["vq", "discarded"]]
    assert data["steps"][4]["cites"] == "hw/virtio/virtio-balloon.c: virtio_balloon_handle_report"


def test_lasso_page_has_the_closing_step_and_the_cycle() -> None:
    model, trace = toy_trace("unfair_host", "a hint is eventually taken back")
    assert trace.loop == 1 and trace.loop_action == "free"
    page = render_trace_html(trace, model)
    data = trace_data(trace, model)
    assert len(data["steps"]) == 4  # 3 states and the closing step
    assert data["steps"][3]["title"] == "Step 3: free(page=1) -> back to step 1"
    assert page.count("class='step cycle") == 3
    assert "class='cycle'" in page and ">cycle</text>" in page
    assert_self_contained(page)


def test_every_registered_model_renders_a_trace() -> None:
    """Any model (frame map or not, virtqueues or not) gives a page: a short path along
    the first enabled choices."""
    for name, cls in all_models().items():
        model = cls(cls.Config())
        state = next(iter(model.initial_states()))
        steps = [Step(None, {}, state)]
        for _ in range(3):
            succ = next(iter(model.successors(state)), None)
            if succ is None:
                break
            a, args, state = succ
            steps.append(Step(model.actions[a].name, args, state))
        trace = Trace(name, model.config, steps)
        page = render_trace_html(trace, model)
        assert page.count("<li class='step") == len(steps), name
        assert_self_contained(page)


def test_show_html_writes_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(
        ["check", "reference_buddy", "--variant", "isolate_ignores_cap", "--out", str(tmp_path)],
        capsys,
    )
    assert code == 1
    itf = next(tmp_path.glob("*.itf.json"))
    out = tmp_path / "view.html"
    code, stdout, _ = run(["show", str(itf), "--html", "--out", str(out)], capsys)
    assert code == 0 and stdout == f"wrote {out}\n"
    page = out.read_text()
    assert (
        "Violated (always): <strong class='prop'>at most CAP blocks are isolated</strong>" in page
    )
    assert "2 blocks are isolated, CAP is 1" in page
    assert page.count("<li class='step") == 5
    assert_self_contained(page)


# -- the report ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def buddy_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    root = tmp_path_factory.mktemp("report")
    traces = root / "report-traces"
    report = build_report(BUDDY_ENTRIES, traces, models=["reference_buddy"], prove=False)
    write_results(report, traces / "results.json")
    return root, report


def test_report_has_every_entry_and_writes_traces(buddy_report: tuple[Path, Any]) -> None:
    root, report = buddy_report
    (rep,) = report.models
    assert [e.variant for e in rep.entries] == [
        "upstream",
        "alloc_keeps_reported",
        "isolate_ignores_cap",
        "merge_keeps_reported",
    ]
    assert [e.distinct_states for e in rep.entries] == [730, 2605, 731, 733]
    assert report.not_as_expected == []
    cap = rep.entries[2].property("at most CAP blocks are isolated")
    assert cap is not None and cap.verdict == "violated" and cap.trace_length == 4
    assert cap.trace is not None
    assert read_itf(Path(cap.trace.itf)).prop == "at most CAP blocks are isolated"
    assert Path(cap.trace.html or "").exists() and Path(cap.trace.text or "").exists()
    # 3 violations and 4 witnesses, each as ITF, text and HTML
    names = {p.name for p in (root / "report-traces").iterdir()}
    assert len([n for n in names if n.endswith(".itf.json")]) == 7
    assert "results.json" in names


def test_report_markdown_table(buddy_report: tuple[Path, Any]) -> None:
    root, report = buddy_report
    md = render_report_markdown(report, root / "report.md")
    rows = [line for line in md.splitlines() if line.startswith("| at most CAP")]
    assert rows == [
        "| at most CAP blocks are isolated | always | holds | holds | **VIOLATED** ([4 steps][t3]) "
        "| holds |"
    ]
    assert (
        "[t3]: report-traces/reference_buddy-isolate_ignores_cap-at-most-cap-blocks-are-iso" in md
    )
    assert "| `upstream` | frames=8 | holds | yes | 730 | 4,508 | 13 |" in md
    assert "*a block gets reported*: `upstream` frames=8 [2 steps][t" in md
    assert "`isolate_ignores_cap`: isolate ignores CAP = 1" in md


def test_report_html_is_self_contained(buddy_report: tuple[Path, Any]) -> None:
    root, report = buddy_report
    page = render_report_html(report, root / "report.html")
    assert_self_contained(page)
    # The matrix is there twice: property x variant, and transposed.
    assert page.count("<td class='v v-violated'>") == 2 * 3
    assert page.count("<td class='v v-holds'>") == 2 * 13
    assert page.count("<td class='v v-witnessed'>") == 2 * 4
    hrefs = re.findall(r"href='([^'#]+)'", page)
    assert hrefs and all((root / h).exists() for h in hrefs)
    assert all(not h.startswith(("/", "file:")) for h in hrefs)  # relative links only


def test_results_json_renders_the_same_report(buddy_report: tuple[Path, Any]) -> None:
    root, report = buddy_report
    again = load_results(root / "report-traces" / "results.json")
    again.generated = report.generated
    assert render_report_markdown(again, root / "report.md") == render_report_markdown(
        report, root / "report.md"
    )
    # rendered elsewhere, links still point at the traces
    sub = root / "sub" / "r.md"
    assert "(../report-traces/" in render_report_markdown(again, sub).replace("]: ", "](")


def test_report_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.md"
    argv = ["report", "--only", "reference_buddy", "--out", str(out), "--no-prove"]
    code, stdout, _ = run(argv, capsys)
    assert code == 0
    assert "wrote" in stdout and "4 entries, 4 as expected" in stdout
    assert out.read_text().startswith("# hintspec design review")
    umask = os.umask(0o022)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert (tmp_path / "r-traces" / "results.json").exists()
    html = tmp_path / "r.html"
    code, _, _ = run(
        ["report", "--results", str(tmp_path / "r-traces" / "results.json"), "--out", str(html)],
        capsys,
    )
    assert code == 0 and "reference_buddy" in html.read_text()


def test_report_from_check_all_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run(["check", "--all", "--only", "reference_buddy", "--json"], capsys)
    assert code == 0
    (tmp_path / "check.json").write_text(stdout)
    report = load_results(tmp_path / "check.json")
    (rep,) = report.models
    assert [e.distinct_states for e in rep.entries] == [730, 2605, 731, 733]
    assert rep.entries[0].config == {}  # frames=8 is the default
    md = render_report_markdown(report, tmp_path / "r.md")
    assert "**VIOLATED** (4 steps)" in md  # no trace file: no link


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "--out", "r.pdf"], "the suffix must be .html, .md or .txt"),
        (["report", "--only", "nosuch"], "unknown model 'nosuch'"),
        (["report", "--results", "missing.json", "--out", "r.md"], "does not exist"),
    ],
)
def test_report_bad_input(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run([*argv[:-1], str(tmp_path / argv[-1])] if "--out" in argv else argv, capsys)
    assert code == 2
    assert err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_a_failing_entry_does_not_stop_the_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hintspec.outputs.report as report_mod

    real = report_mod.run_entry

    def flaky(entry: Entry, *, timeout: float | None = None) -> Any:
        if entry.variant == "merge_keeps_reported":
            raise RuntimeError("the model broke")
        return real(entry, timeout=timeout)

    monkeypatch.setattr(report_mod, "run_entry", flaky)
    out = tmp_path / "r.md"
    argv = ["report", "--only", "reference_buddy", "--out", str(out), "--no-prove"]
    code, stdout, err = run(argv, capsys)
    assert code == 1
    assert "4 entries, 3 as expected" in stdout
    assert "merge_keeps_reported [frames=8] not as expected: error: RuntimeError" in err
    md = out.read_text()
    assert (
        "| `merge_keeps_reported` | frames=8 | error | **NO**: error: RuntimeError: the model broke"
        in md
    )


def test_report_proof_hook(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The Z3 extension point: whatever proof_manifest.report_proofs returns is a column."""
    import hintspec.outputs.report as report_mod

    class Verdict(enum.Enum):
        UNKNOWN = "unknown"

    @dataclasses.dataclass
    class ProofResult:  # the shape of hintspec.smt's result objects
        verdict: Verdict
        variant: str
        config: Any
        properties: list[str]
        k: int
        reason: str
        seconds: float

    def fake(model: str, timeout: float | None = None) -> list[Any]:
        cls = get_model(model)
        return [
            {
                "verdict": "proven",
                "properties": ["at most CAP blocks are isolated"],
                "config": {"frames": 1024},
                "k": 1,
                "seconds": 0.5,
            },
            ProofResult(
                Verdict.UNKNOWN,
                "upstream",
                cls.Config(frames=64),
                ["every frame is in exactly one aligned block"],
                2,
                "a CTI with no real counterexample within depth 6",
                3.0,
            ),
        ]

    monkeypatch.setattr(report_mod, "proof_hook", lambda: fake)
    report = build_report(BUDDY_ENTRIES[:1], None, models=["reference_buddy"])
    md = render_report_markdown(report, tmp_path / "r.md")
    assert "| Z3 |" in md
    assert (
        "| at most CAP blocks are isolated | always | holds | **proven** for frames=1024 "
        "(1-induction) |" in md
    )
    assert (
        "| every frame is in exactly one aligned block | always | holds | unknown for frames=64 "
        "(2-induction) |" in md
    )
    page = render_report_html(report, tmp_path / "r.html")
    assert "class='p v-proven'" in page and "class='p v-unknown'" in page
    assert "title='2-induction, 3.0 s: a CTI with no real counterexample within depth 6'" in page


# -- JUnit ---------------------------------------------------------------------------------


def test_junit_cases_and_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "junit.xml"
    argv = ["check", "--all", "--only", "reference_buddy", "--junit", str(out)]
    code, _, _ = run([*argv, "--out", str(tmp_path / "traces")], capsys)
    assert code == 0
    suite = ET.parse(out).getroot()
    assert suite.tag == "testsuite"
    counts = [suite.get(k) for k in ("tests", "failures", "errors", "skipped")]
    # 4 entries run, each a case and one per property (5), the slow frames=16 one skipped
    assert counts == ["25", "0", "0", "1"]
    cases = suite.findall("testcase")
    assert cases[0].get("name") == "reference_buddy/upstream [frames=8]"
    assert all(c.get("classname") == "hintspec.reference_buddy" for c in cases)
    by_name = {c.get("name"): c for c in cases}
    cap = by_name["reference_buddy/isolate_ignores_cap [frames=8]"]
    props = {p.get("name"): p.get("value") for p in cap.iter("property")}
    assert props["verdict"] == "violated" and props["distinct_states"] == "731"
    assert props["violated"] == "at most CAP blocks are isolated"
    text = cap.findtext("system-out") or ""
    assert "violated: at most CAP blocks are isolated" in text
    trace = text.split("trace of 'at most CAP blocks are isolated': ")[1].splitlines()[0]
    assert Path(trace).exists()
    assert by_name["reference_buddy/upstream [frames=16]"].find("skipped") is not None
    # an entry whose expectation is not met is a failure
    entry = BUDDY_ENTRIES[0]
    wrong = Entry(entry.model, entry.variant, entry.config, {**entry.expect, "distinct_states": 1})
    result = run_entry(wrong)
    xml = junit_xml([(wrong, result, ["distinct_states: expected 1, got 730"])])
    case = ET.fromstring(xml).find("testcase")
    assert case is not None
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == "distinct_states: expected 1, got 730"
    json.dumps(xml)  # plain text


# -- what a reviewer reads first: data lost, findings, expected violations -----------------


def test_lost_data_is_red_and_nothing_else_is() -> None:
    from hintspec.outputs.palette import LOST_COLOUR, frame_colour, is_lost

    pr = get_model("page_reporting").frame_legend
    vm = get_model("virtio_mem").frame_legend
    assert [ch for ch in pr if is_lost(ch, pr)] == ["!", "?", "#"]
    assert [ch for ch in vm if is_lost(ch, vm)] == ["!"]
    # 'discarded by the host' alone is a state of a free page, not lost data.
    assert not is_lost("D", ToyHinting.frame_legend)
    assert frame_colour("!", pr) == LOST_COLOUR == frame_colour("!", {})
    # virtio-mem's X (PageOffline, unplugged) was drawn red before: it is not lost data.
    assert frame_colour("X", vm) != LOST_COLOUR
    for ch in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
        if not is_lost(ch, {}):
            assert frame_colour(ch, {}) != LOST_COLOUR


def test_a_violation_that_loses_data_is_marked(tmp_path: Path) -> None:
    entry = Entry("page_reporting", "reuse_before_ack", {}, {}, max_states=20000)
    report = build_report([entry], tmp_path, models=["page_reporting"], prove=False)
    (e,) = report.models[0].entries
    lost = {p.name: p.data_lost for p in e.properties if p.verdict == "violated"}
    assert lost == {
        "a reported block gives its memory back to the host": False,
        "a reported page goes back to the allocator only after the host acked it": False,
        "every frame of a marked block was handed to the host and not written since": False,
        "the host never discards data the guest is using": True,
    }
    page = render_report_html(report, tmp_path / "r.html")
    assert page.count("<td class='v v-lost'>") == 2  # once per orientation of the matrix
    assert "⚠ data lost · 8 steps" in page
    md = render_report_markdown(report, tmp_path / "r.md")
    assert "**VIOLATED** ⚠ data lost ([8 steps]" in md


def _entry(
    variant: str,
    config: dict[str, Any],
    verdict: str,
    failing: list[tuple[str, str]],
    note: str = "",
) -> Any:
    from hintspec.outputs.report import EntryOutcome, PropertyOutcome

    props = [PropertyOutcome(n, k, "violated") for n, k in failing]
    return EntryOutcome(
        "virtio_mem",
        variant,
        config,
        variant,
        verdict,
        10,
        20,
        3,
        0.1,
        True,
        None,
        [],
        props,
        note=note,
    )


def test_a_violated_upstream_entry_says_why_and_names_the_fix() -> None:
    from hintspec.outputs.report import model_report

    finding = _entry(
        "upstream",
        {"blocks": 2},
        "violated",
        [("a completely unplugged memory block is eventually removed", "liveness")],
        "FINDING: the block escapes the cleanup (lasso)",
    )
    vacuous = _entry(
        "upstream",
        {"online_zones": "movable"},
        "violated",
        [("fake offline fails", "sometimes")],
        "all memory movable",
    )
    rep = model_report(
        get_model("virtio_mem"),
        [
            _entry("upstream", {}, "holds", []),
            finding,
            _entry("cleanup_rechecks", {"blocks": 2}, "holds", []),
            vacuous,
            _entry("no_remove_retry", {}, "violated", [("x", "liveness")], "a bad variant"),
        ],
    )
    assert finding.is_finding and not vacuous.is_finding
    assert expected_violation(rep, finding) == (
        "FINDING: the block escapes the cleanup (lasso). Fixed by cleanup_rechecks, which "
        "holds at the same configuration."
    )
    assert expected_violation(rep, vacuous) == (
        "Only witnesses fail here ('fake offline fails' never happens at this configuration): "
        "nothing is broken, the situation does not arise. all memory movable."
    )
    assert expected_violation(rep, rep.entries[0]) is None  # holds
    assert expected_violation(rep, rep.entries[4]) is None  # a bad variant says it itself
    assert [e for e, _why in findings(rep)] == [finding, vacuous]


def test_markdown_links_are_relative(buddy_report: tuple[Path, Any]) -> None:
    root, report = buddy_report
    md = render_report_markdown(report, root / "sub" / "r.md")
    targets = re.findall(r"^\[t\d+\]: (\S+)$", md, flags=re.M) + re.findall(r"\]\(([^)]+)\)", md)
    assert targets
    assert all(not t.startswith(("/", "file:", "http:", "https:")) for t in targets), targets
    assert all(t.startswith(("../report-traces/", "#")) for t in targets)
