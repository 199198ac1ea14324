"""Nested loop counters with carry: the loop nests of every sequencer (DMA, GEMM, GAP, the
depthwise reader and consumer) are built by :func:`step_nest`; :func:`mul_small` is their
address arithmetic's multiply by a narrow field.

A loop nest ``for g in range(G): for b in range(B): for i in range(I)`` runs in hardware as
counters that step once per cycle: the innermost counts up, wraps to 0 at its count and carries
into the next. :func:`step_nest` emits exactly that chain under the caller's current condition
(the cycle's step enable) and returns the carry conditions, so that a sequencer attaches its own
actions to a level's wrap (``with m.If(nest.wraps[1]): ...``) instead of writing the chain out
again.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

from amaranth import Const, Module, Mux, Value

__all__ = ["Nest", "mul_small", "step_nest"]


@dataclass(frozen=True)
class Nest:
    """The carry conditions of one step of a loop nest (innermost level first).

    ``last[i]``: level *i* is at its last value (``counter + 1 == count``); never true for an
    unbounded level. ``wraps[i]``: levels ``0..i`` are all at their last value, so this step
    wraps level *i* to 0 and carries into level *i + 1*; ``wraps[-1]`` is the nest's final step.
    ``carries[i]``: level *i* steps (``carries[0]`` is always true, ``carries[i] = wraps[i-1]``).
    ``after[i]``: level *i*'s counter after the step (what the step assigns it), for logic that
    must see the next cycle's counters a cycle early.
    """

    last: tuple[Value, ...]
    wraps: tuple[Value, ...]
    carries: tuple[Value, ...]
    after: tuple[Value, ...]

    @property
    def done(self) -> Value:
        """The step that finishes the nest (every level wraps)."""
        return self.wraps[-1]


def step_nest(m: Module, levels, *, domain: str = "sync") -> Nest:
    """Advance the loop nest ``levels`` by one step; call it under the step's condition.

    ``levels`` is a sequence of ``(counter, count)`` pairs, innermost first: ``counter`` a
    signal, ``count`` a value (the level runs ``0 .. count - 1``) or ``None`` for an unbounded
    outermost level that only counts up. Each level steps when every level inside it wraps;
    a level at ``count - 1`` wraps to 0 (the outermost too: the nest restarts from zero, and a
    sequencer stops on :attr:`Nest.done`). A count of 0 never matches, so such a level runs
    through its whole range: a sequencer rejects a zero count before it starts.

    The statements go to ``m.d[domain]`` in the caller's current ``If`` context; a sequencer that
    assigns a counter elsewhere in the same module must do so after this call to override it.
    """
    if not levels:
        raise ValueError("a loop nest needs at least one level")
    last, wraps, carries, after = [], [], [], []
    carry: Value = Const(1)
    for i, (counter, count) in enumerate(levels):
        if count is None and i != len(levels) - 1:
            raise ValueError("only the outermost level of a loop nest may be unbounded")
        is_last = Const(0) if count is None else (counter + 1 == count)
        carries.append(carry)
        with m.If(carry) if i else nullcontext():
            if count is None:
                m.d[domain] += counter.eq(counter + 1)
            else:
                with m.If(is_last):
                    m.d[domain] += counter.eq(0)
                with m.Else():
                    m.d[domain] += counter.eq(counter + 1)
        last.append(is_last)
        after.append(Mux(carry, Mux(is_last, 0, counter + 1), counter))
        carry = is_last if i == 0 else (carry & is_last)
        wraps.append(carry)
    return Nest(tuple(last), tuple(wraps), tuple(carries), tuple(after))


def mul_small(x, k):
    """``x * k`` for a narrow unsigned ``k`` (a stride, a padding: 2 or 3 bits) as a sum of
    shifted copies of ``x``, one per bit of ``k``. Yosys maps every ``*`` to a DSP block, however
    narrow (the per-lane ``x * s`` of the depthwise unit were 64 DSP48s on ``default``), and a
    DSP's multiply sat on the engine's longest path (docs/fpga.md, Pipelining); two or three
    adders are smaller and faster. The result is ``len(x) + len(k)`` bits wide, like ``x * k``."""
    terms = [Mux(k[b], x << b, 0) for b in range(len(k))]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total
