"""Errors that reach the user as a readable message instead of a traceback (exit code 2)."""

from __future__ import annotations

from typing import Any


class UsageError(Exception):
    """Bad usage or bad input: unknown model, malformed value, corrupt trace file.

    The message is one line that says what is wrong and, where possible, how to fix it.
    The CLI prints it as ``hintspec: error: <message>`` and exits with code 2.
    """


class ModelDefinitionError(Exception):
    """A model class is malformed (a bug in the model, not in the user's input)."""


class ModelError(Exception):
    """The model's own code raised while a checker ran it: there is no verdict.

    Built by :func:`hintspec.engine.faults.model_error`; the command line prints :meth:`report`
    (exit code 2) instead of a traceback."""

    def __init__(
        self,
        *,
        model: str,
        variant: str,
        config: str,
        where: str,
        exception: str,
        source: str | None,
        rule: str | None,
        trace: Any,
        checker: str,
    ) -> None:
        super().__init__(f"{model} (variant {variant}; {config}): {where} raised {exception}")
        self.model = model
        self.variant = variant
        self.config = config
        self.where = where
        self.exception = exception
        self.source = source
        self.rule = rule
        self.trace = trace
        """A :class:`hintspec.traces.trace.Trace` to the state it raised in (kind ``error``)."""
        self.checker = checker
        self.trace_path: str | None = None
        """Where the trace was written, once it was."""
        self.state_lines: list[str] = []
        """The state it raised in, rendered (set by whoever has the model at hand)."""
        self.instance: Any = None
        """The model object that raised (to render its states)."""

    def report(self) -> str:
        """The whole report, several lines, for stderr."""
        lines = [
            f"hintspec: error: model {self.model} (variant {self.variant}; {self.config}) "
            f"raised in {self.where} during {self.checker}: no verdict",
            f"  {self.exception}",
        ]
        if self.rule:
            lines.append(f"  the model contract says: {self.rule}")
        if self.source:
            lines.append(f"  at {self.source}")
        if self.state_lines:
            steps = len(self.trace.steps) - 1 if self.trace is not None else None
            where = f" (reached in {steps} steps)" if steps is not None else ""
            lines.append(f"  in the state{where}:")
            lines.extend(self.state_lines)
        if self.trace_path:
            lines.append(
                f"  the steps to that state: {self.trace_path} "
                "(`hintspec show` renders it, `hintspec replay` re-executes it)"
            )
        lines.append("  (run with --debug for the Python traceback)")
        return "\n".join(lines) + "\n"
