"""Benches of the engine's stateful units against their reference models, in Amaranth's
simulator (the Glasgow style: every unit has a ``ref_*`` model, the bench drives both with the
same random stimulus, edge cases first, and reports every difference).

* :func:`run_rotator`: the UB's wide-port rotator (:class:`hfaccel.rtl.rotator.Rotator`)
  against :func:`~hfaccel.rtl.rotator.ref_rotate`, every amount.
* :func:`run_ub`: the unified buffer's crossbars (:class:`hfaccel.rtl.ub.UnifiedBuffer`) against
  :class:`~hfaccel.rtl.ub.RefUnifiedBuffer`, cycle by cycle: wide and narrow reads from any
  address (bank and buffer wrap-around), compute writes of 1..``write_words`` words and DMA
  beats in the same cycles (bank clashes: the DMA waits), reads of words written that cycle.
* :func:`run_post`: a post-processing word with its table copies
  (:class:`hfaccel.rtl.post.PostWord`) against :func:`~hfaccel.rtl.post.ref_post_word`: tables
  written (and rewritten) a word a cycle while lookups go on, every code of both tables.
* :func:`run_window`: the depthwise window (:class:`hfaccel.rtl.dw_window.DwWindow`) against
  :func:`~hfaccel.rtl.dw_window.ref_dw_windows`: every tap of every window a consumer takes, at
  its own random pace, from a UB model with one cycle of read latency.
* :func:`run_dma`: the DMA (:class:`hfaccel.rtl.dma.Dma`) against
  :class:`~hfaccel.rtl.dma.RefDma`: random LOAD/STORE programs back to back, a memory that
  grants requests at random and answers in order after a random latency, a UB that refuses
  beats at random (bank clashes: the beat queue fills up) and a compute unit that holds the
  narrow port at random.

Each returns a dict with ``mismatches`` (empty when the unit equals its model) and counts of
the edge cases the run reached (the tests assert them, so that a passing bench proves
something).
"""

from __future__ import annotations

import random
from collections import deque

from amaranth.sim import Simulator

from hfaccel.accel import isa
from hfaccel.accel.config import AccelConfig
from hfaccel.rtl.dma import Dma, RefDma
from hfaccel.rtl.dw_window import DwWindow, ref_dw_windows
from hfaccel.rtl.post import PostWord, ref_post_word
from hfaccel.rtl.rotator import Rotator, ref_rotate
from hfaccel.rtl.ub import RefUnifiedBuffer, UnifiedBuffer

__all__ = ["run_dma", "run_post", "run_rotator", "run_ub", "run_window"]


def _simulate(dut, bench) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def _s8(b: int) -> int:
    return b - 256 if b > 127 else b


# ------------------------------------------------------------------------------ rotator
def run_rotator(*, words: int, width: int, seed: int) -> dict:
    """The UB's rotator against :func:`ref_rotate`: every amount, once with random words and
    once with all-ones words but one zero word (at the amount's own position)."""
    dut = Rotator(words=words, width=width)
    rng = random.Random(seed)
    full = (1 << width) - 1
    cases = [[rng.getrandbits(width) for _ in range(words)] for _ in range(words)]
    cases += [[0 if i == a else full for i in range(words)] for a in range(words)]
    bad: list = []

    async def bench(ctx):
        for n, ws in enumerate(cases):
            amount = n % words
            for i, w in enumerate(ws):
                ctx.set(dut.i[i], w)
            ctx.set(dut.amount, amount)
            got = [ctx.get(dut.o[k]) for k in range(words)]
            if got != ref_rotate(ws, amount):
                bad.append(f"amount {amount}: got {got}, want {ref_rotate(ws, amount)}")

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return {"mismatches": bad, "checked": len(cases)}


