"""The explicit-state checkers over one model.

:mod:`.check` (the verdicts of every property: :func:`check`), :mod:`.explore` (the
breadth-first search), :mod:`.liveness` (fair cycles and lassos), :mod:`.vector` (the
numpy fast path for a model that offers one), :mod:`.simulate` (seeded random walks),
:mod:`.stateful` (the Hypothesis adapter) and :mod:`.fuzzing` (running it, shrinking),
:mod:`.graph` (the state graph), :mod:`.faults` (model code that raises), :mod:`.results`
(verdicts and results) and :mod:`.progress`.
"""
