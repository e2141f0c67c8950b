"""Which states a conformance check looks at: deep ones, not only those near Init.

A divergence between an encoding and its model deep in the state graph -- after a pass
wrapped around, a ring filled, a counter ran down -- goes unnoticed by short random walks.
:func:`sample_states` therefore takes

* random walks from the initial states, each as long as the state graph is deep (the depth
  of a breadth-first search), and
* every state of the last levels of that search (the deepest states there are),

deterministically for a seed. When the graph has no more states than asked for, the sample
is the whole reachable state space. No symmetry reduction: conformance is about the states
themselves, so a state and its renamings are all fair game.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any, Generic, TypeVar

from hintspec.lang.model import Model

StateT = TypeVar("StateT")

MAX_BFS_STATES = 200_000
"""States a sample's breadth-first search stores at most (then its depth is a bound)."""


@dataclasses.dataclass
class Sample(Generic[StateT]):
    """States to check, and where they come from."""

    states: list[StateT]
    depth: int
    """Levels of the breadth-first search after the initial one: the graph's depth when
    ``complete``, else how deep the search got."""
    reachable: int
    """States the search found: every reachable state when ``complete``."""
    complete: bool
    from_walks: int
    """Distinct states the random walks contributed."""
    from_levels: int
    """States taken from the last levels (``levels``) and not already walked."""
    levels: tuple[int, int]
    """The first and last BFS level whose states were all taken (or sampled, see
    ``level_sampled``)."""
    walks: int
    level_sampled: bool = False
    """The last level alone had more states than the sample's share: a random part of it."""

    def describe(self) -> str:
        """One line: how many states, from where, out of how many."""
        if self.complete and len(self.states) == self.reachable:
            return f"all {self.reachable} reachable states (depth {self.depth})"
        of = f"{self.reachable}" if self.complete else f"more than {self.reachable}"
        lo, hi = self.levels
        part = "part of " if self.level_sampled else ""
        levels = f"level {hi}" if lo == hi else f"levels {lo}-{hi}"
        return (
            f"{len(self.states)} of {of} reachable states: {self.from_walks} from {self.walks} "
            f"random walks of {self.depth} steps, {self.from_levels} more from {part}BFS "
            f"{levels} (depth {self.depth}{'' if self.complete else ', search cut short'})"
        )


def sample_states(
    model: Model[Any, StateT],
    target: int,
    *,
    seed: int = 0,
    max_states: int = MAX_BFS_STATES,
) -> Sample[StateT]:
    """At least ``target`` distinct reachable states of ``model`` (all of them if there are
    fewer): random walks as long as the graph is deep, and every state of the last BFS
    levels (half the target at most), in a fixed order for a given ``seed``."""
    levels, complete = _bfs(model, max_states)
    every = [s for level in levels for s in level]
    depth = len(levels) - 1
    if complete and len(every) <= target:
        return Sample(every, depth, len(every), True, 0, len(every), (0, depth), 0)
    rng = random.Random(seed)
    # The last levels: as many whole levels, from the deepest, as fit half the target.
    share = max(1, target // 2)
    chosen: dict[StateT, None] = {}
    lo = len(levels)
    sampled = False
    while lo > 0 and len(chosen) + len(levels[lo - 1]) <= share:
        lo -= 1
        chosen.update(dict.fromkeys(levels[lo]))
    if not chosen:
        lo = len(levels) - 1
        chosen.update(dict.fromkeys(rng.sample(levels[lo], share)))
        sampled = True
    # Random walks as long as the graph is deep, until the target is met.
    walked: dict[StateT, None] = {}
    inits = levels[0]
    walks = stale = 0
    while len(walked.keys() | chosen.keys()) < target and stale < 50:
        walks += 1
        before = len(walked)
        state = rng.choice(inits)
        walked.setdefault(state)
        for _ in range(max(depth, 1)):
            succ = [t for _i, _a, t in model.successors(state)]
            if not succ:
                break
            state = rng.choice(succ)
            walked.setdefault(state)
        stale = stale + 1 if len(walked) == before else 0
    states = list(walked)
    from_walks = len(states)
    states += [s for s in chosen if s not in walked]
    from_levels = len(states) - from_walks
    if len(states) < target:
        # Walks that find nothing new: top up from the search, deterministically.
        have = set(states)
        rest = [s for s in every if s not in have]
        states += rng.sample(rest, min(len(rest), target - len(states)))
    return Sample(
        states,
        depth,
        len(every),
        complete,
        from_walks,
        from_levels,
        (lo, len(levels) - 1),
        walks,
        sampled,
    )


def _bfs(model: Model[Any, StateT], max_states: int) -> tuple[list[list[StateT]], bool]:
    """The breadth-first levels of the reachable states (no symmetry reduction), and
    whether the search finished within ``max_states``."""
    seen: dict[StateT, None] = {}
    level = [s for s in model.initial_states() if s not in seen and not seen.setdefault(s)]
    levels = [level]
    while level:
        nxt: list[StateT] = []
        for s in level:
            for _i, _a, t in model.successors(s):
                if t not in seen:
                    seen[t] = None
                    nxt.append(t)
                    if len(seen) > max_states:
                        if nxt:
                            levels.append(nxt)
                        return levels, False
        if nxt:
            levels.append(nxt)
        level = nxt
    return levels, True
