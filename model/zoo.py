"""The zoo table: every registered model's counts next to the paper's (Table 5)."""

from __future__ import annotations

from dataclasses import dataclass

from hfaccel.model.registry import REGISTRY, ModelEntry
from hfaccel.model.spec import NetConfig, scale

__all__ = ["ZooRow", "format_table", "zoo_row", "zoo_rows"]


@dataclass(frozen=True)
class ZooRow:
    config: NetConfig
    entry: ModelEntry | None  # None for a model given by coefficients

    @property
    def params_m(self) -> float:
        return self.config.params / 1e6

    @property
    def macs_m(self) -> float:
        return self.config.macs / 1e6

    @property
    def matches_paper(self) -> bool | None:
        """Whether both counts equal Table 5's to the printed two decimals (None: no entry)."""
        if self.entry is None:
            return None
        return (round(self.params_m, 2) == self.entry.paper_params_m
                and round(self.macs_m, 2) == self.entry.paper_macs_m)

    def as_dict(self, stages: bool = False) -> dict:
        s = self.config.scaling
        d: dict = {
            "name": self.config.name,
            "coefficients": self.entry.coefficients if self.entry else None,
            "width": s.width, "depth": s.depth, "resolution": s.resolution, "hf": s.hf,
            "params": self.config.params, "macs": self.config.macs,
            "params_m": round(self.params_m, 2), "macs_m": round(self.macs_m, 2),
            "paper_params_m": self.entry.paper_params_m if self.entry else None,
            "paper_macs_m": self.entry.paper_macs_m if self.entry else None,
            "matches_paper": self.matches_paper,
            "note": self.entry.note if self.entry else "",
        }
        if stages:
            d["stem"] = self.config.stem_ch
            d["stages"] = [vars(st) for st in self.config.stages()]
            d["head"] = self.config.head_ch
        return d


def zoo_row(entry: ModelEntry) -> ZooRow:
    return ZooRow(scale(entry.scaling, name=entry.name), entry)


def zoo_rows(names: list[str] | None = None) -> list[ZooRow]:
    entries = [REGISTRY[n] for n in names] if names else list(REGISTRY.values())
    return [zoo_row(e) for e in entries]


def _diff(value: float, paper: float | None) -> str:
    # Against the printed two decimals; `+ 0.0` turns -0.00 into +0.00.
    return "" if paper is None else f"{round(round(value, 2) - paper, 2) + 0.0:+.2f}"


def format_table(rows: list[ZooRow], stages: bool = False) -> str:
    """A plain-text table (no colour codes, so it pipes and diffs cleanly)."""
    head = ["model", "coeffs", "w", "d", "res", "HF", "params M", "MACs M", "paper P",
            "paper MACs", "dP", "dMACs", "match"]
    body = []
    notes = []
    for r in rows:
        s, e = r.config.scaling, r.entry
        match = {True: "yes", False: "NO", None: "-"}[r.matches_paper]
        if e is not None and e.note:
            notes.append(f"{e.name}: {e.note}")
            if r.matches_paper is False:
                match = "paper*"
        body.append([
            r.config.name, e.coefficients if e else "custom", f"{s.width:g}", f"{s.depth:g}",
            str(s.resolution), "yes" if s.hf else "", f"{r.params_m:.2f}", f"{r.macs_m:.2f}",
            f"{e.paper_params_m:.2f}" if e else "", f"{e.paper_macs_m:.2f}" if e else "",
            _diff(r.params_m, e and e.paper_params_m), _diff(r.macs_m, e and e.paper_macs_m),
            match,
        ])
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    left = {0, 1}

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    lines = [fmt(head), fmt(["-" * w for w in widths])] + [fmt(b) for b in body]
    if stages:
        for r in rows:
            c = r.config
            lines.append("")
            stem = -(-c.resolution // 2)
            lines.append(f"{c.name}: stem {c.stem_ch} ch @ {stem}x{stem}, head {c.head_ch} ch @ "
                         f"{c.final_hw}x{c.final_hw}")
            lines.append("  stage  kernel  expand  channels  repeats  out map")
            for st in c.stages():
                lines.append(f"  {st.stage:>5}  {st.kernel:>4}x{st.kernel}  "
                             f"{st.expand_ratio:>6g}  {st.channels:>8}  {st.repeats:>7}  "
                             f"{st.out_hw:>4}x{st.out_hw}")
    lines.append("")
    lines.append("params = learnable + BatchNorm running mean/var; MACs = every conv (depthwise "
                 "and SE included) + classifier weights (paper's counting, docs/models.md)")
    lines += [f"* {n}" for n in notes]
    return "\n".join(lines)