# ------------------------------------------------------------------------------ unified buffer
def run_ub(*, seed: int, cycles: int, banks: int, depth: int, word_bits: int, write_words: int,
           beat_words: int, ram_styles: tuple[str, str] | None = None) -> dict:
    """The unified buffer against its cycle-level model for ``cycles`` random cycles (with
    ``ram_styles``: a copy of every bank per read port, as ``AccelConfig.ub_uram`` builds)."""
    params = dict(banks=banks, depth=depth, word_bits=word_bits, write_words=write_words,
                  beat_words=beat_words)
    dut, ref = UnifiedBuffer(**params, ram_styles=ram_styles), RefUnifiedBuffer(**params)
    rng = random.Random(seed)
    words, beats = banks * depth, banks * depth // beat_words
    ubb = len(dut.wr_d.payload.beat)
    stats = {"clash": 0, "both_write": 0, "wrap": 0, "read_written": 0, "cycles": cycles}
    bad: list[str] = []

    def addr() -> int:  # a third near the end of the buffer: bank and buffer wrap-around
        return rng.choice([rng.randrange(words), words - 1 - rng.randrange(banks),
                           rng.randrange(banks)])

    async def bench(ctx):
        last_writes: set[int] = set()
        for t in range(cycles):
            ra, rb = addr(), addr()
            if last_writes and rng.random() < 0.2:  # read what the last cycle wrote
                ra = rb = rng.choice(sorted(last_writes))
            n = rng.choice([0, write_words, rng.randint(0, write_words)])
            ca = addr()
            cdata = [rng.getrandbits(word_bits) for _ in range(write_words)]
            dv = rng.random() < 0.6
            beat = rng.choice([rng.randrange(beats), beats - 1])
            if n and dv and rng.random() < 0.5:  # aim the beat at the compute write's banks
                beat = (ca // beat_words) % beats
            ddata = [rng.getrandbits(word_bits) for _ in range(beat_words)]
            ctx.set(dut.rd_a.addr, ra)
            ctx.set(dut.rd_b.addr, rb)
            ctx.set(dut.wr_c.addr, ca)
            ctx.set(dut.wr_c.n, n)
            for i in range(write_words):
                ctx.set(dut.wr_c.data[i], cdata[i])
            ctx.set(dut.wr_d.valid, dv)
            packed = sum(w << (i * word_bits) for i, w in enumerate(ddata))
            ctx.set(dut.wr_d.payload.as_value(), beat | packed << ubb)
            want = ref.cycle(rd_a=ra, rd_b=rb, wr_c=(ca, cdata[:n]) if n else None,
                             wr_d=(beat, ddata) if dv else None)
            got = {"rd_a": [ctx.get(dut.rd_a.data[i]) for i in range(banks)],
                   "rd_b": ctx.get(dut.rd_b.data), "ready": bool(ctx.get(dut.wr_d.ready))}
            if got != want:
                bad.append(f"cycle {t}: got {got}, want {want}")
            stats["clash"] += dv and not want["ready"]
            stats["both_write"] += bool(n and dv and want["ready"])
            stats["wrap"] += ca + n > words or beat == beats - 1 or ra > words - banks
            last_writes = {(ca + i) % words for i in range(n)}
            if dv and want["ready"]:
                last_writes |= {(beat * beat_words + i) % words for i in range(beat_words)}
            stats["read_written"] += ra in last_writes
            await ctx.tick()

    _simulate(dut, bench)
    return {"mismatches": bad, **stats}


# ------------------------------------------------------------------------------ post-processing
def run_post(*, seed: int, cycles: int, lanes: int, table_slots: int,
             table_word_bytes: int, shared_tables: bool = False) -> dict:
    """A post-processing word against :func:`ref_post_word` while its tables are written."""
    dut = PostWord(lanes=lanes, table_slots=table_slots, table_word_bytes=table_word_bytes,
                   shared_tables=shared_tables)
    rng = random.Random(seed)
    tables = [[0] * 256 for _ in range(table_slots)]  # the copies start at zero
    rows = dut.rows
    stats = {"codes": [set() for _ in range(table_slots)], "writes": 0, "rewrites": 0,
             "write_and_lookup": 0}
    written: set[int] = set()
    bad: list[str] = []

    async def bench(ctx):
        sweep = 0
        for t in range(cycles):
            # every row written in the first cycles (some twice), then now and then
            write = t < 2 * rows or rng.random() < 0.1
            row = t % rows if t < rows else rng.randrange(rows)
            data = rng.getrandbits(8 * table_word_bytes)
            ctx.set(dut.tables.en, write)
            ctx.set(dut.tables.addr, row)
            ctx.set(dut.tables.data, data)
            direct = rng.random() < 0.5  # q = acc: every code of every table in turn
            qu = rng.random() < 0.5  # uint8 result: saturation 0..255, tables indexed by code
            acc, prm = [], []
            for j in range(lanes):
                if direct:
                    acc.append((sweep * lanes + j) % 256 - (0 if qu else 128))
                    prm.append((0, 0))
                else:
                    acc.append(rng.choice([-(1 << 31), (1 << 31) - 1,
                                           rng.randint(-(1 << 31), (1 << 31) - 1),
                                           rng.randint(-5000, 5000)]))
                    prm.append((rng.randint(-(1 << 31), (1 << 31) - 1) if rng.random() < 0.3
                                else rng.randint(-3000, 3000), rng.randint(-16, 31)))
            tbl, tslot = rng.random() < 0.8, rng.randrange(table_slots)
            if direct:
                tbl, tslot = True, (sweep * lanes // 256) % table_slots
                sweep += 1
            for j in range(lanes):
                ctx.set(dut.acc[j], acc[j])
            ctx.set(dut.params, sum(((b & 0xFFFFFFFF) | ((s & 0xFF) << 32)) << (64 * j)
                                    for j, (b, s) in enumerate(prm)))
            ctx.set(dut.tbl, tbl)
            ctx.set(dut.tslot, tslot)
            ctx.set(dut.qu, qu)
            want_q, want_a = ref_post_word(acc, prm, tables, tbl, tslot, qu)
            q, a = ctx.get(dut.q), ctx.get(dut.a)
            code_q = (lambda v: v) if qu else _s8
            got_q = [code_q((q >> (8 * j)) & 0xFF) for j in range(lanes)]
            got_a = [(_s8 if tbl else code_q)((a >> (8 * j)) & 0xFF) for j in range(lanes)]
            if (got_q, got_a) != (want_q, want_a):
                bad.append(f"cycle {t}: got q {got_q} a {got_a}, want q {want_q} a {want_a} "
                           f"(acc {acc}, params {prm}, tbl {tbl}, slot {tslot}, qu {qu})")
            if tbl:  # the table entries looked up
                stats["codes"][tslot].update(v + (0 if qu else 128) for v in want_q)
            if write:  # the write lands at the edge; this cycle's lookups saw the old word
                stats["writes"] += 1
                stats["rewrites"] += row in written
                stats["write_and_lookup"] += tbl
                written.add(row)
                for i in range(table_word_bytes):
                    e = row * table_word_bytes + i
                    tables[e // 256][e % 256] = _s8((data >> (8 * i)) & 0xFF)
            await ctx.tick()

    _simulate(dut, bench)
    stats["codes"] = [len(c) for c in stats["codes"]]
    return {"mismatches": bad, **stats}


# ------------------------------------------------------------------------------ depthwise window
def window_params(f: dict, *, lanes: int, banks: int) -> tuple[int, int, int]:
    """``(nreads, nblk, bx)`` of a DW instruction, as the depthwise unit derives them."""
    span = (2 * lanes if f["s"] == 2 else lanes) + f["k"] - 1
    bx = -(-f["wo"] // lanes)
    nblk = -(-(f["ho"] * f["wo"]) // lanes) if f["flat"] else f["ho"] * bx
    return -(-span // banks), nblk, bx


def run_window(instr: dict, *, seed: int, lanes: int, banks: int, window: int, addr_width: int,
               consume: float) -> dict:
    """The window against :func:`ref_dw_windows` for one DW instruction; the consumer takes a
    tap with probability ``consume`` per cycle (1: as fast as the MAC loop)."""
    dut = DwWindow(lanes=lanes, banks=banks, window=window, addr_width=addr_width)
    rng = random.Random(seed)
    words = 1 << addr_width
    ub = [rng.getrandbits(lanes * 8) for _ in range(words)]
    want = ref_dw_windows(instr, lanes=lanes, banks=banks, ub=ub)
    nreads, nblk, bx = window_params(instr, lanes=lanes, banks=banks)
    k = instr["k"]
    got: list = []
    stats = {"windows": len(want), "stalls": 0, "reader_waits": 0, "cycles": 0,
             "busy_at_end": None}

    async def bench(ctx):
        ctx.set(dut.instr.as_value(), isa.encode(isa.Instr("DW", dict(instr))))
        ctx.set(dut.nreads, nreads)
        ctx.set(dut.nblk, nblk)
        ctx.set(dut.bx, bx)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        last_addr = 0
        kx, taps = 0, []
        limit = 40 * (len(want) * (k + nreads) + 10)
        for t in range(limit):
            # the UB's wide port: the words at the previous cycle's address
            for i in range(banks):
                ctx.set(dut.rd_a.data[i], ub[(last_addr + i) % words])
            last_addr = ctx.get(dut.rd_a.addr) if ctx.get(dut.rd_a.en) else 0
            stats["reader_waits"] += ctx.get(dut.busy) and not ctx.get(dut.rd_a.en)
            take = bool(ctx.get(dut.ready)) and rng.random() < consume
            stats["stalls"] += not ctx.get(dut.ready)
            ctx.set(dut.shift, take)
            ctx.set(dut.release, take and kx == k - 1)
            if take:
                # lane j's word at the window's stride (the PE array's select)
                lane = dut.lane_words2 if ctx.get(dut.s2) else dut.lane_words
                taps.append([ctx.get(lane[j]) for j in range(lanes)])
                kx += 1
                if kx == k:
                    got.append(taps)
                    kx, taps = 0, []
            await ctx.tick()
            if len(got) == len(want):
                ctx.set(dut.shift, 0)
                ctx.set(dut.release, 0)
                await ctx.tick()
                stats["cycles"] = t + 1
                break
        stats["busy_at_end"] = ctx.get(dut.busy)

    _simulate(dut, bench)
    bad = []
    if len(got) != len(want):
        bad.append(f"{len(got)} of {len(want)} windows taken before the time limit")
    for (key, taps), g in zip(want, got):
        if g != taps:
            kx = next(i for i in range(k) if g[i] != taps[i])
            bad.append(f"window {key} tap kx={kx}: got {g[kx]}, want {taps[kx]}")
    return {"mismatches": bad, **stats}


# ------------------------------------------------------------------------------ DMA
def random_dma_program(cfg: AccelConfig, rng: random.Random, n: int) -> list[isa.Instr]:
    """``n`` random LOADs (every destination; bursts longer than ``max_outstanding``; buffer
    addresses wrapping around) and STOREs of the UB, with random ``wait``/``signal``."""
    ub_beats = cfg.ub_words // cfg.words_per_beat
    from hfaccel.rtl.post import table_geometry

    tbl_beats = (table_geometry(bus_bytes=cfg.bus_bytes, table_slots=cfg.table_slots)[1]
                 // cfg.table_writes_per_beat)
    size = {isa.BUF_UB: ub_beats, isa.BUF_WGT: cfg.wgt_tiles * cfg.beats_per_tile,
            isa.BUF_PRM: cfg.prm_words * cfg.beats_per_prm, isa.BUF_TBL: tbl_beats}
    prog = []
    for i in range(n):
        rows = rng.choice([1, 1, 2, 3])
        beats = rng.choice([1, 2, rng.randint(1, 8), cfg.max_outstanding + rng.randint(1, 9)])
        stride = rng.choice([0, beats, beats + rng.randint(1, 5)])
        sync = dict(wait=int(rng.random() < 0.3), signal=int(rng.random() < 0.5), layer=i)
        if i >= 3 and rng.random() < 0.3:  # a store of UB beats that were loaded
            buf = rng.randrange(64) if rng.random() < 0.5 else ub_beats - rng.randint(1, 4)
            prog.append(isa.Instr("STORE", dict(dst=isa.BUF_UB, dram=4096 + 64 * i, buf=buf,
                                                rows=rows, row_beats=beats, stride=stride,
                                                **sync)))
            continue
        dst = rng.choice([isa.BUF_UB, isa.BUF_UB, isa.BUF_WGT, isa.BUF_PRM, isa.BUF_TBL])
        buf = rng.choice([rng.randrange(64) % size[dst], size[dst] - rng.randint(1, 4) % size[dst]])
        prog.append(isa.Instr("LOAD", dict(dst=dst, dram=rng.randrange(2048), buf=buf, rows=rows,
                                           row_beats=beats, stride=stride, **sync)))
    return prog


def run_dma(cfg: AccelConfig, *, seed: int, instrs: int = 24, grant: float = 0.7,
            ub_ready: float = 0.5, port_b_busy: float = 0.3, max_latency: int = 12) -> dict:
    """The DMA against :class:`RefDma` on a random program (see the module docstring)."""
    dut = Dma(cfg=cfg)
    rng = random.Random(seed)
    prog = random_dma_program(cfg, rng, instrs)
    bb, R, W = cfg.bus_bytes * 8, cfg.words_per_beat, cfg.lanes * 8
    dram = {a: rng.getrandbits(bb) for a in range(2048 + 64)}
    ref = RefDma(cfg, dram)
    for ins in prog:
        ref.run(ins)
    mem = dict(dram)
    ub_words: dict[int, int] = {}
    wgt: dict[int, int] = {}
    prm: dict[int, int] = {}
    tbl: dict[int, int] = {}
    bpt, bpp = cfg.beats_per_tile, cfg.beats_per_prm
    stats = {"ub_refused": 0, "max_ub_outstanding": 0, "port_b_denied": 0, "tokens": 0,
             "cycles": 0, "taken": 0, "done": False}
    bad: list[str] = []
    ubb = len(dut.ub_w.payload.beat)

    async def bench(ctx):
        ctx.set(dut.running, 1)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        pending: deque = deque()  # (due cycle, data) of read responses, in order
        free_tokens = 0
        rd_b_prev = None
        nxt = 0
        blocked = 0  # cycles the UB goes on refusing beats (a run of bank clashes)
        ub_load = False  # the instruction in progress is a LOAD to the UB
        ub_out = 0  # its beats requested and not yet written to the UB
        for t in range(200_000):
            # instructions back to back; the compute side frees buffers now and then
            free_tokens += rng.random() < 0.2
            ctx.set(dut.free_avail, free_tokens > 0)
            ctx.set(dut.instr.valid, nxt < len(prog))
            if nxt < len(prog):
                ctx.set(dut.instr.payload.as_value(), isa.encode(prog[nxt]))
            # read responses in order, one a cycle
            if pending and pending[0][0] <= t:
                ctx.set(dut.bus.rsp_valid, 1)
                ctx.set(dut.bus.rsp_data, pending.popleft()[1])
            else:
                ctx.set(dut.bus.rsp_valid, 0)
            # the UB: its narrow port (one cycle of latency) and the DMA write port
            ctx.set(dut.rd_b.data, ub_words.get(rd_b_prev, 0) if rd_b_prev is not None else 0)
            busy_b = rng.random() < port_b_busy
            ctx.set(dut.rd_b_busy, busy_b)
            if blocked == 0 and rng.random() < 0.05:
                blocked = rng.randint(10, 3 * cfg.max_outstanding)
            blocked = max(0, blocked - 1)
            ready = not blocked and rng.random() < ub_ready
            ctx.set(dut.ub_w.ready, ready)
            g = bool(ctx.get(dut.bus.valid)) and rng.random() < grant
            ctx.set(dut.bus.grant, g)
            # what the DMA does this cycle (after its inputs settled)
            if ctx.get(dut.instr.ready):
                ub_load = prog[nxt].op == "LOAD" and prog[nxt]["dst"] == isa.BUF_UB
                nxt += 1
                stats["taken"] += 1
            if ctx.get(dut.take_free):
                free_tokens -= 1
            stats["tokens"] += ctx.get(dut.give_ready)
            if g:
                a = ctx.get(dut.bus.addr)
                if ctx.get(dut.bus.we):
                    mem[a] = ctx.get(dut.bus.wdata)
                else:
                    due = max(t + rng.randint(1, max_latency),
                              pending[-1][0] + 1 if pending else 0)
                    pending.append((due, mem.get(a, 0)))
                    ub_out += ub_load
            valid = ctx.get(dut.ub_w.valid)
            stats["ub_refused"] += bool(valid and not ready)
            if valid and ready:
                p = ctx.get(dut.ub_w.payload.as_value())
                beat, data = p & ((1 << ubb) - 1), p >> ubb
                for i in range(R):
                    ub_words[beat * R + i] = (data >> (i * W)) & ((1 << W) - 1)
            if valid and ready:
                ub_out -= 1
            stats["max_ub_outstanding"] = max(stats["max_ub_outstanding"], ub_out)
            stats["port_b_denied"] += busy_b
            rd_b_prev = ctx.get(dut.rd_b.addr) if ctx.get(dut.rd_b.en) else None
            for port, store, per in ((dut.wgt_w, wgt, bpt), (dut.prm_w, prm, bpp)):
                en = ctx.get(port.en)
                for j in range(per):
                    if en >> j & 1:
                        store[ctx.get(port.addr) * per + j] = \
                            (ctx.get(port.data) >> (j * bb)) & ((1 << bb) - 1)
            if ctx.get(dut.tbl_w.en):
                tbl[ctx.get(dut.tbl_w.addr)] = ctx.get(dut.tbl_w.data)
            if ctx.get(dut.error):
                bad.append(f"cycle {t}: error {ctx.get(dut.error)}")
                break
            await ctx.tick()
            if nxt == len(prog) and not ctx.get(dut.busy) and not pending:
                stats["cycles"], stats["done"] = t + 1, True
                break
        ctx.set(dut.running, 0)

    _simulate(dut, bench)
    if not stats["done"]:
        bad.append(f"not finished: {stats['taken']} of {len(prog)} instructions taken")
    ub_beats = {b: sum(ub_words.get(b * R + i, 0) << (i * W) for i in range(R))
                for b in {w // R for w in ub_words}}
    for name, got, want in (("UB", ub_beats, ref.ub), ("weights", wgt, ref.wgt),
                            ("parameters", prm, ref.prm), ("tables", tbl, ref.tbl),
                            ("external memory", mem, ref.dram)):
        diff = sorted(k for k in set(got) | set(want) if got.get(k, 0) != want.get(k, 0))
        if diff:
            bad.append(f"{name}: {len(diff)} beats differ, first {diff[0]}: got "
                       f"{got.get(diff[0], 0):#x}, want {want.get(diff[0], 0):#x}")
    if stats["tokens"] != ref.tokens:
        bad.append(f"{stats['tokens']} tokens given, want {ref.tokens}")
    return {"mismatches": bad, "program": prog, **stats}
