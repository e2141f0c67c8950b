"""``hintspec prove``: Z3 proofs (k-induction) and bounded model checking of a model.

    hintspec prove MODEL [--variant V] [--set frames=N] [--k K] [--bmc] [--depth D]
                   [--property NAME] [--no-lemmas] [--timeout S] [--out DIR] [--json]
    hintspec prove --all [--only MODEL] [--include-slow] [--timeout S] [--json]

``--all`` runs every entry of the proof manifest (``properties/proofs/manifest/``) and
compares each result with the one recorded there (exit 0: every expectation met, 1: not).
It then checks that no proof is vacuous: each property a proven entry proves needs a
*twin*, another variant refuted on that property at the same configuration in the same
run; a proof without one is flagged ``vacuous?`` (a failure for encodings that set
``require_twins``). Each proof also shows whether every premise of the implications it
proves is reached by BMC (``vacuous?`` if not; see ``hintspec.smt.vacuity``).

Verdicts and exit codes, as ``hintspec check``: 0 proven, 1 refuted (with a trace, written
to ``--out`` as ITF and replayable with ``hintspec replay``), 3 unknown (a timeout, a bound,
or a counterexample to induction with no real counterexample within the bound), 2 bad
usage (for example a model with no Z3 encoding: the message names those that have one).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hintspec.cli.common import (
    add_model_arguments,
    manifest_summary,
    model_from_args,
    positive_float,
    positive_int,
    write_trace,
)
from hintspec.lang.configs import config_label
from hintspec.lang.errors import UsageError
from hintspec.lang.registry import get_model
from hintspec.manifests.proofs import (
    load_proof_manifest,
    mismatches,
    missing_twins,
    run_proof_entry,
    twins_required,
)
from hintspec.smt import ProofResult, ProofVerdict, bmc, encoding_for, prove
from hintspec.traces.text import render_trace


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def register(subparsers: Any) -> None:
    """Add the ``prove`` sub-command."""
    p = subparsers.add_parser(
        "prove",
        help="prove invariants with Z3 (k-induction), or search for violations (--bmc)",
        description=(
            "Prove the model's invariants by k-induction over its Z3 encoding "
            "(properties/proofs/), at sizes no enumeration reaches; or, with --bmc, search "
            "for the shortest violation within --depth steps."
        ),
    )
    add_model_arguments(p, model_optional=True)
    p.add_argument("--all", action="store_true", help="run every proof-manifest entry")
    p.add_argument(
        "--only", action="append", metavar="MODEL", help="with --all: only this model's entries"
    )
    p.add_argument("--include-slow", action="store_true", help="with --all: slow entries too")
    p.add_argument(
        "--k", type=positive_int, default=1, metavar="K", help="induction depth (default 1)"
    )
    p.add_argument("--bmc", action="store_true", help="bounded model checking only")
    p.add_argument(
        "--depth",
        type=_nonnegative_int,
        metavar="D",
        help="BMC bound (default: the encoding's); also bounds the search for a real "
        "counterexample when the induction step fails",
    )
    p.add_argument(
        "--property",
        dest="properties",
        action="append",
        metavar="NAME",
        help="only this property (repeatable; default: every encoded invariant)",
    )
    p.add_argument(
        "--no-lemmas",
        action="store_true",
        help="prove the properties as stated, without the encoding's strengthening lemmas",
    )
    p.add_argument("--timeout", type=positive_float, metavar="S", help="give up after S seconds")
    p.add_argument("--out", metavar="DIR", help="write a counterexample trace (ITF and text)")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(func=cmd_prove)


def cmd_prove(args: argparse.Namespace) -> int:
    """Run ``hintspec prove``; the exit code is the verdict's."""
    if args.all:
        if args.model is not None:
            raise UsageError("give either MODEL or --all, not both")
        return _prove_all(args)
    if args.model is None:
        raise UsageError("prove needs a MODEL, or --all for every proof-manifest entry")
    if args.only or args.include_slow:
        raise UsageError("--only and --include-slow go with --all")
    model = model_from_args(args)
    enc = encoding_for(model)
    if args.bmc:
        result = bmc(
            enc,
            enc.bmc_depth if args.depth is None else args.depth,
            properties=args.properties,
            timeout=args.timeout,
        )
    else:
        result = prove(
            enc,
            properties=args.properties,
            k=args.k,
            lemmas=not args.no_lemmas,
            timeout=args.timeout,
            bmc_depth=args.depth,
        )
    paths: dict[str, str] = {}
    if result.trace is not None and args.out:
        out = write_trace(result.trace, Path(args.out), model)
        paths = {"itf": str(out), "text": str(out.with_suffix("").with_suffix(".txt"))}
    if args.json:
        print(json.dumps(result_json(result, paths), indent=2))
    else:
        sys.stdout.write(render_result(result, enc.lemmas(), paths, bounded=args.bmc))
    return result.exit_code()


