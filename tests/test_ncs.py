"""Network Candidate Search: pools (Eq. 2-3), grouping (Eq. 4), criteria (Eqs. 5-6), the
elimination tournament, resuming after SIGKILL, the Ray backend, reports and the CLI."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from hfaccel.cli import main
from hfaccel.errors import ConfigError, HfaccelError
from hfaccel.model import get_config
from hfaccel.model.registry import REGISTRY
from hfaccel.model.spec import StageRow
from hfaccel.ncs import (
    BaseNetwork,
    PoolSpec,
    SearchConfig,
    analyze_curves,
    build_pool,
    depth_coefficients,
    eq3_coefficients,
    group_pool,
    make_plan,
    operator_count,
    rank,
    read_curves_csv,
    run_search,
    z_scores,
)
from hfaccel.ncs.criteria import survivor_count
from hfaccel.ncs.report import analyze_path
from hfaccel.ncs.trainer import CHECKPOINT_FORMAT, load_state
from hfaccel.quant.train import TrainConfig

REPO = Path(__file__).resolve().parents[1]

# Eight tiny candidates (2 widths x 2 depths x 2 resolutions) trained at 16 and 8 pixels on a
# few digits: real training, a fraction of a second per epoch.
TINY_POOL = PoolSpec(widths=(0.25, 0.5), depths=(0.2, 0.5), resolution_coeffs=(1.0, 0.5))
TINY_TRAIN = TrainConfig(data="digits", limit=96, val_limit=48, batch=32)
TINY = SearchConfig(pool=TINY_POOL, group_size=4, round_epochs=1, epochs=3, max_resolution=16,
                    train=TINY_TRAIN)
TINY_ARGS = ["--w", "0.25,0.5", "--d", "0.2,0.5", "--r", "1,0.5", "--max-resolution", "16",
             "--data", "digits", "--limit", "96", "--val-limit", "48", "--threads", "1",
             "--no-progress", "--no-export"]


# --- Section 3.1: candidate pools ----------------------------------------------------------

def test_eq2_gives_table3_depths_and_operator_counts():
    assert depth_coefficients() == (1.0, 0.7, 0.6, 0.5)
    assert [operator_count(d) for d in depth_coefficients()] == [18, 17, 15, 12]
    # 0.9 and 0.8 are Table 2's "don't care": still 18 operators. 0.4 gives 12 like 0.5.
    assert operator_count(0.9) == operator_count(0.8) == 18
    assert depth_coefficients(count=6) == (1.0, 0.7, 0.6, 0.5, 0.3, 0.2)
    with pytest.raises(ConfigError, match="Eq. 2 gives only 6 depth coefficients"):
        depth_coefficients(count=7)


def test_eq3_reproduces_table3_width_and_resolution():
    widths, res = eq3_coefficients(depth_coefficients())
    assert widths == pytest.approx((1.0, 0.8666, 0.701, 0.514), abs=1e-3)
    assert res == pytest.approx((1.0, 0.905, 0.766, 0.587), abs=1e-3)
    cands = build_pool(PoolSpec(coefficients="eq3"))
    assert sorted({c.resolution for c in cands}, reverse=True) == [224, 203, 172, 132]


def test_elite_pool_is_table3_product_and_holds_the_zoo():
    pool = build_pool(PoolSpec())
    assert len(pool) == 64 and len({c.name for c in pool}) == 64
    by_zoo = {c.zoo: c for c in pool if c.zoo}
    assert sorted(by_zoo) == sorted(f"elite{i}" for i in range(10))
    for name, c in by_zoo.items():
        cfg = get_config(name)
        assert (c.params, c.macs) == (cfg.params, cfg.macs)
        e = REGISTRY[name]
        assert c.label == f"Model(w{e.w}, d{e.d}, r{(224, 203, 172, 132).index(e.resolution) + 1})"
    # Section 3.2's pool statistics: mean 3.1 M parameters, sigma 1.2 M.
    params = [c.params / 1e6 for c in pool]
    mean = sum(params) / len(params)
    assert round(mean, 1) == 3.1
    assert round((sum((p - mean) ** 2 for p in params) / len(params)) ** 0.5, 1) == 1.2


def test_hf_pool_is_power_of_two_and_each_hf_model_wins_its_own_group():
    pool = build_pool(PoolSpec(kind="hf"))
    assert len(pool) == 32 and {c.resolution for c in pool} == {128, 256}
    assert sorted(c.zoo for c in pool if c.zoo) == [f"hf{i}" for i in range(6)]
    groups = group_pool(pool, 4)
    zoo_per_group = [[m.candidate.zoo for m in g.members if m.candidate.zoo] for g in groups]
    # The paper's six HF models fall one per group (the two lightest groups hold none).
    assert zoo_per_group == [[], [], ["hf5"], ["hf4"], ["hf3"], ["hf2"], ["hf1"], ["hf0"]]


def test_pool_is_a_set_of_networks_and_accepts_another_base():
    # d = 0.9 decodes to the same network as d = 1.0: one candidate with an alias.
    pool = build_pool(PoolSpec(widths=(1.0,), depths=(1.0, 0.9), resolutions=(224,)))
    assert len(pool) == 1 and pool[0].aliases == ("w1-d0.9-r1",)
    base = BaseNetwork.from_dict({"name": "mini", "stem": 16, "head": 256, "resolution": 64,
                                  "stages": [[1, 3, 1, 16, 1], [6, 3, 2, 24, 3],
                                             {"expand": 6, "kernel": 5, "stride": 2,
                                              "channels": 40, "repeats": 4}]})
    assert base.stages[2] == StageRow(6, 5, 2, 40, 4)
    d = depth_coefficients(base)
    assert [operator_count(x, base) for x in d] == sorted(
        {operator_count(x, base) for x in d}, reverse=True)
    spec = PoolSpec(base=base, coefficients="eq3")
    pool = build_pool(spec)
    assert len(pool) == 64 and not any(c.zoo for c in pool)
    assert max(c.resolution for c in pool) == 64
    with pytest.raises(ConfigError, match="stage 1: kernel must be odd"):
        BaseNetwork.from_dict({"stages": [[1, 4, 1, 16, 1]]})
    with pytest.raises(ConfigError, match="unknown keys depth"):
        BaseNetwork.from_dict({"stages": [[1, 3, 1, 16, 1]], "depth": 2})


@pytest.mark.parametrize("kw, message", [
    ({"kind": "mobile"}, "unknown pool 'mobile'; choose one of elite, hf"),
    ({"widths": ()}, "width coefficient list is empty"),
    ({"depths": []}, "depth coefficient list is empty"),
    ({"widths": (1.2,)}, r"width coefficients must be in \(0, 1\], got 1.2"),
    ({"widths": (1.0, 1.0)}, "width coefficient list has duplicates: 1, 1"),
    ({"resolutions": (128, 200), "kind": "hf"}, "needs power-of-two resolutions .* got 200"),
    ({"resolution_coeffs": (1.0,), "kind": "hf"}, "HF pool takes power-of-two resolutions"),
    ({"resolutions": (224,), "resolution_coeffs": (1.0,)}, "either in pixels or as coeff"),
])
def test_bad_pool_specs_are_clear_errors(kw, message):
    with pytest.raises(HfaccelError, match=message):
        PoolSpec(**kw)


# --- Section 3.2: grouping ----------------------------------------------------------------

def test_z_scores_and_grouping_by_z_sum():
    assert z_scores([1.0, 2.0, 3.0]) == pytest.approx((-1.2247449, 0.0, 1.2247449))
    assert z_scores([5, 5]) == (0.0, 0.0)
    pool = build_pool(PoolSpec())
    groups = group_pool(pool, 4)
    assert len(groups) == 16 and all(len(g.members) == 4 for g in groups)
    flat = [m for g in groups for m in g.members]
    assert [m.z_sum for m in flat] == sorted(m.z_sum for m in flat)
    assert sum(m.z_params for m in flat) == pytest.approx(0, abs=1e-9)
    assert groups[-1].members[-1].candidate.zoo == "elite0"  # B0 itself is the heaviest
    # A pool that is not a multiple of k: the last (heaviest) group is smaller.
    seven = group_pool(pool[:7], 3)
    assert [len(g.members) for g in seven] == [3, 3, 1] and seven[2].rounds == 0
    assert [g.rounds for g in group_pool(pool[:9], 5)] == [3, 2]
    with pytest.raises(ConfigError, match="group size must be an integer >= 2"):
        group_pool(pool, 1)


# --- Section 3.3: criteria and Eqs. 5-6 -----------------------------------------------------

# Specific accuracy is noisy, the average follows the trend: the paper's case for averaging.
NOISY = {"A": [0.50, 0.58, 0.52, 0.60, 0.56, 0.62], "B": [0.48, 0.55, 0.55, 0.57, 0.58, 0.59]}
# B overtakes A late: here the accuracy at the current epoch sees it first.
CROSSING = {"A": [0.50, 0.60, 0.62, 0.63, 0.64], "B": [0.40, 0.55, 0.63, 0.66, 0.68],
            "C": [0.30, 0.40, 0.50, 0.55, 0.60]}
PARALLEL = {"A": [0.3, 0.4, 0.5, 0.6], "B": [0.2, 0.3, 0.4, 0.5], "C": [0.1, 0.2, 0.3, 0.4]}


def test_rank_by_average_and_specific_accuracy():
    assert rank(NOISY, 3, "specific") == ("B", "A")
    assert rank(NOISY, 3, "average") == ("A", "B")
    assert rank({"x": [0.5], "y": [0.5]}, 1) == ("x", "y")  # ties keep the given order
    assert rank(NOISY, 2, lambda h: -h[0]) == ("B", "A")  # any callable criterion
    assert [survivor_count(n) for n in (1, 2, 3, 4, 5)] == [1, 1, 2, 2, 3]
    with pytest.raises(ConfigError, match="unknown criterion 'median'"):
        rank(NOISY, 1, "median")


@pytest.mark.parametrize("curves, e, spe, avg, final", [
    (PARALLEL, 1, 4, 4, ("A", "B", "C")),  # never crossing: both criteria always right
    (NOISY, 1, 4, 6, ("A", "B")),  # spe wrong at epochs 3 and 5
    (NOISY, 3, 1, 2, ("A", "B")),  # rounds end at epochs 3 and 6
    (CROSSING, 1, 3, 0, ("B", "A", "C")),  # late crossing: the average lags behind
])
def test_criterion_analysis_on_constructed_curves(curves, e, spe, avg, final):
    rep = analyze_curves(curves, e)
    assert rep.final_ranking == final
    assert (rep.matches_spe, rep.matches_avg) == (spe, avg)
    assert rep.p_spe == spe / rep.rounds and rep.p_avg == avg / rep.rounds


def test_curves_csv_long_and_wide(tmp_path):
    long = tmp_path / "long.csv"
    with long.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["group", "candidate", "epoch", "accuracy"])
        for name, curve in NOISY.items():
            w.writerows([["g1", name, i + 1, a] for i, a in enumerate(curve)])
    wide = tmp_path / "wide.csv"
    wide.write_text("epoch,A,B,C\n" + "".join(
        f"{i + 1},{CROSSING['A'][i]},{CROSSING['B'][i]},{CROSSING['C'][i]}\n" for i in range(5)))
    assert read_curves_csv(long) == {"g1": NOISY}
    assert read_curves_csv(wide) == {"1": CROSSING}
    reports, _ = analyze_path(long)
    assert (reports["g1"].matches_spe, reports["g1"].matches_avg) == (4, 6)
    gap = tmp_path / "gap.csv"
    gap.write_text("candidate,epoch,accuracy\nA,1,0.5\nA,3,0.6\n")
    with pytest.raises(HfaccelError, match="epochs 1..N without gaps"):
        read_curves_csv(gap)
    with pytest.raises(HfaccelError, match="curves of equal length"):
        analyze_curves({"A": [0.1, 0.2], "B": [0.1]}, 1)


# --- Sections 3.3-3.4: the tournament, with curves scripted by a fake backend ----------------

class CurveBackend:
    """Plays back given accuracy curves instead of training; records every epoch it 'trains'."""

    def __init__(self, curves, fail_after=None):
        self.curves, self.trained, self.fail_after = curves, [], fail_after

    def train(self, jobs, ctx):
        for job in jobs:
            st = ctx.load(job.name)
            hist = [dict(h) for h in st["history"]] if st else []
            while len(hist) < job.target:
                if self.fail_after is not None and len(self.trained) >= self.fail_after:
                    raise KeyboardInterrupt
                rec = {"epoch": len(hist) + 1, "val_acc": self.curves[job.name][len(hist)],
                       "loss": 1.0, "seconds": 0.5, "images_per_s": 1.0}
                hist.append(rec)
                self.trained.append((job.name, rec["epoch"]))
                ctx.save(job.name, {"format": CHECKPOINT_FORMAT, "name": job.name,
                                    "epoch": len(hist), "history": hist}, rec)

    def close(self):
        pass


def scripted(config):
    """Curves for the tiny pool: group 1 crosses (average and specific disagree), group 2 not."""
    g1, g2 = make_plan(config).groups
    curves = {}
    for m, c in zip(g1.names, ([.50, .50, .52, .53], [.60, .45, .70, .90], [.45, .40, .41, .42],
                                [.30, .35, .40, .45]), strict=True):
        curves[m] = c
    for i, m in enumerate(g2.names):
        curves[m] = [0.1 * (i + 1 + k) for k in range(4)]
    return curves, g1.names, g2.names


@pytest.mark.parametrize("criterion", ["average", "specific"])
def test_tournament_eliminates_lower_half_by_criterion(tmp_path, criterion):
    config = replace(TINY, epochs=4, criterion=criterion)
    curves, g1, g2 = scripted(config)
    fake = CurveBackend(curves)
    res = run_search(config, tmp_path / "run", backend=fake, export=False)
    # Round 1: both criteria keep g1[1] (0.60) and g1[0] (0.50); round 2 they disagree:
    # average 0.525 vs 0.50 keeps g1[1], specific 0.45 vs 0.50 keeps g1[0].
    assert res.eliminated[g1[2]] == res.eliminated[g1[3]] == 1
    champion = g1[1] if criterion == "average" else g1[0]
    assert res.champions[1] == champion
    assert res.champions[2] == g2[3]
    assert res.eliminated[g2[0]] == res.eliminated[g2[1]] == 1 and res.eliminated[g2[2]] == 2
    assert len(fake.trained) == len(set(fake.trained)) == 16  # 8 + 4 + 2 x 2, never twice
    cost = res.cost()
    assert (cost["tournament_epochs"], cost["search_epochs"], cost["full_epochs"]) == (12, 16, 32)
    assert len(res.curve(champion)) == 4 and len(res.curve(g1[2])) == 1
    rows = list(csv.DictReader((tmp_path / "run" / "leaderboard.csv").open()))
    top = [r for r in rows if r["group"] == "1"]
    assert [r["candidate"] for r in top][0] == champion and top[0]["status"] == "champion"
    assert {r["eliminated_round"] for r in top[2:]} == {"1"}
    assert float(top[0]["avg_acc_r4"]) == pytest.approx(sum(curves[champion]) / 4)


def test_train_all_keeps_decisions_and_feeds_the_analysis(tmp_path):
    config = replace(TINY, epochs=4, train_all=True)
    curves, g1, _ = scripted(config)
    res = run_search(config, tmp_path / "run", backend=CurveBackend(curves), export=False)
    assert res.champions[1] == g1[1] and res.eliminated[g1[0]] == 2
    assert res.cost()["trained_epochs"] == 32 and res.cost()["tournament_epochs"] == 12
    reports, skipped = analyze_path(tmp_path / "run")
    assert not skipped and reports["2"].p_spe == reports["2"].p_avg == 1.0
    assert reports["1"].final_ranking[0] == g1[1]


def test_an_interrupted_search_resumes_without_retraining(tmp_path):
    config = replace(TINY, epochs=4)
    curves, _, _ = scripted(config)
    first = CurveBackend(curves, fail_after=10)
    with pytest.raises(KeyboardInterrupt):
        run_search(config, tmp_path / "run", backend=first, export=False)
    second = CurveBackend(curves)
    res = run_search(config, tmp_path / "run", backend=second, export=False)
    assert len(first.trained) == 10 and len(second.trained) == 6
    assert not set(first.trained) & set(second.trained)
    whole = run_search(config, tmp_path / "whole", backend=CurveBackend(curves), export=False)
    assert (res.champions, res.eliminated) == (whole.champions, whole.eliminated)
    # Other settings in the same run folder are refused, not silently mixed.
    with pytest.raises(HfaccelError, match="started with other settings .*group_size: 4 -> 2"):
        run_search(replace(config, group_size=2), tmp_path / "run",
                   backend=CurveBackend(curves), export=False)
    # A finished search run again trains nothing; --fresh starts over.
    again = CurveBackend(curves)
    run_search(config, tmp_path / "run", backend=again, export=False)
    fresh = CurveBackend(curves)
    run_search(config, tmp_path / "run", backend=fresh, export=False, fresh=True)
    assert (len(again.trained), len(fresh.trained)) == (0, 16)


def test_one_search_per_run_folder(tmp_path):
    import fcntl

    (tmp_path / "run").mkdir()
    with open(tmp_path / "run" / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        with pytest.raises(HfaccelError, match="is in use by another process"):
            run_search(TINY, tmp_path / "run", backend=CurveBackend({}), export=False)


@pytest.mark.parametrize("kw, message", [
    ({"group_size": 1}, "group size must be an integer >= 2"),
    ({"round_epochs": 0}, "round epochs must be a positive integer"),
    ({"epochs": 1}, "epochs 1 is fewer than the tournament needs: 2 rounds of 1 epoch"),
    ({"criterion": "best"}, "unknown criterion 'best'"),
    ({"max_resolution": 4}, "max resolution must be an integer >= 8"),
    ({"pool": PoolSpec(kind="hf"), "max_resolution": 48}, "must be a power of two .* 48"),
])
def test_bad_search_configs_are_clear_errors(kw, message):
    with pytest.raises(HfaccelError, match=message):
        make_plan(replace(TINY, **kw))


# --- real training -------------------------------------------------------------------------

def test_real_search_writes_reports_and_a_quantizable_champion(tmp_path):
    from hfaccel.quant.train import load_checkpoint

    res = run_search(TINY, tmp_path / "run", threads=1)
    run = tmp_path / "run"
    assert len(res.champions) == 2 and res.cost()["trained_epochs"] == 14  # 8 + 4 + 2
    assert {len(res.curve(n)) for n in res.champions.values()} == {3}
    assert res.plan.train_resolution == {c.name: 16 if c.resolution == 224 else 8
                                         for c in res.plan.candidates}
    rows = list(csv.DictReader((run / "leaderboard.csv").open()))
    assert len(rows) == 8 and {"z_sum", "avg_acc_r1", "eliminated_round", "params",
                               "macs", "coefficients"} <= set(rows[0])
    champs = json.loads((run / "champions.json").read_text())
    assert champs["cost"]["full_epochs"] == 24 and len(champs["groups"]) == 2
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The champion goes on to quantization as an ordinary training checkpoint.
    name = res.champions[1]
    path = run / "champions" / f"{name}.pt"
    ck = load_checkpoint(path)
    assert ck.cfg.resolution == res.plan.train_resolution[name] and ck.cfg.num_classes == 10
    meta = res.exports[name]
    assert meta["search_acc"] == pytest.approx(res.curve(name)[-1])
    assert ck.float_acc == pytest.approx(meta["float_acc"])  # BatchNorm re-estimated
    assert ck.int8_measured_by == "integer reference" and ck.ptq_acc == meta["ptq_acc"]
    # fine-tuned with QAT by default (half the 3-epoch budget, rounded down: 1 epoch) before export
    assert meta["qat_epochs"] == 1 and ck.int8_acc == meta["qat_acc"] == meta["int8_acc"]
    assert [h["phase"] for h in ck.history][-1] == "qat"
    row = next(r for r in rows if r["candidate"] == name)
    assert float(row["export_qat_acc"]) == pytest.approx(meta["qat_acc"], abs=1e-4)
    assert champs["groups"][0]["champion"]["quant_checkpoint"]["ptq_acc"] is not None
    assert main(["quantize", "--checkpoint", str(path), "--out", str(tmp_path / "q")]) == 0
    assert (tmp_path / "q" / "model.onnx").exists()


def _epochs_done(run: Path) -> dict[str, int]:
    out = {}
    for p in (run / "candidates").glob("*.pt"):
        try:
            out[p.stem] = len(load_state(p)["history"])
        except HfaccelError:  # cannot happen with atomic writes; report it as a failure
            raise
    return out


def test_sigkill_mid_search_then_same_command_continues(tmp_path):
    """A search killed with SIGKILL continues with the same command: no finished epoch is
    trained again, and the results equal an uninterrupted run's (same seeds)."""
    cmd = [sys.executable, "-m", "hfaccel", "ncs", *TINY_ARGS, "--epochs", "6",
           "--round-epochs", "2", "--out", str(tmp_path), "--run", "killed"]
    run = tmp_path / "killed"
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and sum(_epochs_done(run).values() if run.exists()
                                         else [0]) < 11:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _epochs_done(run)
    assert 11 <= sum(before.values()) < 28  # killed mid-search (28 epochs in all)
    states = {n: load_state(run / "candidates" / f"{n}.pt")["history"] for n in before}
    first_pid = {h["pid"] for hist in states.values() for h in hist}
    assert first_pid == {proc.pid}

    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming" in again.stderr
    after = {n: load_state(p)["history"] for n, p in
             ((p.stem, p) for p in (run / "candidates").glob("*.pt"))}
    assert sum(len(h) for h in after.values()) == 28
    for name, hist in after.items():
        k = before.get(name, 0)
        assert hist[:k] == states.get(name, [])  # finished epochs kept as they were
        assert {h["pid"] for h in hist[:k]} <= {proc.pid}
        assert all(h["pid"] != proc.pid for h in hist[k:])  # only the missing ones trained

    whole = run_search(replace(TINY, epochs=6, round_epochs=2), tmp_path / "whole", threads=1,
                       export=False)
    for name, hist in after.items():
        assert [(h["loss"], h["val_acc"]) for h in hist] == \
            [(h["loss"], h["val_acc"]) for h in whole.records[name]], name
    board = (run / "leaderboard.csv").read_text()
    assert board == (tmp_path / "whole" / "leaderboard.csv").read_text()


