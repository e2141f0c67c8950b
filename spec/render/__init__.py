"""Renderers of traces and results: text (terminal, mailing list)."""
