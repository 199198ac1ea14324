"""The elimination tournament (Sections 3.3-3.4) over a grouped candidate pool, resumable.

Algorithm (the paper's steps):

1. build the pool, sort it by ``Z_sum`` and cut it into groups of ``k`` (:mod:`.grouping`);
2. train every survivor for a round of ``e`` epochs;
3. in each group, rank the survivors by the criterion (average accuracy from the first epoch to
   now, by default) and eliminate the lower half (``floor(n / 2)``; ties go to the lighter one);
4. repeat 2-3 until one candidate per group remains, then train the champions to the full budget
   of ``N`` epochs.

The learning-rate schedule of every candidate spans ``N`` epochs, so an eliminated candidate's
curve is the beginning of the full run it would have had. ``train_all`` keeps the eliminated
candidates training to ``N`` as well (the tournament's decisions are the same), which gives the
complete curves the criterion analysis of Eqs. 5-6 needs.

State on disk, ``<run>/``: ``search.json`` (the settings, checked on resume) and one checkpoint
per candidate under ``candidates/``, written atomically after **every** epoch. The tournament's
decisions are a pure function of the accuracy histories, so a search that was killed at any
point (SIGKILL included) replays them from the checkpoints and trains only what is missing: the
same command continues it and loses no finished epoch. A lock file keeps two processes out of
one run folder.
"""

from __future__ import annotations

import fcntl
import json
import math
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from hfaccel.errors import ConfigError, HfaccelError
from hfaccel.model.spec import NetConfig, Scaling, is_power_of_two
from hfaccel.ncs.criteria import criterion_name, get_criterion, rank, survivor_count
from hfaccel.ncs.grouping import Group, Scored, group_pool
from hfaccel.ncs.pool import Candidate, PoolSpec, build_pool
from hfaccel.quant.train import TrainConfig

__all__ = ["Plan", "Search", "SearchConfig", "SearchResult", "default_qat_epochs", "make_plan",
           "run_search"]

SEARCH_FORMAT = "hfaccel-ncs-search-1"
MIN_RESOLUTION = 8  # smaller inputs collapse the feature maps right after the stem
# TrainConfig fields only the champions' export uses: a search continues with other values
# (and re-exports), so they are not part of the run's identity
EXPORT_ONLY = ("calibration", "bias_correction")


