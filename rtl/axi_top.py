"""The SoC top level ``hfaccel_axi_top``: the engine behind AXI4-Lite registers and an AXI4
master, with an interrupt.

Ports (the names Vivado's and LiteX's AXI interface inference recognize): one clock ``aclk``,
the AMBA active-low synchronous reset ``aresetn``, the register slave ``s_axi_*``
(:class:`~hfaccel.rtl.axi.AxiLite`, 32-bit data), the memory master ``m_axi_*``
(:class:`~hfaccel.rtl.axi.Axi4` at ``bus_bytes * 8`` bits), ``irq`` (level, active high), and
the engine's observation ports (``trace_*``, ``perf_*``: leave them open in a product).

Wiring (nothing else lives here)::

    s_axi --> [axil: AxilRegs] --control/status/base/counters--> [engine: hfaccel_top]
                                                                       | req/rsp  | perf_*
    m_axi <-- [axi_master: AxiMaster] <--------------------------------+          |
                    ^ rec_* <-------- [axi_perf: PerfWriter] <---------------------+

* ``control.start`` starts the engine when the shell is not busy (the engine runs or the master
  has transactions in flight); otherwise it is ignored and ``status.rejected`` set until the next
  accepted start (which also clears the master's latched bus error);
* ``control.soft_reset`` resets the engine for one cycle (the register file and the master's
  transactions in flight are left alone: they complete, the engine ignores their responses);
* ``status.done`` is the engine's done once every write is answered (or at once on an error,
  so that a bus that never answers cannot hide it); its rising edge sets ``irq_status.done``;
  ``status.error`` is the engine's status, or BUS_ERROR when only a write answered after the
  engine had finished was refused;
  ``irq = irq_status.done & control.irq_enable``;
* the perf records (:class:`~hfaccel.rtl.perfrec.PerfWriter`, one per compute instruction) go
  to ``base + perf_addr`` beats through the master in cycles the engine leaves free;
  ``status.done`` waits until every one is written and answered;
* an error response on the master stops the engine with
  :attr:`~hfaccel.accel.isa.Status.BUS_ERROR` (its ``ext_error`` input).

The engine is instantiated as the Verilog module ``hfaccel_top`` (generated from
:class:`hfaccel.rtl.top.Accelerator`; its ports come from the same signature), so this module
converts in seconds and the package holds both tops (:func:`hfaccel.rtl.verilog.generate_verilog`).
"""

from __future__ import annotations

from amaranth import Cat, ClockDomain, ClockSignal, Instance, Module, Mux, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hfaccel.accel.config import AccelConfig
from hfaccel.accel.isa import Status
from hfaccel.accel.regs import MAGIC, config_hash
from hfaccel.rtl.axi import AxiLite, AxiMaster
from hfaccel.rtl.axil import AxilRegs
from hfaccel.rtl.perfrec import PerfWriter
from hfaccel.rtl.top import engine_ports

__all__ = ["AXI_TOP", "AxiTop", "COUNTERS", "OBSERVATION"]

AXI_TOP = "hfaccel_axi_top"
ENGINE = "hfaccel_top"
COUNTERS = ("cycles", "cmp_busy", "cmp_wait", "ld_busy", "mac_cycles", "instrs")
OBSERVATION = ("trace_", "perf_")  # engine ports passed through (prefixes)


def _flat(prefix: str, sig: wiring.Signature, flip: bool) -> dict:
    """``{prefix_name: member}`` of a flat signature, flipped for the slave side."""
    out = {}
    for name, mem in sig.members.items():
        if flip:
            mem = mem.flip()
        out[f"{prefix}_{name}"] = mem
    return out