def _prove_all(args: argparse.Namespace) -> int:
    entries = [e for e in load_proof_manifest() if args.include_slow or not e.slow]
    if args.only:
        for name in args.only:
            get_model(name)  # an unknown name is bad input
        entries = [e for e in entries if e.model in args.only]
    if not entries:
        which = f" for {', '.join(args.only)}" if args.only else ""
        slow = "" if args.include_slow else " (add --include-slow for the slow ones)"
        raise UsageError(f"no proof-manifest entry to run{which}{slow}")
    header = (
        f"{'model':<16} {'variant':<24} {'config':<14} {'check':<8} {'expected':<9} "
        f"{'verdict':<9} {'detail':<34} {'secs':>7}  ok"
    )
    if not args.json:
        print(header)
        print("-" * len(header))
    rows = []
    for entry in entries:
        result = run_proof_entry(entry, timeout=args.timeout)
        bad = mismatches(entry, result)
        rows.append((entry, result, bad))
        if args.json:
            continue
        cfg = " ".join(f"{k}={v}" for k, v in entry.config.items()) or "defaults"
        if result is None:
            verdict, secs, detail = "-", 0.0, "liveness: checked by hintspec check"
        else:
            verdict, secs = result.verdict.value, result.seconds
            if result.trace is not None:
                detail = f"{len(result.trace)} steps"
            elif result.lemmas:
                detail = f"{result.k}-inductive, {len(result.lemmas)} lemma(s)"
            else:
                detail = f"{result.k}-inductive as stated" if verdict == "proven" else ""
        if len(cfg) > 14 or len(entry.variant) > 24:
            # Names and configurations are never cut short: a line of their own.
            print(f"{entry.model:<16} {entry.variant} {cfg}")
            lead = f"{'':<16} {'':<24} {'':<14}"
        else:
            lead = f"{entry.model:<16} {entry.variant:<24} {cfg:<14}"
        print(
            f"{lead} {entry.check:<8} "
            f"{entry.expect.get('verdict', '-'):<9} {verdict:<9} {detail:<34} {secs:>7.2f}  "
            + ("yes" if not bad else "NO")
        )
        if result is not None and result.trace is not None:
            print(f"{'':<18}violated: {result.trace.prop}")
        if result is not None:
            for check in result.premises:
                print(f"{'':<18}{check.describe()}")
        for b in bad:
            print(f"{'':<18}MISMATCH {b}")
        sys.stdout.flush()
    lonely = missing_twins([(e, r) for e, r, _b in rows])
    if lonely and not args.json:
        print()
    for entry, _result, bad in rows:
        for prop in lonely.get(entry.label, []):
            required = twins_required(entry.model)
            if not args.json:
                print(
                    f"vacuous? {entry.label}: no other variant is refuted on {prop!r} at this "
                    f"configuration{'' if required else ' (not required for this model yet)'}"
                )
            if required:
                bad.append(f"vacuous? no refuted twin for {prop!r}")
    return manifest_summary(
        [
            {"entry": e.label, "mismatches": b} | ({} if r is None else result_json(r, {}))
            for e, r, b in rows
        ],
        as_json=args.json,
    )


def result_json(result: ProofResult, paths: dict[str, str]) -> dict[str, Any]:
    """The result as plain JSON."""
    return {
        "model": result.model,
        "variant": result.variant,
        "config": config_label(result.config),
        "verdict": result.verdict.value,
        "reason": result.reason,
        "properties": result.properties,
        "lemmas": result.lemmas,
        "k": result.k,
        "depth": result.depth,
        "trace_length": None if result.trace is None else len(result.trace),
        "failing": None if result.trace is None else result.trace.prop,
        "cti": None
        if result.cti is None
        else {"broken": result.cti.broken, "action": result.cti.action},
        "premises": [
            {"property": c.prop, "steps": c.steps, "bound": c.bound, "reason": c.reason}
            for c in result.premises
        ],
        "vacuous": result.vacuous,
        "seconds": round(result.seconds, 3),
        "queries": [
            {"query": q.name, "answer": q.answer, "seconds": round(q.seconds, 3)}
            for q in result.queries
        ],
        "trace": paths,
    }


def render_result(
    result: ProofResult, lemmas: dict[str, Any], paths: dict[str, str], *, bounded: bool
) -> str:
    """The result as text: what was asked, the verdict, and the trace or the CTI."""
    model = get_model(result.model)(result.config)
    lines = [f"model {result.model}, variant {result.variant}, {config_label(result.config)}"]
    if bounded:
        lines.append(f"bounded model checking, depth {result.depth}:")
    else:
        lines.append(
            f"k-induction, k = {result.k}: IndInv = {len(result.properties)} "
            f"propert{'y' if len(result.properties) == 1 else 'ies'}"
            f" + {len(result.lemmas)} strengthening lemma{'s' if len(result.lemmas) != 1 else ''}"
        )
    lines.extend(f"  [property] {p}" for p in result.properties)
    lines.extend(f"  [lemma]    {n}" for n in result.lemmas if n in lemmas)
    lines.append("")
    if result.cti is not None:
        lines.append(result.cti.render(model))
    if result.trace is not None:
        lines.append(render_trace(result.trace, model))
        for kind, path in paths.items():
            lines.append(f"  trace ({kind}) -> {path}")
        if paths:
            lines.append("")
    for check in result.premises:
        lines.append(f"  {check.describe()}")
    if result.premises:
        lines.append("")
    queries = len(result.queries)
    lines.append(
        f"Result: {result.verdict.value.upper()} -- {result.reason} "
        f"({result.seconds:.2f} s, {queries} solver quer{'y' if queries == 1 else 'ies'})"
    )
    if result.vacuous:
        lines.append(
            "  vacuous? no state within the bound satisfies the premise of "
            + ", ".join(repr(p) for p in result.vacuous)
            + ": the proof may say nothing at this size (exit 3)"
        )
    if result.verdict is ProofVerdict.UNKNOWN and result.cti is not None:
        lines.append(
            "  (a CTI need not be reachable: strengthen the invariant with a lemma that rules "
            "it out, or raise --depth to search further for a real counterexample)"
        )
    return "\n".join(lines) + "\n"
