"""The model zoo: every registered model builds, runs, and reproduces Table 5's counts."""

import json
import math

import pytest
import torch

from hfaccel.cli import main
from hfaccel.errors import ConfigError, UnknownModelError
from hfaccel.model import (
    Scaling,
    build_model,
    compound_round,
    get_config,
    measure,
    model_names,
    round_filters,
    round_repeats,
    scale,
)

# Table 5 of the paper (params M, MACs M), typed in from the paper, independent of the package's
# own copy. eLite4's params are the paper's known inconsistency (3.17 is HF1's number).
TABLE5 = {
    "elite0": (5.33, 385.81), "elite1": (4.74, 362.62), "elite2": (4.42, 313.86),
    "elite3": (3.78, 296.88), "elite4": (3.17, 231.88), "elite5": (2.68, 206.72),
    "elite6": (2.52, 181.32), "elite7": (2.18, 127.99), "elite8": (1.60, 114.52),
    "elite9": (1.34, 74.56),
    "hf0": (3.81, 383.49), "hf1": (3.17, 296.37), "hf2": (2.77, 246.86),
    "hf3": (3.44, 92.29), "hf4": (2.98, 65.55), "hf5": (2.77, 62.66),
}
ELITE4_PARAMS = 3.53  # what eLite4 = Model(w2, d3, r2) really has


def test_registry_has_the_papers_names():
    assert set(TABLE5) | {"b0"} == set(model_names())


@pytest.mark.parametrize("name", sorted(TABLE5))
def test_counts_match_table5(name):
    cfg = get_config(name)
    params, macs = TABLE5[name]
    assert round(cfg.macs / 1e6, 2) == macs
    if name == "elite4":
        assert round(cfg.params / 1e6, 2) == ELITE4_PARAMS
    else:
        assert round(cfg.params / 1e6, 2) == params


def test_b0_is_the_baseline():
    cfg = get_config("b0")
    assert (round(cfg.params / 1e6, 2), round(cfg.macs / 1e6, 2)) == (5.33, 385.81)
    assert [st.channels for st in cfg.stages()] == [16, 24, 40, 80, 112, 192, 320]
    assert [st.repeats for st in cfg.stages()] == [1, 2, 2, 3, 3, 4, 1]
    assert (cfg.stem_ch, cfg.head_ch, cfg.final_hw) == (32, 1280, 7)


@pytest.mark.parametrize("name", model_names())
def test_builds_runs_and_torch_counts_agree(name):
    """A forward pass at the model's resolution; counts measured on the module == config's."""
    cfg = get_config(name)
    model = build_model(cfg, seed=0)
    params, macs = measure(model, cfg.resolution)
    assert (params, macs) == (cfg.params, cfg.macs)
    model.eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, cfg.resolution, cfg.resolution))
    assert y.shape == (2, 1000)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", [n for n in model_names() if n.startswith("hf")])
def test_hf_models_are_power_of_two(name):
    cfg = get_config(name)
    pow2 = lambda n: n & (n - 1) == 0  # noqa: E731
    for layer in cfg.layers[:-1]:  # every conv; the classifier's 1000 classes are the task's
        assert pow2(layer.cout), layer
        assert pow2(layer.out_hw), layer
    for b in cfg.blocks:
        if b.has_expand:
            assert b.expand_ch // b.in_ch in (4, 8), b  # CR(6 x eLite input) -> 4x or 8x


def test_hf_expansion_uses_the_elite_input_width():
    # HF3 stage 3: eLite input 16 -> expansion CR(96) = 64 (4x); stage 4: eLite input 24 ->
    # CR(144) = 128 (8x of the rounded input 16, not 6 x 16 = 96 -> 128 by accident).
    blocks = get_config("hf3").blocks
    assert (blocks[1].in_ch, blocks[1].expand_ch) == (16, 64)
    assert (blocks[3].in_ch, blocks[3].expand_ch) == (16, 128)
    assert blocks[3].se_ch == compound_round(int(24 * 0.25))  # CR(6) = 4 (tie rounds down)


