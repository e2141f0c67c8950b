"""Traces: the steps of a counterexample or a witness, and what is done with them.

:mod:`.trace` (Trace, Step, labelling a path with actions), :mod:`.itf` (model values as
ITF JSON), :mod:`.files` (ITF documents on disk, atomic writes), :mod:`.replay`
(re-executing a trace against the current model), :mod:`.naming` (trace file names) and
:mod:`.values` (how states and values are written down, without ever raising) and
:mod:`.text` (a whole trace as 80-column text).
"""
