"""The explicit-state checkers over one model.

:mod:`.check` (the verdicts of every property: :func:`check`), :mod:`.explore` (the
breadth-first search), :mod:`.liveness` (fair cycles and lassos), :mod:`.vector` (the
numpy fast path for a model that offers one), :mod:`.simulate` (seeded random walks),
:mod:`.stateful` (the Hypothesis adapter) and :mod:`.fuzzing` (running it, shrinking),
:mod:`.graph` (the state graph), :mod:`.faults` (model code that raises), :mod:`.results`
(verdicts and results), :mod:`.progress`, :mod:`.fingerprints` (64-bit fingerprints in the
visited set, ``check --fingerprints``) and :mod:`.executors` (independent runs in this
process or a process pool, ``check --all --jobs N``).
"""
