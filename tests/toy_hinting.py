"""A tiny guest/host hinting protocol over a virtqueue, for testing the output renderers.

Not a registered model (it lives in tests/): it exercises what reference_buddy has not --
a virtqueue (adds, pops, acks, get_buf), a host config change, a fault, a liveness property
whose counterexample is a lasso -- so the HTML viewer's sequence diagram and cycle marking
are tested on real traces.

The guest hints a free page (``hint``: the buffer goes on the queue), the host pops it and
acks it (``ack``: the page is discarded), the guest reclaims the buffer (``get_buf``). A
page in use must never be discarded; the bad variant ``reuse_before_ack`` lets the guest
allocate a page whose hint is still in flight. ``unfair_host`` drops the host's fairness,
so a hint can stay on the queue for ever (a lasso).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from hintspec.lang.model import Args, Check, Model, action, always, leads_to, sometimes
from hintspec.lang.virtqueue import Virtqueue


@dataclass(frozen=True)
class Config:
    pages: int = 2
    variant: str = "upstream"


@dataclass(frozen=True)
class State:
    vq: Virtqueue
    inuse: frozenset[int]
    discarded: frozenset[int]
    target: int


def _hinted(s: State) -> set[int]:
    return {b[0] for b in s.vq.buffers}


class ToyHinting(Model[Config, State]):
    """Toy hinting over a virtqueue (test fixture for the renderers)."""

    name = "toy_hinting"
    variants = {
        "upstream": "the guest keeps a hinted page until the host acks it",
        "reuse_before_ack": "the guest allocates a page whose hint is in flight",
        "unfair_host": "the host need not serve the queue (no fairness)",
    }
    frame_legend = {"A": "in use", "f": "free", "H": "hinted", "D": "discarded by the host"}

    def initial_states(self) -> Iterator[State]:
        yield State(Virtqueue(size=1), frozenset(), frozenset(), 0)

    def _fair(self) -> str:
        return "none" if self.variant == "unfair_host" else "weak"

    @action("mm/page_reporting.c: page_reporting_send")
    def hint(self, s: State) -> Iterator[tuple[Args, State]]:
        for p in range(self.config.pages):
            if p in s.inuse or p in s.discarded or p in _hinted(s):
                continue
            vq = s.vq.add((p,))
            if vq is not None:
                yield {"page": p}, replace(s, vq=vq)

    @action("hw/virtio/virtio.c: virtqueue_pop", fair="weak")
    def pop(self, s: State) -> Iterator[tuple[Args, State]]:
        got = s.vq.pop()
        if got is not None and self.variant != "unfair_host":
            yield {}, replace(s, vq=got[1])

    @action("hw/virtio/virtio-balloon.c: virtio_balloon_handle_report", fair="weak")
    def ack(self, s: State) -> Iterator[tuple[Args, State]]:
        if s.vq.inflight:
            buf, vq = s.vq.push()
            yield {"page": buf[0]}, replace(s, vq=vq, discarded=s.discarded | {buf[0]})

    @action("drivers/virtio/virtio_ring.c: virtqueue_get_buf", fair="weak")
    def get_buf(self, s: State) -> Iterator[tuple[Args, State]]:
        got = s.vq.get_buf()
        if got is not None:
            yield {}, replace(s, vq=got[1])

    @action("mm/page_alloc.c: get_page_from_freelist")
    def alloc(self, s: State) -> Iterator[tuple[Args, State]]:
        for p in range(self.config.pages):
            if p in s.inuse:
                continue
            if p in _hinted(s) and self.variant != "reuse_before_ack":
                continue
            # A discarded page comes back as a fresh zero page on first touch.
            yield {"page": p}, replace(s, inuse=s.inuse | {p}, discarded=s.discarded - {p})

    @action("mm/page_alloc.c: free_unref_page")
    def free(self, s: State) -> Iterator[tuple[Args, State]]:
        for p in sorted(s.inuse):
            yield {"page": p}, replace(s, inuse=s.inuse - {p})

    @action("hw/virtio/virtio-balloon.c: virtio_balloon_set_config")
    def update_config(self, s: State) -> Iterator[tuple[Args, State]]:
        if s.target == 0:
            yield {"target": 1}, replace(s, target=1)

    @action("mm/memory.c: handle_mm_fault")
    def page_fault(self, s: State) -> Iterator[tuple[Args, State]]:
        for p in sorted(s.inuse & s.discarded):
            yield {"page": p}, replace(s, discarded=s.discarded - {p})

    @always("a page in use is never discarded")
    def inuse_not_discarded(self, s: State) -> Check:
        both = sorted(s.inuse & s.discarded)
        return f"page {both[0]} is in use but the host discarded it" if both else True

    @sometimes("a hinted page is discarded")
    def some_discarded(self, s: State) -> bool:
        return bool(s.discarded)

    @leads_to("a hint is eventually taken back", when=lambda self, s: bool(s.vq.buffers))
    def queue_empty(self, s: State) -> bool:
        return not s.vq.buffers

    def frame_map(self, s: State) -> str:
        out = []
        for p in range(self.config.pages):
            if p in s.inuse:
                out.append("A")
            elif p in s.discarded:
                out.append("D")
            elif p in _hinted(s):
                out.append("H")
            else:
                out.append("f")
        return "".join(out)
