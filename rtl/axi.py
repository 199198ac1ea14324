"""AXI4 and AXI4-Lite interfaces, and the AXI4 master in front of the engine's memory port.

:class:`Axi4` and :class:`AxiLite` are the signatures (seen from the master; a slave has them
flipped), with the AMBA signal names without a prefix (``awaddr``, ``rdata``, ...): the top
level (:mod:`hfaccel.rtl.axi_top`) names them ``m_axi_*`` and ``s_axi_*``.

:class:`AxiMaster` turns the engine's single-beat requests (:class:`hfaccel.rtl.bus.MemPort`:
beat addresses, in-order responses without back-pressure) into AXI4 bursts:

* **relocation**: a beat address ``a`` is the byte address ``base + a * bus_bytes``, so every
  address of a program is relative to the base register and one image runs wherever it lies;
* **bursts**: consecutive requests of one kind (read or write) and one master (fetch or DMA)
  to consecutive beats are merged into one INCR burst of up to ``max_burst`` beats; a burst
  closes when the next request does not extend it (another kind, master or address, a pause,
  ``max_burst`` reached) or would cross a 4 KiB boundary (AXI forbids a burst across one);
* **reads**: up to ``read_bursts`` read bursts in flight, all with one ID, so that the slave
  returns them in order; ``rready`` is always high (the engine takes a beat a cycle);
* **writes**: a burst's beats wait in a queue until its address is out, then follow it on W
  with ``wlast`` on its last beat; ``wstrb`` is all ones (the engine writes whole beats: with a
  base aligned to ``bus_bytes`` there are no partial beats);
* **ordering**: a read is not issued while any write is unanswered (the B response of every
  earlier write has arrived), so a map spilled by STOREs and loaded back reads what was
  written. Writes do not wait for reads: the DMA finishes a LOAD (every beat received) before it
  starts the next instruction, and the program is never written;
* **records**: a second, write-only stream (``rec_*``, the shell's perf records) shares the
  bursts and queues, in cycles the engine leaves free, with its own write ID;
* **errors**: an SLVERR or DECERR response (R or B) raises
  :attr:`~hfaccel.accel.isa.Status.BUS_ERROR` on ``error`` (the engine stops) and latches the
  first one's response and channel (``err_resp``, ``err_write``) until ``clear``. Transactions
  in flight complete (``rready``, ``bready`` stay high, queued W beats go out): the bus is left
  clean, never hung; ``idle`` says when it is.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from hfaccel.accel.isa import Status
from hfaccel.rtl.bus import MemPort
from hfaccel.rtl.ports import _need, _Params

__all__ = ["Axi4", "AxiLite", "AxiMaster", "BURST_INCR"]

BURST_INCR = 1
CACHE = 0b0011  # normal non-cacheable bufferable: what Xilinx recommends for a DMA master
OKAY, EXOKAY, SLVERR, DECERR = 0, 1, 2, 3


class AxiLite(_Params):
    """An AXI4-Lite port seen from the master (AMBA names: ``awaddr`` ... ``rready``)."""

    def __init__(self, *, addr_width: int, data_width: int = 32):
        _need("addr_width", addr_width)
        if data_width not in (32, 64):
            raise TypeError(f"AXI4-Lite data_width must be 32 or 64, not {data_width!r}")
        super().__init__({
            "awaddr": Out(addr_width), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wvalid": Out(1),
            "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
            "rdata": In(data_width), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        }, addr_width=addr_width, data_width=data_width)


class Axi4(_Params):
    """An AXI4 port seen from the master (AMBA names; no user or region signals)."""

    def __init__(self, *, addr_width: int, data_width: int, id_width: int = 1):
        _need("addr_width", addr_width, 12)
        _need("id_width", id_width)
        if data_width not in (8, 16, 32, 64, 128, 256, 512, 1024):
            raise TypeError(f"AXI4 data_width must be a power of two from 8 to 1024, not "
                            f"{data_width!r}")
        members = {}
        for ch in ("aw", "ar"):
            members.update({f"{ch}id": Out(id_width), f"{ch}addr": Out(addr_width),
                            f"{ch}len": Out(8), f"{ch}size": Out(3), f"{ch}burst": Out(2),
                            f"{ch}lock": Out(1), f"{ch}cache": Out(4), f"{ch}prot": Out(3),
                            f"{ch}qos": Out(4), f"{ch}valid": Out(1), f"{ch}ready": In(1)})
        members.update({
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wlast": Out(1),
            "wvalid": Out(1), "wready": In(1),
            "bid": In(id_width), "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "rid": In(id_width), "rdata": In(data_width), "rresp": In(2), "rlast": In(1),
            "rvalid": In(1), "rready": Out(1),
        })
        super().__init__(members, addr_width=addr_width, data_width=data_width,
                         id_width=id_width)


class AxiMaster(wiring.Component):
    """The engine's memory port as an AXI4 master (see the module docstring).

    Parameters
    ----------
    data_width : int
        Bits of a beat (``bus_bytes * 8``; a power of two, 8 .. 1024).
    addr_width : int
        Bits of an AXI address (12 .. 64).
    id_width : int
        Bits of ``awid``/``arid`` (the engine's transactions carry ID ``id_value``, records
        ``id_value ^ 1``).
    max_burst : int
        Beats of the longest burst (1 .. 256).
    read_bursts : int
        Read bursts in flight at most.

    Members
    -------
    mem : ``In(MemPort(addr_width=32, data_width=data_width))``
        The engine's port (served).
    base : ``In(64)``
        Byte address of beat 0; it must be aligned to ``data_width // 8`` (the runtime and
        the driver refuse another).
    axi : ``Out(Axi4(addr_width, data_width, id_width))``
        The AXI4 master port.
    error : ``Out(8)``
        :attr:`~hfaccel.accel.isa.Status.BUS_ERROR` in a cycle with an error response.
    err_resp, err_write : ``Out(2)``, ``Out(1)``
        The first error response since ``clear`` and whether it was a write's; ``err_resp`` 0:
        none.
    clear : ``In(1)``
        Forget the latched error (a program starts).
    idle : ``Out(1)``
        No transaction open, queued or in flight.
    active : ``Out(1)``
        A handshake on any channel this cycle.
    rec_valid, rec_ready, rec_addr, rec_data, rec_urgent
        A second write-only request stream (the perf records of
        :class:`~hfaccel.rtl.perfrec.PerfWriter`: beat addresses from ``base``, whole beats). It
        is served in cycles without an engine request, or before the engine's while
        ``rec_urgent``; its bursts carry ID ``id_value ^ 1`` and no engine read waits for their
        B responses (nothing reads records back), so recording costs the engine only the port
        cycles ``rec_urgent`` takes. ``idle`` covers them.
    """

    def __init__(self, *, data_width: int, addr_width: int = 64, id_width: int = 1,
                 id_value: int = 0, max_burst: int = 16, read_bursts: int = 8):
        _need("max_burst", max_burst)
        _need("read_bursts", read_bursts)
        if max_burst > 256:
            raise ValueError(f"max_burst must be at most 256 (AXI4 INCR), not {max_burst}")
        if addr_width > 64:
            raise ValueError(f"addr_width must be at most 64, not {addr_width}")
        if not isinstance(id_value, int) or not 0 <= id_value < (1 << id_width):
            raise ValueError(f"id_value {id_value!r} does not fit id_width={id_width}")
        self.data_width, self.addr_width, self.id_width = data_width, addr_width, id_width
        self.id_value, self.max_burst, self.read_bursts = id_value, max_burst, read_bursts
        super().__init__({
            "mem": In(MemPort(addr_width=32, data_width=data_width)),
            "base": In(64),
            "axi": Out(Axi4(addr_width=addr_width, data_width=data_width, id_width=id_width)),
            "error": Out(8), "err_resp": Out(2), "err_write": Out(1), "clear": In(1),
            "idle": Out(1), "active": Out(1),
            "rec_valid": In(1), "rec_ready": Out(1), "rec_addr": In(32), "rec_data": In(data_width),
            "rec_urgent": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        DW, AW, MB = self.data_width, self.addr_width, self.max_burst
        shift = exact_log2(DW // 8)
        mem, axi = self.mem, self.axi

        def byte_addr(beat):
            return (self.base + (beat << shift))[:AW]

        # queues: read bursts to issue, read bursts in flight (their master's tag), write bursts
        # to issue, write bursts issued (their length, for W), write beats
        m.submodules.arq = arq = SyncFIFO(width=AW + 8 + 1, depth=2)
        m.submodules.rtrack = rtrack = SyncFIFO(width=1, depth=self.read_bursts)
        m.submodules.awq = awq = SyncFIFO(width=AW + 8 + 1, depth=2)
        m.submodules.wlen = wlen = SyncFIFO(width=8, depth=4)
        m.submodules.wq = wq = SyncFIFO(width=DW, depth=2 * MB)

        # the request this cycle: the engine's, or a perf record beat when the engine has none
        # (or the record writer is urgent: its queue is full)
        sel_rec = Signal()
        m.d.comb += sel_rec.eq(self.rec_valid & (self.rec_urgent | ~mem.req_valid))
        r_valid, r_we, r_tag, r_addr = Signal(), Signal(), Signal(), Signal(32)
        r_wdata = Signal(DW)
        m.d.comb += [r_valid.eq(mem.req_valid | sel_rec),
                     r_we.eq(Mux(sel_rec, 1, mem.req_we)),
                     r_tag.eq(Mux(sel_rec, 0, mem.req_tag)),
                     r_addr.eq(Mux(sel_rec, self.rec_addr, mem.req_addr)),
                     r_wdata.eq(Mux(sel_rec, self.rec_data, mem.req_wdata))]

        # the open burst
        o_open, o_we, o_tag, o_rec = Signal(), Signal(), Signal(), Signal()
        o_addr, o_len = Signal(32), Signal(8)  # first beat, beats - 1
        # engine write bursts whose address is out and whose B has not come; record bursts
        # (their own ID) are counted apart: no read waits for them (nothing reads them back)
        b_out, b_rec = Signal(16), Signal(16)
        aw_ord = Signal(2)  # engine write bursts in awq
        wr_pending = Signal()
        m.d.comb += wr_pending.eq((o_open & o_we & ~o_rec) | (aw_ord != 0) | (b_out != 0))

        page_start = Signal()  # the request's beat starts a 4 KiB page
        m.d.comb += page_start.eq(byte_addr(r_addr)[:12] == 0)
        extends = Signal()
        m.d.comb += extends.eq(o_open & (r_we == o_we) & (r_tag == o_tag) & (sel_rec == o_rec)
                               & (r_addr == o_addr + o_len + 1) & (o_len != MB - 1)
                               & ~page_start)
        can_close = Signal()
        m.d.comb += can_close.eq(Mux(o_we, awq.w_rdy, arq.w_rdy))
        room = Mux(r_we, wq.w_rdy, ~wr_pending)  # a read waits for every engine write's B
        ready = Signal()
        m.d.comb += [ready.eq(room & (extends | ~o_open | can_close)),
                     mem.req_ready.eq(ready & ~sel_rec), self.rec_ready.eq(ready & sel_rec)]
        acc = Signal()
        m.d.comb += acc.eq(r_valid & ready)
        close = Signal()
        m.d.comb += close.eq(o_open & ~(acc & extends) & can_close)
        with m.If(close):
            m.d.sync += o_open.eq(0)
            with m.If(o_we):
                m.d.comb += [awq.w_en.eq(1),
                             awq.w_data.eq(Cat(byte_addr(o_addr), o_len, o_rec))]
            with m.Else():
                m.d.comb += [arq.w_en.eq(1),
                             arq.w_data.eq(Cat(byte_addr(o_addr), o_len, o_tag))]
        with m.If(acc):
            with m.If(extends):
                m.d.sync += o_len.eq(o_len + 1)
            with m.Else():
                m.d.sync += [o_open.eq(1), o_addr.eq(r_addr), o_len.eq(0),
                             o_we.eq(r_we), o_tag.eq(r_tag), o_rec.eq(sel_rec)]
            with m.If(r_we):
                m.d.comb += [wq.w_en.eq(1), wq.w_data.eq(r_wdata)]

        # AR and R
        size = Const(shift, 3)
        aw_rec = awq.r_data[AW + 8]
        rec_id = self.id_value ^ 1
        m.d.comb += [axi.arid.eq(self.id_value), axi.awid.eq(Mux(aw_rec, rec_id, self.id_value))]
        for ch in ("ar", "aw"):
            m.d.comb += [getattr(axi, f"{ch}size").eq(size),
                         getattr(axi, f"{ch}burst").eq(BURST_INCR),
                         getattr(axi, f"{ch}cache").eq(CACHE)]
        m.d.comb += [axi.araddr.eq(arq.r_data[:AW]), axi.arlen.eq(arq.r_data[AW:AW + 8]),
                     axi.arvalid.eq(arq.r_rdy & rtrack.w_rdy),
                     rtrack.w_data.eq(arq.r_data[AW + 8])]
        with m.If(axi.arvalid & axi.arready):
            m.d.comb += [arq.r_en.eq(1), rtrack.w_en.eq(1)]
        m.d.comb += [axi.rready.eq(1), mem.rsp_valid.eq(axi.rvalid), mem.rsp_data.eq(axi.rdata),
                     mem.rsp_tag.eq(rtrack.r_data), rtrack.r_en.eq(axi.rvalid & axi.rlast)]

        # AW, W and B
        m.d.comb += [axi.awaddr.eq(awq.r_data[:AW]), axi.awlen.eq(awq.r_data[AW:AW + 8]),
                     axi.awvalid.eq(awq.r_rdy & wlen.w_rdy),
                     wlen.w_data.eq(awq.r_data[AW:AW + 8])]
        aw_go, b_go = Signal(), Signal()
        m.d.comb += [aw_go.eq(axi.awvalid & axi.awready), b_go.eq(axi.bvalid & axi.bready)]
        with m.If(aw_go):
            m.d.comb += [awq.r_en.eq(1), wlen.w_en.eq(1)]
        b_is_rec = axi.bid == rec_id
        m.d.sync += [b_out.eq(b_out + (aw_go & ~aw_rec) - (b_go & ~b_is_rec)),
                     b_rec.eq(b_rec + (aw_go & aw_rec) - (b_go & b_is_rec)),
                     aw_ord.eq(aw_ord + (awq.w_en & ~o_rec) - (aw_go & ~aw_rec))]
        w_cnt = Signal(8)
        m.d.comb += [axi.wdata.eq(wq.r_data), axi.wstrb.eq(-1), axi.wlast.eq(w_cnt == wlen.r_data),
                     axi.wvalid.eq(wlen.r_rdy & wq.r_rdy), axi.bready.eq(1)]
        with m.If(axi.wvalid & axi.wready):
            m.d.comb += wq.r_en.eq(1)
            m.d.sync += w_cnt.eq(w_cnt + 1)
            with m.If(axi.wlast):
                m.d.comb += wlen.r_en.eq(1)
                m.d.sync += w_cnt.eq(0)

        # error responses
        r_err = axi.rvalid & axi.rresp[1]
        b_err = b_go & axi.bresp[1]
        with m.If(r_err | b_err):
            m.d.comb += self.error.eq(Status.BUS_ERROR)
            with m.If(self.err_resp == OKAY):
                m.d.sync += [self.err_resp.eq(Mux(b_err, axi.bresp, axi.rresp)),
                             self.err_write.eq(b_err)]
        with m.If(self.clear):
            m.d.sync += [self.err_resp.eq(OKAY), self.err_write.eq(0)]

        m.d.comb += [self.idle.eq(~o_open & ~arq.r_rdy & ~rtrack.r_rdy & ~awq.r_rdy
                                  & ~wlen.r_rdy & ~wq.r_rdy & (b_out == 0) & (b_rec == 0)),
                     self.active.eq(acc | (axi.arvalid & axi.arready) | axi.rvalid | aw_go
                                    | (axi.wvalid & axi.wready) | b_go)]
        return m