def test_width_rounding_rules():
    assert round_filters(32, 1.0) == 32
    assert round_filters(32, 0.514) == 16       # 16.4 -> 16
    assert round_filters(16, 0.514) == 8        # 8.2 -> 8 (minimum 8)
    assert round_filters(1280, 0.8666) == 1112  # 1109.2 -> 1112
    assert round_filters(40, 0.701) == 32       # 28.04 -> 32 (nearest multiple of 8)
    assert round_filters(8, 0.1) == 8           # never below the divisor
    assert round_filters(100, 0.54) == 56       # 54 -> 56: 48 would fall below 90 %


@pytest.mark.parametrize("c, expected", [
    (1, 1), (3, 2), (5, 4), (6, 4), (7, 8), (12, 8), (24, 16), (25, 32), (48, 32), (96, 64),
    (97, 128), (144, 128), (1280, 1024), (1536, 1024), (1537, 2048), (64, 64),
])
def test_compound_rounding_eq7(c, expected):
    assert compound_round(c) == expected


def test_depth_rounding_is_ceil_without_float_noise():
    assert [round_repeats(r, 0.7) for r in (1, 2, 3, 4)] == [1, 2, 3, 3]
    assert round_repeats(10, 0.7) == 7
    assert round_repeats(4, 0.5) == 2


def test_same_feature_maps_are_ceil_of_stride():
    cfg = scale(Scaling(0.5, 0.5, 203))
    assert cfg.layers[0].out_hw == 102
    for b in cfg.blocks:
        assert b.out_hw == math.ceil(b.in_hw / b.stride)
    assert cfg.final_hw == 7
    model = build_model(cfg).eval()
    with torch.no_grad():
        assert model.head(model.blocks(model.stem(torch.zeros(1, 3, 203, 203)))).shape[-1] == 7


def test_names_are_case_insensitive():
    assert get_config("HF3") == get_config("hf3")
    assert get_config(" eLite9 ").name == "elite9"


def test_unknown_model_lists_valid_names():
    with pytest.raises(UnknownModelError, match=r"unknown model 'hf9'.*elite0.*hf5"):
        get_config("hf9")


@pytest.mark.parametrize("kwargs, word", [
    (dict(width=0, depth=1, resolution=224), "width"),
    (dict(width=-0.5, depth=1, resolution=224), "width"),
    (dict(width=1.2, depth=1, resolution=224), "width"),
    (dict(width=1, depth=0, resolution=224), "depth"),
    (dict(width=1, depth=-1, resolution=224), "depth"),
    (dict(width=1, depth=1, resolution=0), "resolution"),
    (dict(width=1, depth=1, resolution=-8), "resolution"),
    (dict(width=1, depth=1, resolution=224, hf=True), "power of two"),
])
def test_invalid_coefficients_are_value_errors_naming_the_argument(kwargs, word):
    with pytest.raises(ValueError, match=word):
        Scaling(**kwargs)
    assert issubclass(ConfigError, ValueError)


def test_cli_models_json(capsys):
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(model_names())
    assert all(r["matches_paper"] for n, r in rows.items() if n != "elite4")
    assert rows["elite4"]["matches_paper"] is False and "inconsistency" in rows["elite4"]["note"]
    assert [s["channels"] for s in rows["hf3"]["stages"]] == [16, 16, 32, 64, 128, 128, 256]


def test_cli_models_table_and_custom_model(capsys):
    assert main(["models", "HF3", "--w", "1", "--d", "0.7", "--res", "128", "--hf"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith(("hf3", "hf-w1"))]
    assert len(lines) == 2
    for line in lines:
        assert "3.44" in line.split() and "92.29" in line.split()
    assert "inconsistency" not in out  # notes only for the rows shown


@pytest.mark.parametrize("argv, message", [
    (["models", "nope"], "valid names: b0"),
    (["models", "--w", "0", "--d", "1", "--res", "64"], "width coefficient w"),
    (["models", "--w", "1", "--d", "1"], "needs --res"),
])
def test_cli_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