class AxiTop(wiring.Component):
    """The AXI top level of one :class:`AccelConfig` (see the module docstring).

    Parameters
    ----------
    cfg : AccelConfig
        The engine; its ``axi_addr_bits`` and ``axi_id_bits`` size the AXI4 master's addresses
        and IDs.
    max_burst, read_bursts : int
        Longest burst, read bursts in flight (:class:`~hfaccel.rtl.axi.AxiMaster`).
    lite_addr_width : int
        Bits of the register slave's addresses.
    """

    def __init__(self, cfg: AccelConfig, *, max_burst: int = 16, read_bursts: int = 8,
                 lite_addr_width: int = 12):
        if not isinstance(cfg, AccelConfig):
            raise TypeError(f"cfg must be an AccelConfig, not {cfg!r}")
        self.cfg = cfg
        self.master = AxiMaster(data_width=cfg.bus_bytes * 8, addr_width=cfg.axi_addr_bits,
                                id_width=cfg.axi_id_bits, max_burst=max_burst,
                                read_bursts=read_bursts)
        self.regs = AxilRegs(addr_width=lite_addr_width)
        self.perf = PerfWriter(data_width=cfg.bus_bytes * 8)
        # the engine's ports, from its signature (no elaboration)
        self.engine_ports = {n: (mem.flow, len(Signal(mem.shape))) for n, mem in
                             engine_ports(cfg).items()}
        members = {"aclk": In(1), "aresetn": In(1), "irq": Out(1)}
        members.update(_flat("s_axi", AxiLite(addr_width=lite_addr_width), flip=True))
        members.update(_flat("m_axi", self.master.axi.signature, flip=False))
        for n, (_, width) in self.engine_ports.items():
            if n.startswith(OBSERVATION):
                members[n] = Out(width)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = ClockDomain("sync", local=True)
        m.d.comb += [cd.clk.eq(self.aclk), cd.rst.eq(~self.aresetn)]
        m.submodules.axil = regs = self.regs
        m.submodules.axi_master = mst = self.master
        m.submodules.axi_perf = pw = self.perf

        # the flat AXI ports
        lite = AxiLite(addr_width=self.regs.addr_width)
        for prefix, bus, sig in (("s_axi", regs.bus, lite), ("m_axi", mst.axi, mst.axi.signature)):
            for name, mem in sig.members.items():  # flows as seen from the master
                flat = getattr(self, f"{prefix}_{name}")
                inner = getattr(bus, name)
                # the inner port is driven from outside where the flat port is an input
                if (mem.flow == Out) == (prefix == "m_axi"):
                    m.d.comb += flat.eq(inner)
                else:
                    m.d.comb += inner.eq(flat)

        # the engine
        e = {n: Signal(w, name=f"eng_{n}") for n, (_, w) in self.engine_ports.items()}
        soft_reset = regs.control_soft_reset
        m.submodules.engine = Instance(
            ENGINE, i_clk=ClockSignal(), i_rst=ResetSignal() | soft_reset,
            **{("i_" if flow == In else "o_") + n: e[n]
               for n, (flow, _) in self.engine_ports.items()})
        for n in self.engine_ports:
            if n.startswith(OBSERVATION):
                m.d.comb += getattr(self, n).eq(e[n])
        mem = mst.mem
        m.d.comb += [mem.req_valid.eq(e["req_valid"]), e["req_ready"].eq(mem.req_ready),
                     mem.req_we.eq(e["req_we"]), mem.req_addr.eq(e["req_addr"]),
                     mem.req_wdata.eq(e["req_wdata"]), mem.req_tag.eq(e["req_tag"]),
                     e["rsp_valid"].eq(mem.rsp_valid), e["rsp_data"].eq(mem.rsp_data),
                     e["rsp_tag"].eq(mem.rsp_tag), e["ext_error"].eq(mst.error)]

        # perf records: the engine's perf port to memory through the master's record stream
        m.d.comb += [getattr(pw, n).eq(e[n]) for n in ("perf_valid", "perf_layer", "perf_t",
                                                        "perf_wait", "perf_busy", "perf_mac")]
        m.d.comb += [pw.addr.eq(regs.perf_addr), pw.cap.eq(regs.perf_cap),
                     regs.perf_count.eq(pw.count),
                     mst.rec_valid.eq(pw.rec_valid), pw.rec_ready.eq(mst.rec_ready),
                     mst.rec_addr.eq(pw.rec_addr), mst.rec_data.eq(pw.rec_data),
                     mst.rec_urgent.eq(pw.rec_urgent)]

        # control and status
        busy, shell_idle = Signal(), Signal()
        m.d.comb += [shell_idle.eq(mst.idle & pw.idle), busy.eq(e["busy"] | ~shell_idle)]
        start = Signal()
        m.d.comb += [start.eq(regs.control_start & ~busy), e["start"].eq(start),
                     e["prog"].eq(regs.prog), mst.clear.eq(start), pw.start.eq(start),
                     mst.base.eq(Cat(regs.base_lo, regs.base_hi))]
        rejected = Signal()
        with m.If(regs.control_start & busy):
            m.d.sync += rejected.eq(1)
        with m.Elif(start):
            m.d.sync += rejected.eq(0)
        done, done_q = Signal(), Signal()
        m.d.comb += done.eq(e["done"] & (shell_idle | (e["status"] != 0)))
        m.d.sync += done_q.eq(done)
        m.d.comb += [regs.id.eq(MAGIC), regs.cfg_hash.eq(config_hash(self.cfg)),
                     regs.status_busy.eq(busy), regs.status_done.eq(done),
                     regs.status_rejected.eq(rejected),
                     # a write answered with an error after the engine finished still counts
                     regs.status_error.eq(Mux(e["status"] != 0, e["status"],
                                              Mux(mst.err_resp != 0, Status.BUS_ERROR, 0))),
                     regs.irq_status_done_set.eq(done & ~done_q),
                     regs.bus_error_resp.eq(mst.err_resp), regs.bus_error_write.eq(mst.err_write),
                     self.irq.eq(regs.irq_status_done & regs.control_irq_enable)]
        for n in COUNTERS:
            m.d.comb += getattr(regs, n).eq(e[n])
        return m