def test_ray_backend_runs_survivors_as_tasks(tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -c constraints.txt "
                                      "'.[ray]'")
    # Two groups of two: one round of parallel survivors, then the champions (6 epochs).
    config = replace(TINY, pool=replace(TINY_POOL, widths=(0.25,)), group_size=2, epochs=2)
    ray_res = run_search(config, tmp_path / "ray", backend="ray", threads=1, export=False)
    local = run_search(config, tmp_path / "local", backend="local", threads=1, export=False)
    assert ray_res.cost()["trained_epochs"] == 6
    assert ray_res.champions == local.champions and ray_res.eliminated == local.eliminated
    # Same recipe, seeds and thread count: the same numbers, whichever process trained them.
    for name, recs in local.records.items():
        assert [(h["loss"], h["val_acc"]) for h in ray_res.records[name]] == \
            [(h["loss"], h["val_acc"]) for h in recs]
    assert {h["pid"] for r in ray_res.records.values() for h in r} != {os.getpid()}


# --- the command line ----------------------------------------------------------------------

def test_cli_plan_and_analyze(tmp_path, capsys):
    assert main(["ncs", "--pool", "hf", "--plan"]) == 0
    out = capsys.readouterr().out
    assert "hf-w1-d1-256" in out and "32 candidates in 8 groups of 4" in out
    wide = tmp_path / "c.csv"
    wide.write_text("epoch,A,B\n" + "".join(f"{i + 1},{NOISY['A'][i]},{NOISY['B'][i]}\n"
                                            for i in range(6)))
    assert main(["ncs", "--analyze", str(wide)]) == 0
    out = capsys.readouterr().out
    assert "4/6" in out and "6/6" in out


