"""Hinting queues and OOM: the 2019 per-CPU design against the capped single worker.

The review argument this model makes checkable (the 2019 review threads cited below):
hinting that isolates free pages and holds them until the host answers can starve the
guest, which then runs out of memory that is "only being hinted"; a single worker that
keeps at most ``capacity`` blocks in flight limits the damage, and the reviewers asked
"how to avoid OOM that can still happen in corner cases". The designs share one zone and
one guest demand, so a verdict table compares them.

Designs (``Config.variant``):

* ``percpu_2019`` -- Nitesh Narayan Lal, "KVM: Guest Free Page Hinting" RFC v9 (Mar 2019),
  virt/kvm/page_hinting.c: ``guest_free_page_enqueue`` records every freed block in a
  per-CPU array; ``guest_free_page_try_hinting`` runs ``guest_free_page_hinting`` on that CPU
  once the array reaches ``HINTING_THRESHOLD``: under the zone lock it isolates the recorded
  blocks that are still free into a per-CPU ``isolated_pages_obj`` array and resets the
  index; ``guest_free_page_report`` -> ``virtballoon_page_hinting`` adds one outbuf (one
  descriptor) naming the array; on an add error ``release_buddy_pages`` frees the blocks at
  once. The blocks return to the buddy only in the vq callback ``hinting_ack``
  (``virtqueue_get_buf``, then ``release_buddy_pages``). No cap, no watermark check. (The
  leak of the posted code is the separate variant ``percpu_drain_leak``.)
* ``capped_gate`` -- upstream free page reporting (mm/page_reporting.c, v5.10+ with the
  budget; §1.3, §1.4): one delayed worker (``page_reporting_process``); per zone pass a
  lockless watermark gate ``zone_watermark_ok(low + CAPACITY << order)`` in
  ``page_reporting_process_zone``; then ``page_reporting_cycle`` takes the zone lock and
  isolates up to ``capacity`` unreported free blocks (``__isolate_free_page`` keeps the zone
  above ``WMARK_MIN + 1 block``), reports them as one chained buffer and sleeps until the
  host acks (``virtballoon_free_page_report``: add, kick, ``wait_event``), then drains them
  back with PG_reported (``page_reporting_drain``). The budget (``DIV_ROUND_UP(nr_free,
  CAPACITY * 16)``, i.e. 1 here) allows budget + 1 full batches per cycle, then the pass
  requests a rerun. The gate is read once per pass, before the zone lock.
* ``capped_gate_per_batch`` -- a fix proposal, not upstream: the same worker re-checks the
  gate under the zone lock before every batch (the default design of this model).
* ``capped_no_gate`` -- the same worker without the zone watermark gate (the reviewers'
  "capped queue" alone): only ``__isolate_free_page``'s min-watermark check limits it.

Bad variants (each the one branch on ``self.variant`` it names):

* ``percpu_drain_leak`` -- RFC v9 exactly as posted: ``virtballoon_page_hinting`` starts
  with ``while (virtqueue_get_buf(vq, &unused));``, which detaches used buffers whose blocks
  ``hinting_ack`` never gets to release: they are lost (and ``hinting_ack`` would then
  dereference a NULL buffer).
* ``percpu_no_recheck`` -- the per-CPU scan isolates every recorded pfn without checking
  that it is still a free buddy block (the re-check RFC v8 added, §5.1): a block a task
  re-allocated is queued to the host, and a pfn two CPUs recorded is hinted twice.
* ``percpu_spin`` -- when the add fails the CPU keeps its isolated array and retries until
  the ring has room (the "busy spin when the vq is full" of §5.3 item 3, **unverified** for
  the RFCs: v9 as posted releases the blocks on error instead).
* ``capped_set_idle`` -- a plausible slip, not a historical bug: the per-batch design whose
  pass ends with ``atomic_set(&prdev->state, PAGE_REPORTING_IDLE)`` instead of
  ``page_reporting_process``'s ``atomic_cmpxchg(ACTIVE -> IDLE)``: a block freed during the
  pass requests a rerun that is overwritten, and the worker goes idle with a reportable
  block waiting.
* ``capped_empty_leftover`` -- a plausible slip, not a historical bug: the per-batch design
  without ``page_reporting_process_zone``'s ``if (leftover)``: a pass that isolated nothing
  still reports its (empty) leftover, which ``virtqueue_add_split`` refuses with
  ``BUG_ON(total_sg == 0)``.
* ``capped_leftover_not_drained`` -- a plausible slip: ``page_reporting_process_zone``
  without the ``page_reporting_drain`` of its leftover report ("flush any remaining pages
  out from the last report"): the acked blocks stay in the ring, never back on the free list.
* ``capped_waits_for_nothing`` -- a plausible slip: a cycle that isolated nothing goes to
  sleep for a leftover report it never sent, and the pass never ends.

Guest demand: each of ``cpus`` vCPUs may hold up to ``demand`` blocks allocated. An
allocation takes any free block while ``nr_free > wmark_min`` (``zone_watermark_ok`` at
WMARK_MIN); otherwise it fails and the model records the OOM (``Oom``) and stops there
(the OOM killer would act; an OOM state is terminal). Allocation is possible from every
state, so the model never deadlocks.

Definitions (all in blocks of the hinting order):

* *held* (memory hinting holds away from the allocator): blocks in a per-CPU isolated
  array or in a ring buffer (a per-CPU request or a report's scatterlist; available,
  popped by the host, or used but not yet reclaimed by the guest). Lost blocks are not
  held; they are lost.
* *hinting-induced OOM*: an allocation fails (``nr_free <= wmark_min``) although it would
  have succeeded had the hinting path returned every block it holds
  (``nr_free + held > wmark_min``). A failure with ``held == 0``, or one that would fail
  anyway, is a genuine OOM and not counted.

Abstractions, and why: one zone and one order -- every block is one block of the hinting
order (MAX_ORDER-1 for the RFC, the reporting order upstream) and the guest allocates and
frees whole blocks, so there is no splitting or merging (the detailed buddy is
``page_reporting``'s business; the OOM argument is about counts of blocks). One migratetype
and one cycle per pass. Watermarks are in blocks. The 2 s delay of the worker is a step
that may happen at any time. The host pops and acks buffers whenever it likes and may
never do so (a stalled host, e.g. QEMU's madvise waiting for the mm lock). Which free
block an allocation or isolation takes is a nondeterministic choice, enumerated once per
class of interchangeable blocks (``choices``): block numbers and vCPU numbers carry no
meaning, and the explorer stores one state per renaming class (``canonical``).

What the model answers (``python tests/benchmarks/hinting_oom_designs.py [key=value ...]``
prints it; the manifest records it): the per-CPU design causes a hinting-induced OOM at a demand
of one block per vCPU and holds all of memory; every capped design holds at most
``capacity`` blocks and causes an OOM only when the guest's own use leaves at most
``capacity`` blocks above WMARK_MIN; only the per-batch gate keeps every isolation above
WMARK_LOW -- upstream's gate is read before the zone lock and once per pass.

Properties that are transitions rather than states (the watermark an isolation leaves)
use a ghost flag (``low_breach``); ``measure`` computes the figures by walking the
explored states.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from hintspec.lang.model import (
    Args,
    Check,
    Model,
    action,
    always,
    leads_to,
    progress,
    sometimes,
)
from hintspec.lang.virtqueue import Virtqueue

PERCPU = ("percpu_2019", "percpu_drain_leak", "percpu_no_recheck", "percpu_spin")
CAPPED = (
    "capped_gate_per_batch",
    "capped_gate",
    "capped_no_gate",
    "capped_set_idle",
    "capped_empty_leftover",
    "capped_leftover_not_drained",
    "capped_waits_for_nothing",
)
PER_BATCH_GATE = (
    "capped_gate_per_batch",
    "capped_set_idle",
    "capped_empty_leftover",
    "capped_leftover_not_drained",
    "capped_waits_for_nothing",
)
"""The designs that re-check the zone gate before every batch (the fix proposal and its
bad variants)."""

WORKER_FAIRNESS = {
    a: "weak" for a in ("page_reporting_process", "page_reporting_cycle", "page_reporting_drain")
}
"""The reporting worker is a delayed work item on system_wq: once queued it runs, and a
running work item is not starved for ever (the workqueue's worker threads are scheduled
like any kernel thread). Assumed only by the liveness properties that say so."""
HOST_FAIRNESS = {"host_pop": "weak", "host_push": "weak"}
"""An answering host (QEMU's main loop or iothread pops and acks): assumed only by the
liveness properties that say so; ``no_busy_loop`` assumes none."""

BUDGET_DIVISOR = 16
"""``page_reporting_cycle``: budget = DIV_ROUND_UP(nr_free, PAGE_REPORTING_CAPACITY * 16)."""


class PR(IntEnum):
    """``prdev->state`` (mm/page_reporting.c)."""

    IDLE = 0
    REQUESTED = 1
    ACTIVE = 2


class Worker(IntEnum):
    """Where the reporting worker is inside ``page_reporting_process``."""

    OFF = 0
    """No pass is running (the delayed work is idle or queued)."""
    CYCLE = 1
    """Inside ``page_reporting_cycle``: the next step fills the scatterlist."""
    WAIT = 2
    """Sleeping in ``virtballoon_free_page_report``'s ``wait_event`` for a full batch."""
    WAIT_LEFTOVER = 3
    """Sleeping on the leftover report of ``page_reporting_process_zone``."""


@dataclass(frozen=True)
class Oom:
    """A failed allocation: which vCPU, and the zone as it was."""

    cpu: int
    free: int
    """``nr_free`` (blocks) when the allocation failed."""
    held: int
    """Blocks the hinting path held at that moment."""


@dataclass(frozen=True)
class Config:
    blocks: int = 4
    """Blocks of the hinting order in the zone."""
    cpus: int = 2
    """vCPUs (each allocates and frees; per-CPU hinting keeps one array per vCPU)."""
    demand: int = 1
    """Blocks each vCPU may hold allocated at once."""
    capacity: int = 1
    """PAGE_REPORTING_CAPACITY: blocks per report, the capped designs' in-flight cap."""
    ring: int = 0
    """Descriptors of the hinting virtqueue; 0: the design's own size -- ``capacity`` for
    the reporting worker (QEMU's reporting_vq has exactly PAGE_REPORTING_CAPACITY = 32
    entries, one per scatterlist entry), ``blocks`` for per-CPU hinting (one outbuf per
    request: the ring never limits it before memory runs out, as with the RFC, whose
    requests named arrays of up to 128 blocks)."""
    threshold: int = 1
    """HINTING_THRESHOLD: recorded frees that make a vCPU scan its array (per-CPU)."""
    wmark_min: int = 0
    """WMARK_MIN in blocks: an allocation needs nr_free > wmark_min."""
    wmark_low: int = 2
    """WMARK_LOW in blocks: the gate needs nr_free > wmark_low + capacity."""
    variant: str = "capped_gate_per_batch"

    def __post_init__(self) -> None:
        if self.blocks < 1 or self.cpus < 1 or self.demand < 0:
            raise ValueError("blocks and cpus must be >= 1, demand >= 0")
        if self.capacity < 1 or self.threshold < 1:
            raise ValueError("capacity and threshold must be >= 1")
        if 0 < self.ring < self.capacity and self.variant in CAPPED:
            raise ValueError(
                f"ring ({self.ring}) < capacity ({self.capacity}): virtballoon_probe "
                "refuses REPORTING with -ENOSPC"
            )
        if not 0 <= self.wmark_min <= self.wmark_low:
            raise ValueError("need 0 <= wmark_min <= wmark_low")


@dataclass(frozen=True)
class State:
    free: frozenset[int]
    """The zone's free list (blocks of the hinting order)."""
    reported: frozenset[int]
    """Free blocks the host has acked and nobody reused since (PG_reported upstream; for
    the per-CPU design the same mark is kept as a ghost, for the witnesses)."""
    allocated: tuple[frozenset[int], ...]
    """Per vCPU: the blocks its tasks use."""
    listed: tuple[tuple[int, ...], ...]
    """Per vCPU: ``free_page_arr`` of recorded freed pfns (per-CPU designs)."""
    isolated: tuple[tuple[int, ...], ...]
    """Per vCPU: ``isolated_pages_obj``, isolated and not yet in the ring (per-CPU)."""
    pr_state: PR
    worker: Worker
    budget: int
    vq: Virtqueue
    oom: Oom | None
    low_breach: bool
    """Ghost: an isolation by the hinting path left the zone below WMARK_LOW."""


class HintingOom(Model[Config, State]):
    """Hinting queues and OOM: per-CPU hinting (2019) vs the capped reporting worker."""

    name = "hinting_oom"
    variants = {
        "capped_gate_per_batch": "fix proposal: the capped worker re-checks the zone gate "
        "(low + CAPACITY) under the zone lock before every batch",
        "capped_gate": "upstream free page reporting: one worker, at most CAPACITY blocks "
        "in flight, lockless zone gate low + CAPACITY once per pass (mm/page_reporting.c, "
        "§1.4)",
        "capped_no_gate": "the capped worker without the zone watermark gate; only "
        "__isolate_free_page's WMARK_MIN + 1 block check limits isolation",
        "percpu_2019": "Nitesh's RFC v9 per-CPU hinting: per-CPU arrays, no cap, no "
        "watermark check, pages back only on the host's answer (§5.1)",
        "percpu_drain_leak": "RFC v9 as posted: virtballoon_page_hinting detaches used "
        "buffers (while (virtqueue_get_buf(vq, &unused));) whose blocks are never released",
        "percpu_no_recheck": "per-CPU scan isolates recorded pfns without re-checking that "
        "they are still free buddy blocks (the re-check of RFC v8, §5.1)",
        "percpu_spin": "per-CPU hinting that retries a failed add until the ring has room "
        "(busy spin on a full vq, §5.3 item 3, unverified for the RFCs)",
        "capped_set_idle": "the per-batch design ending a pass with atomic_set(IDLE) instead "
        "of page_reporting_process's cmpxchg(ACTIVE -> IDLE): a request made during the "
        "pass is lost (a plausible slip)",
        "capped_empty_leftover": "the per-batch design without page_reporting_process_zone's "
        "if (leftover): an empty scatterlist is reported (a plausible slip; "
        "virtqueue_add_split has BUG_ON(total_sg == 0))",
        "capped_leftover_not_drained": "the per-batch design whose pass ends without "
        "page_reporting_drain of the leftover report: acked blocks stay in the ring "
        "(a plausible slip)",
        "capped_waits_for_nothing": "the per-batch design whose cycle, having isolated "
        "nothing, sleeps for a leftover report it never sent (a plausible slip)",
    }
    reference_config = {"blocks": 5, "capacity": 2, "demand": 2}
    designs = frozenset({"percpu_2019", "capped_no_gate", "capped_gate", "capped_gate_per_batch"})
    hypothesis_config = {
        # 256 blocks, 4 vCPUs, a 32-entry ring and CAPACITY 32 (upstream's figures); the
        # vCPUs together use at most 192 blocks, below blocks - WMARK_MIN - CAPACITY = 220,
        # so the fixed design must never cause an OOM here.
        "blocks": 256,
        "cpus": 4,
        "demand": 48,
        "capacity": 32,
        "ring": 32,
        "threshold": 16,
        "wmark_min": 4,
        "wmark_low": 8,
    }
    frame_legend = {
        "0-9": "allocated by that vCPU",
        "f": "free",
        "R": "free, acked by the host (PG_reported)",
        "I": "isolated, held by a vCPU or the worker",
        "Q": "in the ring, not yet popped by the host",
        "H": "popped by the host, not yet acked",
        "U": "acked, waiting for the guest's get_buf",
        "?": "nowhere (lost)",
        "*": "in two places at once",
    }

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.percpu = config.variant in PERCPU
        self.capped = config.variant in CAPPED
        self.ring = config.ring or (config.blocks if self.percpu else config.capacity)

    def initial_states(self) -> Iterator[State]:
        c = self.config
        n = c.cpus
        yield State(
            free=frozenset(range(c.blocks)),
            reported=frozenset(),
            allocated=(frozenset(),) * n,
            listed=((),) * n,
            isolated=((),) * n,
            # page_reporting_register requests the initial flush of every zone.
            pr_state=PR.REQUESTED if self.capped else PR.IDLE,
            worker=Worker.OFF,
            budget=0,
            # Per-CPU hint requests are one outbuf naming an array (one descriptor); a
            # report is a chained scatterlist, one descriptor per block.
            vq=Virtqueue(self.ring, indirect=self.percpu),
            oom=None,
            low_breach=False,
        )

    def is_terminal(self, s: State) -> bool:
        return s.oom is not None

    # -- symmetry: blocks are interchangeable, and so are vCPUs ------------------------

    symmetric = True

    def canonical(self, s: State) -> State:
        """The representative of ``s`` up to renaming blocks and vCPUs: nothing in the
        model depends on a block's number or a vCPU's number, only on where they are.
        Every property and the set of enabled actions are invariant under renaming."""
        best: State | None = None
        best_key: tuple[Any, ...] = ()
        for perm in itertools.permutations(range(self.config.cpus)):
            t = _rename_blocks(self, _rename_cpus(self, s, perm))
            key = _key(t)
            if best is None or key < best_key:
                best, best_key = t, key
        assert best is not None
        return best

    # -- nondeterministic choices, one per symmetry class ------------------------------

    def choices(self, s: State, blocks: frozenset[int]) -> list[int]:
        """One block of ``blocks`` per class of interchangeable blocks (the lowest): two
        blocks with the same occurrences give states equal up to renaming, so choosing
        either is the same choice. This keeps the branching small at any size."""
        sig = _signature(self, s)
        seen: dict[tuple[Any, ...], int] = {}
        for b in sorted(blocks):
            seen.setdefault(sig[b], b)
        return sorted(seen.values())

    def subsets(self, s: State, blocks: list[int], count: int) -> Iterator[tuple[int, ...]]:
        """Every way to take ``count`` of ``blocks`` up to interchangeable blocks: how many
        of each class, the lowest-numbered ones of it."""
        sig = _signature(self, s)
        classes: dict[tuple[Any, ...], list[int]] = {}
        for b in sorted(blocks):
            classes.setdefault(sig[b], []).append(b)
        groups = list(classes.values())
        for counts in _splits(count, [len(g) for g in groups]):
            yield tuple(sorted(b for g, n in zip(groups, counts, strict=True) for b in g[:n]))

    # -- helpers ----------------------------------------------------------------------

    def held(self, s: State) -> int:
        """Blocks the hinting path holds away from the allocator."""
        ring = sum(len(self.payload(b)) for b in s.vq.buffers)
        return sum(len(i) for i in s.isolated) + ring

    def payload(self, buf: tuple[int, ...]) -> tuple[int, ...]:
        """The blocks a ring buffer names. A per-CPU request is ``(cpu, *blocks)`` (the
        vCPU whose isolated array it is: kept so traces say who holds what; the outbuf is
        one descriptor); a report is the scatterlist itself (one descriptor per block)."""
        return buf[1:] if self.percpu else buf

    def _busy(self, s: State, cpu: int) -> bool:
        """The vCPU is inside the hinting call of its free path (per-CPU designs)."""
        return len(s.listed[cpu]) >= self.config.threshold or bool(s.isolated[cpu])

    def _breach(self, s: State, nr_free: int) -> bool:
        return s.low_breach or nr_free < self.config.wmark_low

    def _gate(self, nr_free: int) -> bool:
        """``zone_watermark_ok(zone, 0, low_wmark + (CAPACITY << order), 0, ALLOC_CMA)``."""
        return nr_free > self.config.wmark_low + self.config.capacity

    # -- guest demand -----------------------------------------------------------------

    @action("mm/page_alloc.c: get_page_from_freelist -> rmqueue")
    def alloc(self, s: State) -> Iterator[tuple[Args, State]]:
        """A task on ``cpu`` allocates ``block`` while the zone is above WMARK_MIN."""
        if s.oom is not None or len(s.free) <= self.config.wmark_min:
            return
        for cpu in range(self.config.cpus):
            if len(s.allocated[cpu]) >= self.config.demand or self._busy(s, cpu):
                continue
            for block in self.choices(s, s.free):
                allocated = _set_at(s.allocated, cpu, s.allocated[cpu] | {block})
                yield (
                    {"cpu": cpu, "block": block},
                    replace(
                        s,
                        free=s.free - {block},
                        reported=s.reported - {block},  # __del_page_from_free_list
                        allocated=allocated,
                    ),
                )

    @action("mm/page_alloc.c: __alloc_pages_slowpath -> __alloc_pages_may_oom")
    def out_of_memory(self, s: State) -> Iterator[tuple[Args, State]]:
        """A task on ``cpu`` needs a block and the zone is at WMARK_MIN: the allocation
        fails. The model stops here (the OOM killer's business)."""
        if s.oom is not None or len(s.free) > self.config.wmark_min:
            return
        for cpu in range(self.config.cpus):
            if len(s.allocated[cpu]) >= self.config.demand or self._busy(s, cpu):
                continue
            oom = Oom(cpu, len(s.free), self.held(s))
            yield {"cpu": cpu}, replace(s, oom=oom)

    @action(
        "mm/page_alloc.c: __free_one_page (+ guest_free_page_enqueue / page_reporting_notify_free)"
    )
    def free(self, s: State) -> Iterator[tuple[Args, State]]:
        """A task on ``cpu`` frees ``block``. Per-CPU: the block's pfn is recorded in the
        vCPU's array. Capped: ``__page_reporting_request`` (IDLE or ACTIVE -> REQUESTED)."""
        if s.oom is not None:
            return
        for cpu in range(self.config.cpus):
            if self._busy(s, cpu):
                continue
            for block in self.choices(s, s.allocated[cpu]):
                t = replace(
                    s,
                    free=s.free | {block},
                    allocated=_set_at(s.allocated, cpu, s.allocated[cpu] - {block}),
                )
                if self.percpu:
                    # guest_free_page_enqueue; the order of the array does not matter
                    # (the scan takes every entry), so it is kept sorted.
                    listed = tuple(sorted((*s.listed[cpu], block)))
                    t = replace(t, listed=_set_at(s.listed, cpu, listed))
                else:
                    t = replace(t, pr_state=PR.REQUESTED)
                yield {"cpu": cpu, "block": block}, t

    # -- per-CPU hinting (RFC v9) -------------------------------------------------------

    @action(
        "virt/kvm/page_hinting.c (RFC v9): guest_free_page_try_hinting -> "
        "guest_free_page_hinting, guest_free_page_report"
    )
    def guest_free_page_hinting(self, s: State) -> Iterator[tuple[Args, State]]:
        """The vCPU's array reached the threshold: under the zone lock, isolate the
        recorded blocks that are still free (PageBuddy), reset the index, and report the
        isolated array as one outbuf (``virtballoon_page_hinting``). On -ENOSPC the blocks
        go back at once (``release_buddy_pages``), or, in ``percpu_spin``, the vCPU keeps
        them and retries. The vCPU runs all this with preemption off (``get_cpu_var``)."""
        if not self.percpu or s.oom is not None:
            return
        for cpu in range(self.config.cpus):
            if len(s.listed[cpu]) < self.config.threshold or s.isolated[cpu]:
                continue
            take: list[int] = []
            free = set(s.free)
            for pfn in s.listed[cpu]:
                if pfn in take:
                    continue
                if pfn in free:
                    free.discard(pfn)
                    take.append(pfn)
                elif self.variant == "percpu_no_recheck":
                    take.append(pfn)  # the bug: isolated although no longer a free block
            t = replace(
                s,
                free=frozenset(free),
                reported=s.reported & frozenset(free),
                listed=_set_at(s.listed, cpu, ()),
                low_breach=self._breach(s, len(free)) if take else s.low_breach,
            )
            yield {"cpu": cpu, "blocks": tuple(take)}, self._send(t, cpu, tuple(take))

    def _send(self, s: State, cpu: int, batch: tuple[int, ...]) -> State:
        """``virtballoon_page_hinting``: add the batch as one outbuf, or handle -ENOSPC."""
        if not batch:
            return s
        vq = s.vq
        if self.variant == "percpu_drain_leak":
            # while (virtqueue_get_buf(vq, &unused)); -- used buffers dropped, never released
            vq = replace(vq, used=())
        added = vq.add((cpu, *batch))
        if added is not None:
            return replace(s, vq=added, isolated=_set_at(s.isolated, cpu, ()))
        if self.variant == "percpu_spin":
            return replace(s, vq=vq, isolated=_set_at(s.isolated, cpu, batch))
        return replace(s, vq=vq, free=s.free | set(batch), isolated=_set_at(s.isolated, cpu, ()))

    @action("virt/kvm/page_hinting.c (percpu_spin): retry virtqueue_add_outbuf")
    def retry_add(self, s: State) -> Iterator[tuple[Args, State]]:
        """``percpu_spin`` only: the vCPU holding an isolated array tries the add again."""
        if self.variant != "percpu_spin" or s.oom is not None:
            return
        for cpu in range(self.config.cpus):
            if s.isolated[cpu]:
                batch = s.isolated[cpu]
                yield {"cpu": cpu, "blocks": batch}, self._send(s, cpu, batch)

    @action("drivers/virtio/virtio_balloon.c (RFC v9): hinting_ack -> release_buddy_pages")
    def hinting_ack(self, s: State) -> Iterator[tuple[Args, State]]:
        """The vq callback: take one used buffer and return its blocks to the buddy (the
        model marks them as acked, for the witnesses)."""
        if not self.percpu:
            return
        got = s.vq.get_buf()
        if got is None:
            return
        buf, vq = got
        blocks = self.payload(buf)
        yield (
            {"cpu": buf[0], "blocks": blocks},
            replace(s, vq=vq, free=s.free | set(blocks), reported=s.reported | set(blocks)),
        )

    # -- capped single worker (upstream page reporting) --------------------------------

    @action("mm/page_reporting.c: page_reporting_process -> page_reporting_process_zone")
    def page_reporting_process(self, s: State) -> Iterator[tuple[Args, State]]:
        """The delayed work runs: state ACTIVE; the zone gate (``capped_gate``) needs
        nr_free > low + capacity, else the pass ends at once (cmpxchg ACTIVE -> IDLE)."""
        if not self.capped or s.worker is not Worker.OFF or s.pr_state is not PR.REQUESTED:
            return
        c = self.config
        nr_free = len(s.free)
        if self.variant == "capped_gate" and not self._gate(nr_free):
            yield {"gate": False}, replace(s, pr_state=PR.IDLE)
            return
        budget = -(-nr_free // (c.capacity * BUDGET_DIVISOR))
        args: Args = {"gate": True} if self.variant == "capped_gate" else {}
        yield args, replace(s, pr_state=PR.ACTIVE, worker=Worker.CYCLE, budget=budget)

    @action("mm/page_reporting.c: page_reporting_cycle -> __isolate_free_page, report")
    def page_reporting_cycle(self, s: State) -> Iterator[tuple[Args, State]]:
        """Under the zone lock, isolate unreported free blocks (while the budget lasts, the
        scatterlist has room and ``__isolate_free_page``'s watermark holds); then report
        the scatterlist (add, kick, sleep). A full batch costs one budget unit; a partial
        one is the zone's leftover; an exhausted budget requests a rerun."""
        if s.worker is not Worker.CYCLE:
            return
        c = self.config
        eligible = sorted(s.free - s.reported)
        if s.budget < 0:
            # budget exhausted: atomic_set(state, REQUESTED), the cycle ends; the pass ends
            # with nothing left over (the last full batch was drained).
            pr = PR.REQUESTED if eligible else s.pr_state
            yield {"blocks": ()}, self._pass_end(replace(s, pr_state=pr))
            return
        if self.variant in PER_BATCH_GATE and not self._gate(len(s.free)):
            yield {"blocks": ()}, self._pass_end(s)
            return
        room = c.capacity
        count = min(room, len(eligible), max(0, len(s.free) - c.wmark_min - 1))
        if count == 0 and self.variant == "capped_waits_for_nothing":
            yield {"blocks": ()}, replace(s, worker=Worker.WAIT_LEFTOVER)
            return
        if count == 0 and self.variant == "capped_empty_leftover":
            added = s.vq.add(())
            # The worker adds only after its previous buffer came back, so one descriptor
            # is always free here.
            if added is not None:  # pragma: no branch -- the ring has room, see above
                yield {"blocks": ()}, replace(s, vq=added, worker=Worker.WAIT_LEFTOVER)
                return
        if count == 0:
            yield {"blocks": ()}, self._pass_end(s)
            return
        for take in self.subsets(s, eligible, count):
            free = s.free - set(take)
            # The scatterlist is filled and handed to report() in one step: the zone lock
            # is held while it fills, and the worker does nothing else until the add.
            full = len(take) == c.capacity
            t = replace(s, free=free, low_breach=self._breach(s, len(free)))
            added = s.vq.add(take)
            if added is None:
                # WARN_ON_ONCE(err): drain unreported, the error ends the pass.
                t = replace(t, free=s.free)
                yield {"blocks": take}, self._pass_end(t)
                continue
            t = replace(
                t,
                vq=added,
                worker=Worker.WAIT if full else Worker.WAIT_LEFTOVER,
                budget=s.budget - 1 if full else s.budget,
            )
            yield {"blocks": take}, t

    @action("mm/page_reporting.c: page_reporting_drain (virtballoon_free_page_report: wait_event)")
    def page_reporting_drain(self, s: State) -> Iterator[tuple[Args, State]]:
        """The host acked: the worker wakes (``virtqueue_get_buf``), puts the blocks back
        and marks them PG_reported; a full batch continues the cycle, a leftover ends the
        pass."""
        if s.worker not in (Worker.WAIT, Worker.WAIT_LEFTOVER):
            return
        got = s.vq.get_buf()
        if got is None:
            return
        buf, vq = got
        if s.worker is Worker.WAIT_LEFTOVER and self.variant == "capped_leftover_not_drained":
            yield {"blocks": ()}, self._pass_end(s)
            return
        t = replace(s, vq=vq, free=s.free | set(buf), reported=s.reported | set(buf))
        if s.worker is Worker.WAIT:
            yield {"blocks": buf}, replace(t, worker=Worker.CYCLE)
        else:
            yield {"blocks": buf}, self._pass_end(t)

    def _pass_end(self, s: State) -> State:
        """End of ``page_reporting_process``: cmpxchg(ACTIVE -> IDLE); a REQUESTED state
        stays (the work is queued again)."""
        lost_request = self.variant == "capped_set_idle"
        pr = PR.IDLE if s.pr_state is PR.ACTIVE or lost_request else s.pr_state
        return replace(s, worker=Worker.OFF, pr_state=pr, budget=0)

    # -- the host ---------------------------------------------------------------------

    @action("hw/virtio/virtio-balloon.c: virtio_balloon_handle_report -> virtqueue_pop")
    def host_pop(self, s: State) -> Iterator[tuple[Args, State]]:
        """The device takes the oldest buffer (it may wait as long as it likes)."""
        got = s.vq.pop()
        if got is not None:
            buf, vq = got
            yield {"blocks": self.payload(buf)}, replace(s, vq=vq)

    @action("hw/virtio/virtio-balloon.c: ram_block_discard_range, virtqueue_push")
    def host_push(self, s: State) -> Iterator[tuple[Args, State]]:
        """The device discarded the blocks and acks the buffer."""
        if s.vq.inflight:
            buf, vq = s.vq.push(0)
            yield {"blocks": self.payload(buf)}, replace(s, vq=vq)

    # -- properties -------------------------------------------------------------------

    @always("no hinting-induced OOM")
    def no_hinting_oom(self, s: State) -> Check:
        """An allocation never fails when returning the blocks hinting holds would have
        let it succeed (``nr_free <= min < nr_free + held``)."""
        o = s.oom
        if o is None or o.held == 0 or o.free + o.held <= self.config.wmark_min:
            return True
        return (
            f"vCPU {o.cpu}'s allocation fails with {o.free} block(s) free "
            f"(WMARK_MIN {self.config.wmark_min}) while hinting holds {o.held} "
            f"({self._where_held(s)}); returning them would leave {o.free + o.held} free"
        )

    @always("hinting holds at most CAPACITY blocks")
    def in_flight_bound(self, s: State) -> Check:
        """The in-flight bound: memory held by hinting never exceeds ``capacity`` blocks
        (PAGE_REPORTING_CAPACITY upstream; the reviewers' 64M)."""
        held = self.held(s)
        if held <= self.config.capacity:
            return True
        cap = self.config.capacity
        return f"hinting holds {held} blocks ({self._where_held(s)}), capacity is {cap}"

    @always("every block is in exactly one place")
    def exclusion(self, s: State) -> Check:
        """No lost block, no block in two descriptors, never both queued and allocated:
        each block is in exactly one of the free list, a vCPU's allocation, an isolated
        array, or one ring buffer."""
        where: dict[int, str] = {}
        for block, place in self._places(s):
            if block in where:
                return f"block {block} is {where[block]} and {place}"
            where[block] = place
        lost = [b for b in range(self.config.blocks) if b not in where]
        if lost:
            return f"block {lost[0]} is nowhere: lost (no free list, task, array or ring)"
        return True

    @always("PG_reported only on free blocks")
    def reported_free(self, s: State) -> Check:
        bad = sorted(s.reported - s.free)
        return f"block {bad[0]} is marked reported but not free" if bad else True

    @always("hinting never takes the zone below the low watermark")
    def above_low(self, s: State) -> Check:
        """No isolation by the hinting path leaves fewer than ``wmark_low`` blocks free
        (the promise of the zone gate)."""
        if s.low_breach:
            return (
                f"an isolation left the zone below WMARK_LOW ({self.config.wmark_low}); "
                f"now {len(s.free)} free, {self.held(s)} held by hinting"
            )
        return True

    @always("hinting causes an OOM only when free memory is tight")
    def oom_only_when_tight(self, s: State) -> Check:
        """A hinting-induced OOM happens only when the guest's own allocations leave at
        most ``capacity`` blocks above WMARK_MIN (uses >= blocks - wmark_min - capacity):
        then, and only then, a capped hinting path can hold the rest."""
        o = s.oom
        if o is None or self.no_hinting_oom(s) is True:
            return True
        c = self.config
        uses = sum(len(a) for a in s.allocated)
        tight = c.blocks - c.wmark_min - c.capacity
        if uses >= tight:
            return True
        return (
            f"vCPU {o.cpu}'s allocation fails while the guest uses only {uses} of "
            f"{c.blocks} blocks (tight would be >= {tight}): hinting holds {o.held}"
        )

    @always(
        "the worker does not go idle while a block it may report waits",
        trigger="the hinting path goes idle after its hints were acked",
    )
    def no_idle_with_work(self, s: State) -> Check:
        """A pass ends with ``cmpxchg(ACTIVE -> IDLE)`` and every free re-requests a pass
        (``__page_reporting_request``), so the worker is idle with no request pending only
        when nothing is left that a pass would report: every free block reported, or the
        zone too low for the gate or for ``__isolate_free_page``. A lost request is a block
        that stays unreported for as long as the guest leaves memory alone."""
        if not self.capped or s.oom is not None:
            return True
        if s.worker is not Worker.OFF or s.pr_state is not PR.IDLE:
            return True
        waiting = sorted(s.free - s.reported)
        if not waiting or not self._reportable(s):
            return True
        return (
            f"the worker is idle with no request pending while block {waiting[0]} is free, "
            f"unreported and reportable ({len(s.free)} free, gate low + capacity = "
            f"{self.config.wmark_low + self.config.capacity})"
        )

    def _reportable(self, s: State) -> bool:
        """A pass starting now would isolate a block: the design's gate is open and
        ``__isolate_free_page`` leaves the zone above WMARK_MIN + 1 block."""
        nr_free = len(s.free)
        gated = self.variant != "capped_no_gate"
        return nr_free - self.config.wmark_min - 1 > 0 and (not gated or self._gate(nr_free))

    @always("every ring buffer names at least one block", unconditional=True)
    def no_empty_buffer(self, s: State) -> Check:
        """``virtqueue_add_split``: ``BUG_ON(total_sg == 0)``. A report or a hint request
        names the blocks it hands over; an empty one is a guest crash."""
        for kind, bufs in (("queued", s.vq.avail), ("at the host", s.vq.inflight)):
            for i, buf in enumerate(bufs):
                if not self.payload(buf):
                    return f"ring buffer {kind} #{i} names no block (BUG_ON(total_sg == 0))"
        if any(not self.payload(b) for b in s.vq.used):
            return "an acked ring buffer names no block (BUG_ON(total_sg == 0))"
        return True

    def _in_pass(self, s: State) -> bool:
        return self.capped and s.worker is not Worker.OFF

    @leads_to(
        "a reporting pass ends while the host answers",
        when=_in_pass,
        fairness=WORKER_FAIRNESS | HOST_FAIRNESS,
    )
    def pass_ends(self, s: State) -> bool:
        """``page_reporting_process`` returns: every batch is drained once the host acks
        it, and the budget bounds the batches of one pass. An OOM ends the model there."""
        return s.worker is Worker.OFF or s.oom is not None

    def _reported_in_ring(self, s: State) -> bool:
        return self.capped and bool(s.vq.buffers)

    @leads_to(
        "every block the worker hands to the host comes back to the allocator",
        when=_reported_in_ring,
        fairness=WORKER_FAIRNESS | HOST_FAIRNESS,
    )
    def reports_come_back(self, s: State) -> bool:
        """``page_reporting_drain`` puts every block of an acked report back on the free
        list: the worker keeps at most one report in the ring, so the ring empties."""
        return not s.vq.buffers or s.oom is not None

    @progress(
        "the guest does not loop forever adding to a full ring",
        region=lambda self, s: s.vq.full,
        fairness={},
    )
    def no_busy_loop(self, s: State, t: State) -> bool:
        """While the ring is full (and the host stalls for ever: no fairness), every guest
        step changes something; a failed add that leaves the state as it was, repeated for
        ever, is the busy loop."""
        return s != t

    @sometimes("a hint is sent")
    def hint_sent(self, s: State) -> bool:
        return bool(s.vq.avail)

    @sometimes("a hinted block is reused")
    def hint_reused(self, s: State) -> bool:
        """Every free block is one the host was told about, and a vCPU is about to
        allocate: the allocation reuses a hinted block."""
        wants = any(
            len(s.allocated[c]) < self.config.demand and not self._busy(s, c)
            for c in range(self.config.cpus)
        )
        return wants and bool(s.free) and s.free <= s.reported

    @sometimes("the ring fills")
    def ring_fills(self, s: State) -> bool:
        return s.vq.full

    @sometimes("the hinting path goes idle after its hints were acked")
    def hinting_idle(self, s: State) -> bool:
        """Capped: the worker is off with no request pending. Per-CPU: no vCPU has recorded
        or isolated blocks and the ring is empty. Either way some block is acked."""
        if not s.reported:
            return False
        if self.capped:
            return s.worker is Worker.OFF and s.pr_state is PR.IDLE
        return not any(s.listed) and not any(s.isolated) and not s.vq.buffers

    @sometimes("the host stalls on a hint while the zone is at the low watermark")
    def host_stalls(self, s: State) -> bool:
        return bool(s.vq.inflight) and len(s.free) <= self.config.wmark_low

    # -- rendering --------------------------------------------------------------------

    def _places(self, s: State) -> Iterator[tuple[int, str]]:
        for b in s.free:
            yield b, "free"
        for cpu, blocks in enumerate(s.allocated):
            for b in blocks:
                yield b, f"allocated by vCPU {cpu}"
        for cpu, isolated in enumerate(s.isolated):
            for b in isolated:
                yield b, f"isolated by vCPU {cpu}"
        for kind, bufs in (
            ("queued", s.vq.avail),
            ("at the host", s.vq.inflight),
            ("acked", s.vq.used),
        ):
            for i, buf in enumerate(bufs):
                for b in self.payload(buf):
                    yield b, f"in ring buffer {kind} #{i}"

    def _where_held(self, s: State) -> str:
        parts = [f"vCPU {c} isolated {len(i)}" for c, i in enumerate(s.isolated) if i]
        if self.percpu:
            for c in range(self.config.cpus):
                n = sum(len(self.payload(b)) for b in s.vq.buffers if b[0] == c)
                if n:
                    parts.append(f"vCPU {c}'s requests in the ring {n}")
        else:
            ring = sum(len(b) for b in s.vq.buffers)
            if ring:
                parts.append(f"ring {ring}")
        return ", ".join(parts) or "nothing"

    def view(self, s: State) -> dict[str, Any]:
        """Who holds what: the zone, each vCPU, the hinting path, the ring, the OOM."""
        c = self.config
        out: dict[str, Any] = {
            "zone": f"{len(s.free)} of {c.blocks} free {_blocks(s.free)}, "
            f"reported {_blocks(s.reported)} (min {c.wmark_min}, low {c.wmark_low})",
        }
        for cpu in range(c.cpus):
            text = f"uses {_blocks(s.allocated[cpu])}"
            if self.percpu:
                text += f", array {list(s.listed[cpu])}"
                if s.isolated[cpu]:
                    text += f", isolated {list(s.isolated[cpu])} (retrying the add)"
                mine = sum(len(self.payload(b)) for b in s.vq.buffers if b[0] == cpu)
                text += f", in flight {mine}"
            out[f"vcpu{cpu}"] = text
        if self.capped:
            out["worker"] = f"{s.pr_state.name}, {s.worker.name}, budget {s.budget}"
        out["held"] = f"{self.held(s)} block(s): {self._where_held(s)}"
        out["ring"] = (
            f"avail {self._bufs(s.vq.avail)} host {self._bufs(s.vq.inflight)} "
            f"used {self._bufs(s.vq.used)}"
            f", {s.vq.num_free}/{self.ring} free"
        )
        if s.oom is not None:
            out["oom"] = (
                f"vCPU {s.oom.cpu}'s allocation FAILS: {s.oom.free} free, "
                f"{s.oom.held} held by hinting"
            )
        return out

    def _bufs(self, bufs: tuple[tuple[int, ...], ...]) -> str:
        out = []
        for b in bufs:
            who = f"cpu{b[0]}:" if self.percpu else ""
            out.append(who + "(" + ",".join(map(str, self.payload(b))) + ")")
        return "[" + " ".join(out) + "]"

    def frame_map(self, s: State) -> str:
        cells: list[str] = []
        seen: dict[int, str] = {}
        for block, place in self._places(s):
            ch = _cell(s, block, place)
            seen[block] = "*" if block in seen else ch
        for b in range(self.config.blocks):
            cells.append(seen.get(b, "?"))
        return "".join(cells)


def _cell(s: State, block: int, place: str) -> str:
    if place == "free":
        return "R" if block in s.reported else "f"
    if place.startswith("allocated by vCPU "):
        cpu = int(place.rsplit(" ", 1)[1])
        return str(cpu) if cpu < 10 else "A"
    if place.startswith("in ring buffer queued"):
        return "Q"
    if place.startswith("in ring buffer at the host"):
        return "H"
    if place.startswith("in ring buffer acked"):
        return "U"
    return "I"


def _rename_cpus(model: HintingOom, s: State, perm: tuple[int, ...]) -> State:
    """vCPU ``perm[i]`` becomes vCPU ``i``."""
    if perm == tuple(range(len(perm))):
        return s

    def ring(bufs: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
        if not model.percpu:
            return bufs
        back = {old: new for new, old in enumerate(perm)}
        return tuple((back[b[0]], *b[1:]) for b in bufs)

    oom = s.oom
    if oom is not None:
        oom = replace(oom, cpu=perm.index(oom.cpu))
    vq = replace(s.vq, avail=ring(s.vq.avail), inflight=ring(s.vq.inflight), used=ring(s.vq.used))
    return replace(
        s,
        allocated=tuple(s.allocated[p] for p in perm),
        listed=tuple(s.listed[p] for p in perm),
        isolated=tuple(s.isolated[p] for p in perm),
        vq=vq,
        oom=oom,
    )


def _rename_blocks(model: HintingOom, s: State) -> State:
    """Number the blocks by where they are (their signature), so that two states that
    differ only in block numbers get the same numbers. Blocks with equal signatures are
    interchangeable, so how ties are broken does not matter."""
    sig = _signature(model, s)
    order = sorted(sig, key=lambda b: (sig[b], b))
    new = {old: i for i, old in enumerate(order)}

    def ren(blocks: Any) -> Any:
        return frozenset(new[b] for b in blocks)

    def seq(blocks: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(new[b] for b in blocks))

    def ring(bufs: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
        if model.percpu:
            return tuple((b[0], *seq(b[1:])) for b in bufs)
        return tuple(seq(b) for b in bufs)

    vq = replace(s.vq, avail=ring(s.vq.avail), inflight=ring(s.vq.inflight), used=ring(s.vq.used))
    return replace(
        s,
        free=ren(s.free),
        reported=ren(s.reported),
        allocated=tuple(ren(a) for a in s.allocated),
        listed=tuple(seq(x) for x in s.listed),
        isolated=tuple(seq(x) for x in s.isolated),
        vq=vq,
    )


def _signature(model: HintingOom, s: State) -> dict[int, tuple[Any, ...]]:
    """Block -> where it occurs (container, vCPU, ring position), independent of numbers."""
    occurs: dict[int, list[tuple[Any, ...]]] = {b: [] for b in range(model.config.blocks)}
    for b in s.free:
        occurs[b].append((0, b in s.reported))
    for cpu, blocks in enumerate(s.allocated):
        for b in blocks:
            occurs[b].append((1, cpu))
    for cpu, listed in enumerate(s.listed):
        for b in listed:
            occurs[b].append((2, cpu))
    for cpu, isolated in enumerate(s.isolated):
        for b in isolated:
            occurs[b].append((3, cpu))
    for part, bufs in enumerate((s.vq.avail, s.vq.inflight, s.vq.used)):
        for i, buf in enumerate(bufs):
            for b in model.payload(buf):
                occurs[b].append((4, part, i))
    return {b: tuple(sorted(o)) for b, o in occurs.items()}


def _splits(total: int, sizes: list[int]) -> Iterator[tuple[int, ...]]:
    """Every way to write ``total`` as n_0 + n_1 + ... with 0 <= n_i <= sizes[i]."""
    if not sizes:
        if total == 0:
            yield ()
        return
    for n in range(min(total, sizes[0]), -1, -1):
        for rest in _splits(total - n, sizes[1:]):
            yield (n, *rest)


def _key(s: State) -> tuple[Any, ...]:
    """A total order on states (for choosing the representative)."""
    oom = (-1, 0, 0) if s.oom is None else (s.oom.cpu, s.oom.free, s.oom.held)
    return (
        sorted(s.free),
        sorted(s.reported),
        [sorted(a) for a in s.allocated],
        s.listed,
        s.isolated,
        s.vq.avail,
        s.vq.inflight,
        s.vq.used,
        oom,
        int(s.pr_state),
        int(s.worker),
        s.budget,
        s.low_breach,
    )


def _set_at(items: tuple[Any, ...], index: int, value: Any) -> tuple[Any, ...]:
    return (*items[:index], value, *items[index + 1 :])


def _blocks(blocks: frozenset[int]) -> str:
    return "{" + ",".join(str(b) for b in sorted(blocks)) + "}"
