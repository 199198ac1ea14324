"""Engine control: the run state, the status code, the watchdog, and the semaphores between the
load unit and the compute units.

:class:`Control`: ``start`` sets ``running`` (and clears ``done``, the status and the cycle
count). The engine stops (``running`` low, ``done`` set until the next ``start``) when

* a unit reports an error: the first one latches into ``status`` and ``stop`` freezes every
  unit from the next cycle on;
* nothing has moved for ``watchdog_cycles`` cycles while running (no unit's ``activity``):
  :attr:`~hfaccel.accel.isa.Status.WATCHDOG`, e.g. a wait for a token that never comes;
* the program has finished (``idle``: END fetched, both queues and every unit drained).

:class:`Semaphore`: the token counter of the decoupled access/execute scheme (VTA): one unit
gives a token when an instruction with ``signal`` finishes, the other takes one before an
instruction with ``wait`` starts.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hfaccel.accel.isa import Status

__all__ = ["Control", "Semaphore"]


class Control(wiring.Component):
    """Run state, status and watchdog (see the module docstring).

    Parameters
    ----------
    watchdog_cycles : int
        Cycles without activity after which the engine stops.
    error_sources : int
        Units that report errors; when several report in one cycle, the highest index wins.
    activity_sources : int
        Units that report activity.

    Members
    -------
    start : ``In(1)``
        Start a program.
    errors : ``In(8).array(error_sources)``
        Each unit's :class:`~hfaccel.accel.isa.Status` code this cycle (0: none).
    activity : ``In(1).array(activity_sources)``
        Each unit moved something this cycle.
    idle : ``In(1)``
        The program has finished (END fetched, queues and units drained).
    running, stop : ``Out(1)``
        The engine runs; it has stopped on an error (every unit freezes).
    done : ``Out(1)``
        The program finished or stopped; stays until ``start``.
    status : ``Out(8)``
        0, or the code that stopped the engine.
    cycles : ``Out(32)``
        Cycles since ``start`` while running.
    """

    def __init__(self, *, watchdog_cycles: int, error_sources: int, activity_sources: int):
        for name, v in (("watchdog_cycles", watchdog_cycles), ("error_sources", error_sources),
                        ("activity_sources", activity_sources)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        self.watchdog_cycles = watchdog_cycles
        super().__init__({
            "start": In(1),
            "errors": In(8).array(error_sources),
            "activity": In(1).array(activity_sources),
            "idle": In(1),
            "running": Out(1), "stop": Out(1), "done": Out(1), "status": Out(8),
            "cycles": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        running, error, done, cycles = Signal(), Signal(8), Signal(), Signal(32)
        m.d.comb += [self.running.eq(running), self.done.eq(done), self.status.eq(error),
                     self.cycles.eq(cycles), self.stop.eq(error != 0)]
        with m.If(running):
            m.d.sync += cycles.eq(cycles + 1)
        progress = Signal()
        m.d.comb += progress.eq(Cat(*self.activity).any())
        watchdog = Signal(range(self.watchdog_cycles + 1))
        with m.If(self.start):
            m.d.sync += [running.eq(1), done.eq(0), error.eq(0), cycles.eq(0), watchdog.eq(0)]
        raised = Signal(8)  # this cycle's error: the last reporting source wins
        code = 0
        for e in self.errors:
            code = Mux(e != 0, e, code)
        m.d.comb += raised.eq(code)
        with m.If(running & (raised != 0) & (error == 0)):
            m.d.sync += [error.eq(raised), running.eq(0), done.eq(1)]
        with m.If(running & ~progress):
            m.d.sync += watchdog.eq(watchdog + 1)
            with m.If(watchdog == self.watchdog_cycles - 1):
                m.d.sync += [error.eq(Status.WATCHDOG), running.eq(0), done.eq(1)]
        with m.Elif(running):
            m.d.sync += watchdog.eq(0)
        with m.If(running & self.idle & ~self.start):
            m.d.sync += [running.eq(0), done.eq(1)]
        return m


class Semaphore(wiring.Component):
    """A token counter (see the module docstring).

    Parameters
    ----------
    width : int
        Bits of the count (tokens given and not yet taken).

    Members
    -------
    clear : ``In(1)``
        Empty it (a new program starts); overrides ``give`` and ``take``.
    give, take : ``In(1)``
        Add a token, remove one (both in one cycle: no change). ``take`` only while ``avail``.
    avail : ``Out(1)``
        At least one token.
    """

    def __init__(self, *, width: int = 16):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, not {width!r}")
        self.width = width
        super().__init__({"clear": In(1), "give": In(1), "take": In(1), "avail": Out(1)})

    def elaborate(self, platform):
        m = Module()
        count = Signal(self.width)
        m.d.sync += count.eq(count + self.give - self.take)
        with m.If(self.clear):
            m.d.sync += count.eq(0)
        m.d.comb += self.avail.eq(count != 0)
        return m
