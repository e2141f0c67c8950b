"""External mutants of ``hintspec mutate --from DIR``: unified diffs against a model file
(historical bug patches), applied to its text and run through the same oracle."""

from __future__ import annotations

from hintspec.engine.mutate_ops import EXTERNAL, Mutant


class PatchError(ValueError):
    """A patch that does not apply to the model file (the message says where)."""


def patched_files(diff: str) -> list[str]:
    """The file names a unified diff changes (its ``+++`` lines, without ``b/``)."""
    out = []
    for line in diff.splitlines():
        if line.startswith("+++ "):
            name = line[4:].split("\t")[0].strip()
            out.append(name[2:] if name.startswith(("a/", "b/")) else name)
    return out


def apply_patch(source: str, diff: str) -> str:
    """``source`` with the hunks of a unified diff applied (each hunk's context and removed
    lines must match exactly, at its stated line or the nearest place they do)."""
    lines = source.splitlines(keepends=True)
    hunks: list[tuple[int, list[str], list[str]]] = []
    old: list[str] | None = None
    new: list[str] = []
    start = 0
    for raw in diff.splitlines(keepends=True):
        if raw.startswith("@@"):
            if old is not None:
                hunks.append((start, old, new))
            try:
                start = int(raw.split()[1].split(",")[0].lstrip("-"))
            except (IndexError, ValueError):
                raise PatchError(f"bad hunk header {raw.strip()!r}") from None
            old, new = [], []
        elif old is None or raw.startswith(("---", "+++", "\\")):
            continue
        elif raw.startswith("-"):
            old.append(raw[1:])
        elif raw.startswith("+"):
            new.append(raw[1:])
        else:
            text = raw[1:] if raw[:1] == " " else raw
            old.append(text)
            new.append(text)
    if old is not None:
        hunks.append((start, old, new))
    if not hunks:
        raise PatchError("no hunk")
    offset = 0
    for start, before, after in hunks:
        want = max(0, start - 1 + offset)
        candidates = sorted(range(len(lines) - len(before) + 1), key=lambda i: abs(i - want))
        at = next((i for i in candidates if _same(lines[i : i + len(before)], before)), None)
        if at is None:
            raise PatchError(f"the hunk at line {start} does not match the model file")
        lines[at : at + len(before)] = after
        offset += len(after) - len(before)
    return "".join(lines)


def _same(have: list[str], want: list[str]) -> bool:
    return [h.rstrip("\r\n") for h in have] == [w.rstrip("\r\n") for w in want]


def external_mutant(name: str, source: str, diff: str) -> Mutant:
    """The mutant a patch makes (its id is the patch's name)."""
    patched = apply_patch(source, diff)
    return Mutant(
        id=name,
        operator=EXTERNAL,
        function="(patch)",
        line=_first_changed_line(source, patched),
        description=f"patch {name}",
        patched=patched,
    )


def _first_changed_line(a: str, b: str) -> int:
    for i, (x, y) in enumerate(zip(a.splitlines(), b.splitlines(), strict=False), start=1):
        if x != y:
            return i
    return min(len(a.splitlines()), len(b.splitlines())) + 1
