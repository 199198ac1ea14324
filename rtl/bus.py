"""The external memory port and its arbiter: the fetch unit and the DMA share one port.

The port (the engine's ``req_*``/``rsp_*`` ports): a ``req_valid``/``req_ready`` request with
``req_we`` (a write of ``req_wdata``, else a read), ``req_addr`` in beats and ``req_tag``
(:data:`TAG_FETCH` or :data:`TAG_DMA`), returned with the read's response on
``rsp_valid``/``rsp_data``/``rsp_tag``, in request order, one beat a cycle, without
back-pressure.

Fetch has priority: the DMA's request is granted in a cycle in which fetch requests nothing.
A stopped engine (``stop``) requests nothing more.
"""

from __future__ import annotations

from amaranth import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hfaccel.rtl.ports import BusRequest

__all__ = ["MemArbiter", "MemPort", "TAG_DMA", "TAG_FETCH"]

TAG_FETCH, TAG_DMA = 0, 1


class MemPort(wiring.Signature):
    """The engine's external memory port, seen from the engine (see the module docstring)."""

    def __init__(self, *, addr_width: int, data_width: int):
        for name, v in (("addr_width", addr_width), ("data_width", data_width)):
            if not isinstance(v, int) or v < 1:
                raise TypeError(f"{name} must be a positive integer, not {v!r}")
        self.addr_width, self.data_width = addr_width, data_width
        super().__init__({
            "req_valid": Out(1), "req_ready": In(1), "req_we": Out(1),
            "req_addr": Out(addr_width), "req_wdata": Out(data_width), "req_tag": Out(1),
            "rsp_valid": In(1), "rsp_data": In(data_width), "rsp_tag": In(1),
        })

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width
                and other.data_width == self.data_width)

    def __hash__(self):
        return hash((type(self).__name__, self.addr_width, self.data_width))

    def __repr__(self):
        return f"MemPort(addr_width={self.addr_width}, data_width={self.data_width})"


class MemArbiter(wiring.Component):
    """Two masters (fetch first, then the DMA) on one external memory port.

    Parameters
    ----------
    addr_width, data_width : int
        Bits of a beat address and of a beat.

    Members
    -------
    fetch, dma : ``In(BusRequest(addr_width, data_width))``
        The masters; a response goes to the master whose tag it carries.
    stop : ``In(1)``
        No more requests (the engine has stopped on an error).
    mem : ``Out(MemPort(addr_width, data_width))``
        The port.
    """

    def __init__(self, *, addr_width: int, data_width: int):
        master = BusRequest(addr_width=addr_width, data_width=data_width)
        super().__init__({"fetch": In(master), "dma": In(master), "stop": In(1),
                          "mem": Out(MemPort(addr_width=addr_width, data_width=data_width))})

    def elaborate(self, platform):
        m = Module()
        f, d, mem, stop = self.fetch, self.dma, self.mem, self.stop
        m.d.comb += [f.grant.eq(f.valid & mem.req_ready & ~stop),
                     d.grant.eq(d.valid & ~f.valid & mem.req_ready & ~stop),
                     mem.req_valid.eq((f.valid | d.valid) & ~stop),
                     mem.req_addr.eq(Mux(f.valid, f.addr, d.addr)),
                     mem.req_we.eq(~f.valid & d.we), mem.req_wdata.eq(d.wdata),
                     mem.req_tag.eq(Mux(f.valid, TAG_FETCH, TAG_DMA)),
                     f.rsp_valid.eq(mem.rsp_valid & (mem.rsp_tag == TAG_FETCH)),
                     d.rsp_valid.eq(mem.rsp_valid & (mem.rsp_tag == TAG_DMA)),
                     f.rsp_data.eq(mem.rsp_data), d.rsp_data.eq(mem.rsp_data)]
        return m