@dataclass(frozen=True, kw_only=True)
class SearchConfig:
    """Everything that decides a search's results (recorded in ``search.json``).

    ``epochs`` is the full training budget ``N``; ``round_epochs`` is ``e``; ``train`` holds the
    recipe and the data (its ``epochs``/``qat_epochs`` are replaced by ``N`` and 0).
    ``max_resolution`` caps the training input: the pool's largest resolution is trained at the
    cap and the others in proportion (``ceil(r x cap / r_max)``), so the resolution axis of the
    search survives the cap; grouping always uses the paper's counts at full resolution.
    """

    pool: PoolSpec = field(default_factory=PoolSpec)
    group_size: int = 4
    round_epochs: int = 1
    epochs: int = 4
    criterion: str | Callable = "average"
    train: TrainConfig = field(default_factory=TrainConfig)
    max_resolution: int | None = None
    train_all: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.pool, PoolSpec):
            raise ConfigError(f"pool must be a PoolSpec, got {type(self.pool).__name__}")
        if isinstance(self.group_size, bool) or not isinstance(self.group_size, int) \
                or self.group_size < 2:
            raise ConfigError(f"group size must be an integer >= 2 (candidates compared per "
                              f"group), got {self.group_size!r}")
        for key in ("round_epochs", "epochs"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{key.replace('_', ' ')} must be a positive integer, got "
                                  f"{v!r}")
        get_criterion(self.criterion)
        if not isinstance(self.train, TrainConfig):
            raise ConfigError(f"train must be a TrainConfig, got {type(self.train).__name__}")
        tc = self.train
        if isinstance(tc.batch, bool) or not isinstance(tc.batch, int) or tc.batch < 1:
            raise ConfigError(f"batch must be a positive integer, got {tc.batch!r}")
        if not tc.lr > 0:
            raise ConfigError(f"learning rate must be > 0, got {tc.lr!r}")
        for key in ("limit", "val_limit"):
            v = getattr(tc, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ConfigError(f"{key.replace('_', ' ')} must be a positive integer, got "
                                  f"{v!r}")
        if self.max_resolution is not None:
            m = self.max_resolution
            if isinstance(m, bool) or not isinstance(m, int) or m < MIN_RESOLUTION:
                raise ConfigError(f"max resolution must be an integer >= {MIN_RESOLUTION}, "
                                  f"got {m!r}")
            if self.pool.kind == "hf" and not is_power_of_two(m):
                raise ConfigError(f"max resolution of an HF pool must be a power of two "
                                  f"(e.g. 32), got {m}")
        object.__setattr__(self, "train", replace(tc, epochs=self.epochs, qat_epochs=0))

    def to_dict(self) -> dict:
        return {"pool": self.pool.to_dict(), "group_size": self.group_size,
                "round_epochs": self.round_epochs, "epochs": self.epochs,
                "criterion": criterion_name(self.criterion),
                "max_resolution": self.max_resolution, "train_all": self.train_all,
                "train": {k: v for k, v in asdict(self.train).items()
                          if k not in EXPORT_ONLY}}


@dataclass(frozen=True)
class Plan:
    """The pool, its groups and the schedule, before any training."""

    config: SearchConfig
    candidates: tuple[Candidate, ...]
    groups: tuple[Group, ...]
    train_resolution: dict[str, int]

    @property
    def rounds(self) -> int:
        """Elimination rounds until one candidate per group remains."""
        return max(g.rounds for g in self.groups)

    @property
    def scored(self) -> dict[str, Scored]:
        return {m.name: m for g in self.groups for m in g.members}

    def group_of(self, name: str) -> Group:
        return next(g for g in self.groups if name in g.names)

    def tournament_epochs(self) -> int:
        """Epochs trained until one candidate per group remains (the paper's search cost)."""
        e, total = self.config.round_epochs, 0
        for g in self.groups:
            n = len(g.members)
            for _ in range(g.rounds):
                total += n * e
                n = survivor_count(n)
        return total

    def search_epochs(self) -> int:
        """Tournament plus training each group's champion to the full budget."""
        e, n = self.config.round_epochs, self.config.epochs
        return self.tournament_epochs() + sum(n - g.rounds * e for g in self.groups)

    def full_epochs(self) -> int:
        """Training every candidate fully: what the tournament saves against."""
        return len(self.candidates) * self.config.epochs

    def planned_epochs(self) -> int:
        return self.full_epochs() if self.config.train_all else self.search_epochs()


def make_plan(config: SearchConfig) -> Plan:
    """Build and group the pool and check that the budget covers the tournament."""
    candidates = build_pool(config.pool)
    groups = group_pool(candidates, config.group_size)
    plan = Plan(config, candidates, groups, _train_resolutions(config, candidates))
    need = plan.rounds * config.round_epochs
    if need > config.epochs:
        raise ConfigError(f"epochs {config.epochs} is fewer than the tournament needs: "
                          f"{plan.rounds} rounds of {config.round_epochs} epoch(s) = {need} "
                          f"epochs for groups of {config.group_size}")
    return plan


def _train_resolutions(config: SearchConfig, candidates) -> dict[str, int]:
    top = max(c.resolution for c in candidates)
    cap = config.max_resolution
    out = {}
    for c in candidates:
        if cap is None or cap >= top:
            r = c.resolution
        else:
            r = int(math.ceil(round(c.resolution * cap / top, 6)))
        if r < 1:
            raise ConfigError(f"{c.name}: training resolution {r} after the cap of {cap}")
        out[c.name] = r
    return out


@dataclass
class SearchResult:
    """A finished (or replayed) search: groups, curves, eliminations, champions and cost."""

    plan: Plan
    run_dir: Path
    records: dict[str, list[dict]]  # candidate -> per-epoch records
    eliminated: dict[str, int]  # candidate -> round of its elimination
    champions: dict[int, str]  # group index -> champion
    exports: dict[str, dict] = field(default_factory=dict)
    wall_seconds: float = 0.0

    def curve(self, name: str) -> list[float]:
        return [r["val_acc"] for r in self.records.get(name, [])]

    @property
    def criterion(self):
        return self.plan.config.criterion

    def criterion_value(self, name: str, rnd: int) -> float | None:
        """The criterion of ``name`` at the end of round ``rnd`` (None when not trained then)."""
        e = rnd * self.plan.config.round_epochs
        c = self.curve(name)
        return get_criterion(self.criterion)(c[:e]) if len(c) >= e else None

    def stop_epoch(self, name: str) -> int:
        """The epoch the tournament stops ``name`` at: elimination, or its group's decision."""
        e = self.plan.config.round_epochs
        if name in self.eliminated:
            return self.eliminated[name] * e
        return self.plan.group_of(name).rounds * e

    def cost(self) -> dict:
        """Search cost in epochs (and measured seconds) against training every candidate."""
        cfg = self.plan.config
        trained = sum(len(r) for r in self.records.values())
        tour = sum(min(len(self.records.get(n, [])), self.stop_epoch(n))
                   for n in self.plan.scored)
        secs = sum(h["seconds"] for r in self.records.values() for h in r)
        tour_secs = sum(h["seconds"] for n, r in self.records.items()
                        for h in r[:self.stop_epoch(n)])
        full = self.plan.full_epochs()
        return {"candidates": len(self.plan.candidates), "groups": len(self.plan.groups),
                "group_size": cfg.group_size, "round_epochs": cfg.round_epochs,
                "epochs": cfg.epochs, "rounds": self.plan.rounds,
                "tournament_epochs": tour, "search_epochs": self.plan.search_epochs(),
                "trained_epochs": trained, "full_epochs": full,
                "search_fraction": self.plan.search_epochs() / full,
                "tournament_fraction": tour / full,
                "trained_seconds": secs, "tournament_seconds": tour_secs,
                "wall_seconds": self.wall_seconds}


class _RunLock:
    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / ".lock"
        self.f = None

    def __enter__(self):
        self.f = open(self.path, "a")
        try:
            fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.f.close()
            raise HfaccelError(f"run {self.path.parent} is in use by another process") from None
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def _diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


class Search:
    """One search in one run folder; :meth:`run` starts it or continues it where it stopped.

    ``backend`` is ``local`` (this process; ``device``/``threads`` pick the GPU and CPU threads),
    ``ray`` (``ray_address``, ``threads`` CPUs per trial), or an object with
    ``train(jobs, ctx)`` (see :mod:`hfaccel.ncs.backends`). ``export`` saves each champion as
    an ``hfaccel.quant.train.Checkpoint`` under ``champions/``, fine-tuned for ``qat_epochs``
    epochs of quantization-aware training first (``None``: :func:`default_qat_epochs`; 0: none).
    ``progress`` shows a tqdm bar.
    """

    def __init__(self, config: SearchConfig, run_dir: str | Path, *, backend="local",
                 device: str | None = None, threads: int | None = None,
                 ray_address: str | None = None, export: bool = True,
                 qat_epochs: int | None = None, progress: bool = False,
                 fresh: bool = False, log: Callable[[str], None] | None = None) -> None:
        from hfaccel.ncs.backends import BACKENDS

        if isinstance(backend, str) and backend not in BACKENDS:
            raise HfaccelError(f"unknown backend {backend!r}; choose one of "
                               f"{', '.join(BACKENDS)}")
        if not isinstance(backend, str) and not callable(getattr(backend, "train", None)):
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)} or an object "
                              f"with a train(jobs, ctx) method, got {backend!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or threads < 1):
            raise ConfigError(f"threads must be a positive integer, got {threads!r}")
        self.config = config
        self.plan = make_plan(config)
        self.run_dir = Path(run_dir)
        self.backend_name, self.device, self.threads = backend, device, threads
        self.ray_address, self.export, self.progress, self.fresh = (ray_address, export,
                                                                    progress, fresh)
        if qat_epochs is not None and (isinstance(qat_epochs, bool)
                                       or not isinstance(qat_epochs, int) or qat_epochs < 0):
            raise ConfigError(f"QAT epochs must be an integer >= 0, got {qat_epochs!r}")
        self.qat_epochs = default_qat_epochs(config) if qat_epochs is None else qat_epochs
        self.log = log or (lambda s: print(s, file=sys.stderr))
        self._bar = None
        self.records: dict[str, list[dict]] = {}

    # --- the run folder -------------------------------------------------------------------

    @property
    def candidates_dir(self) -> Path:
        return self.run_dir / "candidates"

    def _checkpoint(self, name: str) -> Path:
        return self.candidates_dir / f"{name}.pt"

    def _identity(self) -> dict:
        return self.config.to_dict()

    def _prepare(self) -> None:
        from hfaccel.files import atomic_write_text

        meta_path = self.run_dir / "search.json"
        ident = self._identity()
        if meta_path.exists():
            try:
                old = json.loads(meta_path.read_text())["settings"]
            except (ValueError, KeyError, TypeError):
                raise HfaccelError(f"{meta_path} is not an NCS search record; remove the run "
                                   "folder or pick another --run") from None
            if old != ident:
                diff = "; ".join(_diff(old, ident)[:6])
                raise HfaccelError(f"run {self.run_dir} was started with other settings "
                                   f"({diff}); continue it with the same ones, pick another "
                                   f"--run, or start over with --fresh")
        else:
            groups = [{"group": g.index, "candidates": list(g.names)} for g in self.plan.groups]
            atomic_write_text(meta_path, json.dumps(
                {"format": SEARCH_FORMAT, "settings": ident, "groups": groups,
                 "candidates": [c.to_dict() for c in self.plan.candidates]}, indent=2) + "\n")
        # Temporary files of a killed writer are garbage: the complete files are the truth.
        for tmp in self.run_dir.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def _load_existing(self) -> None:
        from hfaccel.ncs.trainer import load_state

        self.records = {}
        for c in self.plan.candidates:
            p = self._checkpoint(c.name)
            if p.exists():
                st = load_state(p)
                if st["name"] != c.name:
                    raise HfaccelError(f"{p} holds {st['name']}, not {c.name}")
                self.records[c.name] = [dict(h) for h in st["history"]]

    def _load_state(self, name: str) -> dict | None:
        from hfaccel.ncs.trainer import load_state

        p = self._checkpoint(name)
        return load_state(p) if p.exists() else None

    def _save(self, name: str, state: dict, rec: dict) -> None:
        from hfaccel.ncs.trainer import atomic_save

        atomic_save(state, self._checkpoint(name))
        self.records[name] = [dict(h) for h in state["history"]]
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(f"{name} ep {rec['epoch']} acc {rec['val_acc']:.1%}")

    def _say(self, msg: str) -> None:
        if self._bar is not None:
            self._bar.write(msg, file=sys.stderr)
        else:
            self.log(msg)

    # --- the tournament -------------------------------------------------------------------

    def train_config(self, name: str, num_classes: int) -> NetConfig:
        """The network ``name`` is trained as: its coefficients at its training resolution."""
        c = next(c for c in self.plan.candidates if c.name == name)
        s = Scaling(c.width, c.depth, self.plan.train_resolution[name], c.hf)
        return self.config.pool.base.config(s, name=name, num_classes=num_classes)

    def run(self) -> SearchResult:
        """Run (or continue) the search; returns its result and writes the reports."""
        from hfaccel.ncs.backends import Job, RunContext, make_backend
        from hfaccel.ncs.report import write_reports

        self.run_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        with _RunLock(self.run_dir):
            if self.fresh:  # under the lock: never delete a folder another search is using
                for p in self.run_dir.iterdir():
                    if p.name != ".lock":
                        shutil.rmtree(p) if p.is_dir() else p.unlink()
            self._prepare()
            self._load_existing()
            cfg, plan = self.config, self.plan
            tc = cfg.train
            data_res = max(plan.train_resolution.values())
            ctx = RunContext(train=tc, total_epochs=cfg.epochs, data_resolution=data_res,
                             load=self._load_state, save=self._save)
            num_classes = ctx.datasets()[0].num_classes
            cfgs = {c.name: self.train_config(c.name, num_classes) for c in plan.candidates}
            done = sum(len(r) for r in self.records.values())
            if done:
                self._say(f"resuming {self.run_dir}: {done} epoch(s) already trained")
            own = isinstance(self.backend_name, str)  # a backend object is its caller's
            backend = make_backend(self.backend_name, device=self.device, threads=self.threads,
                                   address=self.ray_address) if own else self.backend_name
            if self.progress:
                from tqdm import tqdm

                total = plan.planned_epochs()
                self._bar = tqdm(total=total, initial=min(done, total), unit="epoch",
                                 file=sys.stderr, dynamic_ncols=True, desc="NCS")
            try:
                result = self._tournament(backend, ctx, cfgs, Job)
                if self.export:
                    result.exports = self._export(result, ctx, cfgs)
            finally:
                if self._bar is not None:
                    self._bar.close()
                    self._bar = None
                if own:
                    backend.close()
            result.wall_seconds = time.time() - t0
            write_reports(result)
        return result

    def _tournament(self, backend, ctx, cfgs, Job) -> SearchResult:
        cfg, plan = self.config, self.plan
        e = cfg.round_epochs
        alive = {g.index: list(g.names) for g in plan.groups}
        eliminated: dict[str, int] = {}
        partial = SearchResult(plan, self.run_dir, self.records, eliminated, {})
        for r in range(1, plan.rounds + 1):
            contested = [g for g in plan.groups if len(alive[g.index]) > 1]
            if self._bar is not None:
                self._bar.set_description(f"NCS round {r}/{plan.rounds}")
            backend.train([Job(n, cfgs[n], r * e) for g in contested for n in alive[g.index]],
                          ctx)
            for g in contested:
                names = alive[g.index]
                curves = {n: [h["val_acc"] for h in self.records[n]] for n in names}
                order = rank(curves, r * e, cfg.criterion)
                keep = set(order[:survivor_count(len(names))])
                for n in order[len(keep):]:
                    eliminated[n] = r
                alive[g.index] = [n for n in names if n in keep]
                out = ", ".join(f"{n} {partial.criterion_value(n, r):.1%}"
                                for n in order[len(keep):])
                self._say(f"round {r} group {g.index}: keep {', '.join(alive[g.index])}; "
                          f"out {out} ({criterion_name(cfg.criterion)} accuracy)")
            from hfaccel.ncs.report import write_leaderboard

            write_leaderboard(partial)  # a partial leaderboard after every round
        champions = {g: names[0] for g, names in alive.items()}
        final = list(plan.scored) if cfg.train_all else list(champions.values())
        if self._bar is not None:
            self._bar.set_description("NCS champions" if not cfg.train_all else "NCS all")
        backend.train([Job(n, cfgs[n], cfg.epochs) for n in final], ctx)
        return SearchResult(plan, self.run_dir, self.records, eliminated, champions)

    def _export(self, result: SearchResult, ctx, cfgs) -> dict[str, dict]:
        if not self.config.pool.base.is_b0:
            self._say("champions not exported as quantization checkpoints: "
                      "hfaccel.quant.train checkpoints hold B0-family networks only")
            return {}
        import torch

        train_data, val_data = ctx.datasets()
        out = {}
        before = torch.get_num_threads()
        if self.threads:  # the same CPU share as training (Brevitas' fake-quant eval is slow)
            torch.set_num_threads(self.threads)
        try:
            for _, name in sorted(result.champions.items()):
                out[name] = self._export_one(name, cfgs[name], train_data, val_data)
        finally:
            torch.set_num_threads(before)
        return out

    def _export_one(self, name: str, cfg: NetConfig, train_data, val_data) -> dict:
        from hfaccel.files import atomic_write_text
        from hfaccel.ncs.trainer import export_checkpoint

        path = self.run_dir / "champions" / f"{name}.pt"
        meta_path = path.with_suffix(".json")
        state = self._load_state(name)
        # "export" changes when an export of the same state would differ (2: BatchNorm
        # statistics re-estimated, int8 accuracy by the integer reference)
        tc = self.config.train
        key = {"epoch": state["epoch"], "val_acc": state["history"][-1]["val_acc"], "export": 2,
               "qat_epochs": self.qat_epochs, "calibration": tc.calibration,
               "bias_correction": tc.bias_correction}
        if path.exists() and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("key") == key:  # already exported from this very state
                return meta
        qat = f", {self.qat_epochs} QAT epoch(s)" if self.qat_epochs else ""
        self._say(f"exporting champion {name}: BatchNorm statistics, folding, calibration"
                  f"{qat} and int8 accuracy (integer reference) on {len(val_data)} images")
        accs = export_checkpoint(state, cfg, tc, train_data, val_data, path,
                                 qat_epochs=self.qat_epochs, log=self._say)
        meta = {"key": key, "checkpoint": str(path), **accs}
        atomic_write_text(meta_path, json.dumps(meta, indent=2) + "\n")
        return meta


def default_qat_epochs(config: SearchConfig) -> int:
    """QAT epochs per champion when not given: half the float budget (rounded down), 1 to 2.

    Each costs about three float epochs in fake quantization. Measured on `make ncs`'s
    champions (4-epoch budget, docs/ncs.md): one QAT epoch left hf-w2-d2-256 and hf-w2-d1-256
    1.5 and 3.5 points below float, two brought both above it; their float accuracy was still
    rising, and QAT goes on training.
    """
    return min(2, max(1, config.epochs // 2))


def run_search(config: SearchConfig, run_dir: str | Path, **kw) -> SearchResult:
    """``Search(config, run_dir, **kw).run()``."""
    return Search(config, run_dir, **kw).run()
