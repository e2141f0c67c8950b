"""The ``hintspec`` command (``hintspec.cli.app``)."""

from hintspec.cli.app import main

__all__ = ["main"]
