"""Where candidates train: in this process (``local``) or as Ray tasks on a cluster (``ray``).

A backend gets a list of :class:`Job` s (train candidate ``name`` until ``target`` epochs are
done) and reports every finished epoch to the search through :class:`RunContext.save`, which
writes the candidate's checkpoint atomically before anything else happens. The search process is
the only writer of the run folder, so workers need no shared file system: a Ray task receives a
candidate's state, trains **one** epoch and returns the new state. One epoch per task is also what
makes a killed search lose nothing but the epochs in flight.

The Ray backend runs each survivor of a round as its own task, ``cpus_per_trial`` CPUs each and
one GPU each when the cluster has GPUs; Ray queues what does not fit. ``address`` is passed to
``ray.init`` (``None`` starts a local Ray instance, ``"auto"`` joins a running cluster). The
workers import ``hfaccel`` and load the data set themselves, so both must be installed/available
on every node.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from hfaccel.errors import HfaccelError
from hfaccel.model.spec import NetConfig

__all__ = ["BACKENDS", "Job", "LocalBackend", "RayBackend", "RunContext", "make_backend"]

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class Job:
    """Train candidate ``name`` (network ``cfg``, at its training resolution) to ``target``."""

    name: str
    cfg: NetConfig
    target: int


@dataclass
class RunContext:
    """What a backend needs from the search: the recipe, the data, and the checkpoint store."""

    train: object  # hfaccel.quant.train.TrainConfig
    total_epochs: int
    data_resolution: int | None  # image folders are loaded at this size once
    load: Callable[[str], dict | None]  # candidate name -> its latest state, or None
    save: Callable[[str, dict, dict], None]  # (name, state, epoch record) -> checkpoint it

    def datasets(self):
        from hfaccel.ncs.trainer import datasets

        tc = self.train
        return datasets(tc.data, tc.limit, tc.val_limit, tc.seed, self.data_resolution)


class Backend(Protocol):
    name: str

    def train(self, jobs: list[Job], ctx: RunContext) -> None: ...

    def close(self) -> None: ...


class LocalBackend:
    """Trains the jobs one after the other in this process (on the GPU when there is one)."""

    name = "local"

    def __init__(self, *, device: str | None = None, threads: int | None = None) -> None:
        from hfaccel.ncs.trainer import default_device

        self.device = device or default_device()
        self.threads = threads

    def train(self, jobs: list[Job], ctx: RunContext) -> None:
        import torch

        from hfaccel.ncs.trainer import CandidateTrainer

        train_data, val_data = ctx.datasets()
        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            for job in jobs:
                state = ctx.load(job.name)
                if state is not None and state["epoch"] >= job.target:
                    continue
                trainer = CandidateTrainer(job.cfg, ctx.train, total_epochs=ctx.total_epochs,
                                           device=self.device)
                if state is not None:
                    trainer.load_state_dict(state)
                while trainer.epoch < job.target:
                    rec = trainer.train_epoch(train_data, val_data)
                    ctx.save(job.name, trainer.state_dict(), rec)
        finally:
            torch.set_num_threads(before)

    def close(self) -> None:
        pass


def _ray_train_epoch(cfg: NetConfig, tc, total_epochs: int, state: dict | None,
                     data_resolution: int | None, threads: int) -> tuple[dict, dict]:
    """One epoch of one candidate, in a Ray worker: ``(epoch record, new state)``."""
    import torch

    from hfaccel.ncs.trainer import CandidateTrainer, datasets, default_device

    torch.set_num_threads(threads)
    train_data, val_data = datasets(tc.data, tc.limit, tc.val_limit, tc.seed, data_resolution)
    trainer = CandidateTrainer(cfg, tc, total_epochs=total_epochs, device=default_device())
    if state is not None:
        trainer.load_state_dict(state)
    rec = trainer.train_epoch(train_data, val_data)
    return rec, trainer.state_dict()


class RayBackend:
    """Each survivor of a round is a Ray task per epoch; Ray schedules them over the cluster."""

    name = "ray"

    def __init__(self, *, address: str | None = None, cpus_per_trial: int = 1,
                 gpus_per_trial: float | None = None, init_kwargs: dict | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise HfaccelError("the ray backend needs Ray: pip install -c constraints.txt "
                               "'.[ray]'") from None
        if isinstance(cpus_per_trial, bool) or not isinstance(cpus_per_trial, int) \
                or cpus_per_trial < 1:
            raise HfaccelError(f"cpus per trial must be a positive integer, got "
                               f"{cpus_per_trial!r}")
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            kw = {"include_dashboard": False, "log_to_driver": True, **(init_kwargs or {})}
            if address is None:
                # A local instance sized to this machine; workers find hfaccel in this venv.
                kw.setdefault("num_cpus", os.cpu_count() or 1)
            try:
                ray.init(address=address, **kw)
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise HfaccelError(f"cannot start or reach Ray at {address or 'local'}: "
                                   f"{e}") from None
            self.started = True
        self.cpus = cpus_per_trial
        gpus = ray.cluster_resources().get("GPU", 0)
        self.gpus = gpus_per_trial if gpus_per_trial is not None else (1 if gpus > 0 else 0)
        self.remote = ray.remote(_ray_train_epoch).options(num_cpus=self.cpus,
                                                           num_gpus=self.gpus)

    def train(self, jobs: list[Job], ctx: RunContext) -> None:
        ray = self.ray
        pending = {}

        def submit(job: Job, state: dict | None) -> None:
            ref = self.remote.remote(job.cfg, ctx.train, ctx.total_epochs, state,
                                     ctx.data_resolution, self.cpus)
            pending[ref] = job

        for job in jobs:
            state = ctx.load(job.name)
            if state is None or state["epoch"] < job.target:
                submit(job, state)
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(done[0])
                rec, state = ray.get(done[0])
                ctx.save(job.name, state, rec)
                if state["epoch"] < job.target:
                    submit(job, state)
        finally:
            for ref in pending:  # an error or Ctrl-C: stop the epochs still in flight
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
            self.started = False


def make_backend(name: str, *, device: str | None = None, threads: int | None = None,
                 address: str | None = None, cpus_per_trial: int = 1) -> Backend:
    if name == "local":
        if address is not None:
            raise HfaccelError("--ray-address needs --backend ray")
        return LocalBackend(device=device, threads=threads)
    if name == "ray":
        return RayBackend(address=address, cpus_per_trial=threads or cpus_per_trial)
    raise HfaccelError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
