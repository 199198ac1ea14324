"""Does a model map onto a hardware config? One early check, before any expensive step.

The answer is the compiler's own: :func:`check_fit` compiles the IR graph for the config
(:func:`hfaccel.accel.compiler.compile_graph`: fusion, unified-buffer allocation and spilling,
weight tiling, shifts, instruction encoding; ~30 ms for HF3), so no limit is restated here and
the check can never disagree with the compiler. ``check-reference`` prints the result;
``report``, ``hw-sim`` and ``sweep``-like callers use :func:`require_fit`, which raises before
any data is loaded, Verilog generated or simulator built. A misfit names the IR layer, the ONNX
nodes it came from, the limit it breaks and the config field or model change that fixes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hfaccel.accel.compiler import CompileError, Program, compile_graph
from hfaccel.accel.config import AccelConfig
from hfaccel.quant.ir import Graph

__all__ = ["Fit", "check_fit", "require_fit"]

_LAYER = re.compile(r"\blayer (\S+?):")


@dataclass(frozen=True)
class Fit:
    """The answer for one (graph, config): ``ok``, else the reason and where it is."""

    hw: str
    ok: bool
    reason: str = ""  # the compiler's message: the layer and the limit it breaks
    layer: str = ""  # the IR layer the reason names ("" when it names none)
    nodes: tuple[str, ...] = ()  # that layer's ONNX nodes
    ops: int = 0  # hardware operations
    instructions: int = 0
    ub_peak_kib: float = 0.0
    spilled: tuple[str, ...] = ()  # feature maps streamed through external memory
    program: Program | None = field(default=None, repr=False, compare=False)

    def line(self) -> str:
        """One line for people."""
        if not self.ok:
            where = f" (ONNX nodes {', '.join(self.nodes)})" if self.nodes else ""
            return f"does not fit {self.hw}: {self.reason}{where}"
        spill = (f", {len(self.spilled)} feature map(s) spilled to external memory"
                 if self.spilled else "")
        return (f"fits {self.hw}: {self.ops} hardware operations, {self.instructions} "
                f"instructions, unified buffer peak {self.ub_peak_kib:.0f} KiB{spill}")


def check_fit(graph: Graph, cfg: AccelConfig) -> Fit:
    """Compile ``graph`` for ``cfg``; a misfit is an answer, not an exception."""
    try:
        prog = compile_graph(graph, cfg)
    except CompileError as e:
        reason = str(e)
    except ValueError as e:  # an instruction field the format cannot hold (accel/isa.py)
        reason = f"an instruction field does not fit the instruction format: {e}"
    else:
        return Fit(cfg.name, True, ops=len(prog.ops), instructions=len(prog.instrs),
                   ub_peak_kib=prog.ub_peak_words * cfg.word_bytes / 1024,
                   spilled=tuple(prog.spilled), program=prog)
    m = _LAYER.search(reason)
    layer, nodes = "", ()
    if m:
        try:
            ly = graph[m.group(1)]
            layer, nodes = ly.name, tuple(ly.nodes)
        except KeyError:
            pass
    return Fit(cfg.name, False, reason=reason, layer=layer, nodes=nodes)


def require_fit(graph: Graph, cfg: AccelConfig, model: str = "") -> Program:
    """The compiled program, or a :class:`CompileError` that says why ``model`` does not fit."""
    fit = check_fit(graph, cfg)
    if not fit.ok:
        raise CompileError(f"{model or graph.source or 'the model'} {fit.line()}")
    return fit.program
