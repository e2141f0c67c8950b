"""File names of traces: unique per model, variant, full configuration and property.

A name is ``MODEL-VARIANT-PROPERTY-DIGEST`` (``.SOURCE`` for simulate and fuzz, then
``.itf.json``). The property part is a readable hint and may be cut short; ``DIGEST`` is
the first 10 hex digits of a SHA-256 over the model, the *whole* configuration (every
field, variant included), the property and the kind of trace. So two traces share a name
only if they answer the same question about the same configuration, and no config value is
ever abbreviated into something that looks like another. The configuration itself is
written inside the file (ITF ``#meta.config``, and the text trace's header).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from hintspec.lang.configs import config_to_json
from hintspec.traces.trace import Trace

PROPERTY_CHARS = 48
"""At most this many characters of the property's name appear in a file name."""


def slug(text: str, limit: int = PROPERTY_CHARS) -> str:
    """``text`` in lower case, runs of other characters as one ``-``, at most ``limit``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")


def digest(model: str, config: dict[str, Any], prop: str | None, kind: str) -> str:
    """10 hex digits identifying (model, full config, property, kind)."""
    key = json.dumps([model, config, prop, kind], sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def trace_stem(model: str, config: Any, prop: str | None, kind: str) -> str:
    """The file name of a trace without its suffix (``config``: the model's Config)."""
    full = config_to_json(config)
    variant = str(full.get("variant", "upstream"))
    hint = slug(prop or kind) or kind
    if kind == "witness":
        hint = f"witness-{hint}"
    return f"{model}-{variant}-{hint}-{digest(model, full, prop, kind)}"


def trace_file(out: Path, trace: Trace, *, tagged: bool = False) -> Path:
    """Where ``trace`` goes under ``out``: ``STEM.itf.json``, or ``STEM.SOURCE.itf.json``
    when ``tagged`` (simulate and fuzz name the checker that found it)."""
    stem = trace_stem(trace.model, trace.config, trace.prop, trace.kind)
    tag = f".{trace.source}" if tagged else ""
    return out / f"{stem}{tag}.itf.json"