@pytest.mark.parametrize("args, message", [
    (["--pool", "resnet"], "unknown pool 'resnet'; choose one of elite, hf"),
    (["--group-size", "1"], "argument --group-size: '1' is not allowed: expected an integer >= 2"),
    (["--w", ""], "width coefficient list is empty"),
    (["--d", "1,x"], "--d: 'x' is not a number"),
    (["--backend", "spark"], "unknown backend 'spark'"),
    (["--criterion", "median"], "unknown criterion 'median'"),
    (["--base", "/nonexistent.json"], "argument --base: /nonexistent.json does not exist"),
])
def test_cli_bad_input_is_one_line_exit_2(args, message, capsys, tmp_path):
    assert main(["ncs", *args, "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hfaccel ncs: error:") and message in err and "\n" not in err


@pytest.mark.slow
def test_cli_small_real_search(tmp_path):
    """8 candidates, 2 groups, 1-epoch rounds on digits at 32 pixels, end to end."""
    cmd = [sys.executable, "-m", "hfaccel", "ncs", "--pool", "elite", "--w", "1,0.514",
           "--d", "1,0.5", "--r", "1,0.587", "--max-resolution", "32", "--epochs", "4",
           "--out", str(tmp_path), "--run", "small", "--no-progress", "--threads", "1",
           "--qat-epochs", "0"]  # QAT of champions: test_real_search_writes_reports...
    t0 = time.time()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert time.time() - t0 < 900
    champs = json.loads((tmp_path / "small" / "champions.json").read_text())
    assert len(champs["groups"]) == 2
    assert champs["cost"]["search_epochs"] == 16 and champs["cost"]["full_epochs"] == 32
    assert all(g["champion"]["final_acc"] > 0.5 for g in champs["groups"])  # chance is 0.1
