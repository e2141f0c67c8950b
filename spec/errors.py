"""Errors that reach the user as one readable line (exit code 2)."""

from __future__ import annotations


class UsageError(Exception):
    """Bad usage or bad input: unknown model, malformed value, corrupt trace file.

    The message is one line that says what is wrong and, where possible, how to fix it.
    The CLI prints it as ``hintspec: error: <message>`` and exits with code 2.
    """


class ModelDefinitionError(Exception):
    """A model class is malformed (a bug in the model, not in the user's input)."""
