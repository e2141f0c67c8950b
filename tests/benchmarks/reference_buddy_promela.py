"""Generate the Promela encoding of the reference benchmark (Spin's side of the comparison).

The semantics are those of ``models/reference_buddy.py`` (whose state counts, recorded in
``models/manifest/reference_buddy.json``, Spin must reproduce): one process loops over
alternatives, each a ``d_step`` (one atomic, deterministic transition, no intermediate state
stored) guarded by the nondeterministic choice it stands for -- one alternative per (action,
block head). The only state is the arrays: ``ORD(f)`` (0: frame f is not a block head, else
order + 1), ``st[f]`` (at a head: 0 free, 1 allocated, 2 isolated), ``rep[f]``
(PG_reported). Scratch variables are reset inside each d_step so they never distinguish
states. ``ORD`` is stored XOR its initial value (frame 0 starts as the one top-order block),
so the initial state is Spin's all-zero state and no initialising step adds a state: Spin's
stored-state count is exactly the explorer's distinct-state count.

Usage: ``python reference_buddy_promela.py FRAMES > buddy.pml``.
"""

from __future__ import annotations

import sys


def promela(frames: int) -> str:
    maxo = frames.bit_length() - 1
    out: list[str] = []
    w = out.append
    w(f"/* reference buddy allocator with reporting, N = {frames} (generated) */")
    w(f"#define N {frames}")
    w(f"#define MAXO {maxo}")
    w("byte e[N]; byte st[N]; bit rep[N];")
    w("#define INIT(i) ((i) == 0 -> MAXO + 1 : 0)")
    w("#define ORD(i) (e[i] ^ INIT(i))")
    w("byte h; byte o; byte b;")
    w("")
    w("active proctype buddy() {")
    w("  do")
    for want in (0, 1):
        for head in range(frames):
            # head is a free block of order k >= want and no free block has an order in
            # [want, k): it is one of the best-fit candidates.
            no_smaller = " && ".join(
                f"!(st[{f}] == 0 && ORD({f}) > {want} && ORD({f}) < ORD({head}))"
                for f in range(frames)
                if f != head
            )
            w(
                f"  :: d_step {{ (st[{head}] == 0 && ORD({head}) > {want} && {no_smaller}) ->"
                f" o = ORD({head}) - 1; rep[{head}] = 0;"
                f" do :: o > {want} -> o--;"
                f" e[{head} + (1 << o)] = (o + 1) ^ INIT({head} + (1 << o));"
                f" st[{head} + (1 << o)] = 0 :: else -> break od;"
                f" e[{head}] = ({want} + 1) ^ INIT({head}); st[{head}] = 1; o = 0 }}"
            )
    for head in range(frames):
        w(
            f"  :: d_step {{ (ORD({head}) > 0 && st[{head}] == 1) ->"
            f" h = {head}; o = ORD({head}) - 1; e[{head}] = (0) ^ INIT({head}); st[{head}] = 0;"
            f" do :: o < MAXO && ORD(h ^ (1 << o)) == o + 1 && st[h ^ (1 << o)] == 0 ->"
            f" b = h ^ (1 << o); e[b] = (0) ^ INIT(b); rep[b] = 0;"
            f" if :: b < h -> h = b :: else -> skip fi; o++"
            f" :: else -> break od;"
            f" e[h] = (o + 1) ^ INIT(h); st[h] = 0; h = 0; o = 0; b = 0 }}"
        )
    isolated = " && ".join(f"!(ORD({f}) > 0 && st[{f}] == 2)" for f in range(frames))
    for head in range(frames):
        w(
            f"  :: d_step {{ (ORD({head}) > 2 && st[{head}] == 0 && rep[{head}] == 0"
            f" && {isolated}) -> st[{head}] = 2 }}"
        )
    for head in range(frames):
        w(
            f"  :: d_step {{ (ORD({head}) > 0 && st[{head}] == 2) ->"
            f" st[{head}] = 0; rep[{head}] = 1 }}"
        )
    w("  od")
    w("}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(promela(int(sys.argv[1]) if len(sys.argv) > 1 else 16))
