"""--scheme: each paper's rule applied to a transformer spec, checked on the built network."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from initcli.errors import InitcliError
from initcli.network import build_network
from initcli.network_spec import load_spec_text
from initcli.schemes import apply_scheme, rescaled

BLOCKS = 3
SPEC = f"""
name: tiny_gpt
input: {{shape: [8], distribution: tokens, vocab: 30}}
batch: 2
layers:
  - {{type: embedding, vocab: 30, dim: 16, init: random_normal(std=0.02)}}
  - type: group
    repeat: {BLOCKS}
    layers:
      - type: residual
        layers:
          - {{type: layernorm}}
          - {{type: attention, heads: 2, causal: true, init: random_normal(std=0.02)}}
      - type: residual
        layers:
          - {{type: layernorm}}
          - {{type: dense, units: 32, activation: gelu, init: random_normal(std=0.02)}}
          - {{type: dense, units: 16, init: random_normal(std=0.02)}}
  - {{type: layernorm}}
  - {{type: dense, units: 30, bias: false}}
"""


def rows(scheme: str | None) -> dict[str, object]:
    spec = load_spec_text(SPEC, "t.yaml", "t")
    if scheme is not None:
        spec, _ = apply_scheme(spec, scheme)
    network = build_network(spec)
    return {layer.name: layer for layer in network.reporting_layers()}


def std_of(layer: object) -> float:
    info = layer.row_info()  # type: ignore[attr-defined]
    from initcli.initializers import resolve_initializer

    law = resolve_initializer(info.init).distribution(info.weight_shape)
    return float(law.std())


def test_rescaled_multiplies_each_kind_of_initializer() -> None:
    from initcli.initializers import resolve_initializer

    halved = resolve_initializer(rescaled("random_normal(std=0.02)", 0.5, "x"))
    assert halved.params["std"] == pytest.approx(0.01) and halved.params["mean"] == 0
    assert "gain=0.5" in rescaled("torch.xavier_normal", 0.5, "x")
    assert "scale=0.25" in rescaled("variance_scaling(scale=1.0)", 0.5, "x")
    with pytest.raises(InitcliError, match="cannot rescale initializer 'zeros'"):
        rescaled("zeros", 0.5, "x")


def test_gpt2_scales_only_residual_output_projections_by_one_over_sqrt_n() -> None:
    plain, scaled = rows(None), rows("gpt2")
    factor = 1 / math.sqrt(2 * BLOCKS)  # N = residual layers = 2 per transformer block
    for name, layer in scaled.items():
        if std_of(plain[name]) == 0:  # layernorm gains: constant ones
            continue
        ratio = std_of(layer) / std_of(plain[name])
        projection = name.endswith("attention2.o") or name.endswith("dense3")
        assert ratio == pytest.approx(factor if projection else 1.0), name


def test_t_fixup_decoder_rule() -> None:
    layers = rows("t_fixup")
    factor = (9 * BLOCKS) ** -0.25  # causal attention: the decoder rule, M = 3
    v = layers["group2.res1.attention2.v"]
    xavier = math.sqrt(2 / (16 + 16))  # torch.xavier_uniform std on a 16 x 16 weight
    assert std_of(v) == pytest.approx(xavier * factor)
    assert std_of(layers["embedding1"]) == pytest.approx(16**-0.5 * factor)
    fc = layers["group2.res2.dense2"]
    assert std_of(fc) == pytest.approx(math.sqrt(2 / (16 + 32)) * factor)
    assert std_of(layers["dense6"]) == pytest.approx(math.sqrt(2 / (16 + 30)))  # unscaled


def test_deepnet_beta_and_alpha() -> None:
    spec, notes = apply_scheme(load_spec_text(SPEC, "t.yaml", "t"), "deepnet")
    network = build_network(spec)
    layers = {layer.name: layer for layer in network.reporting_layers()}
    beta, alpha = (8 * BLOCKS) ** -0.25, (2 * BLOCKS) ** 0.25
    xavier = math.sqrt(2 / (16 + 16))
    assert std_of(layers["group2.res1.attention2.o"]) == pytest.approx(xavier * beta)
    assert std_of(layers["group2.res1.attention2.q"]) == pytest.approx(xavier)
    residuals = [layer for layer in network.walk() if layer.type == "residual"]
    assert residuals and all(r.scale == pytest.approx(1 / alpha) for r in residuals)  # type: ignore[attr-defined]
    assert "alpha" in notes[0]


def test_mup_attention_and_readout() -> None:
    spec, _ = apply_scheme(load_spec_text(SPEC, "t.yaml", "t"), "mup")
    network = build_network(spec)
    attention = [
        layer for layer in network.walk() if layer.type == "attention" and layer.children()
    ]
    assert all(a.logit_scale == pytest.approx(1 / 8) for a in attention)  # type: ignore[attr-defined]
    layers = {layer.name: layer for layer in network.reporting_layers()}
    assert std_of(layers["dense6"]) == pytest.approx(1 / 16)  # Var 1/fan_in^2
    assert std_of(layers["group2.res2.dense2"]) == pytest.approx(16**-0.5)  # Var 1/fan_in


def test_scheme_in_run_header_and_json(tmp_path: Path, cli: Any) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(SPEC, encoding="utf-8")
    out = str(tmp_path / "out")
    result = cli("run", str(path), "--scheme", "gpt2", "--json", "--out", out)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["scheme"] == "gpt2"
    assert any("attn_entropy" in layer for layer in data["layers"])
    text = cli("run", str(path), "--scheme", "gpt2", "--no-plots", "--out", out)
    assert "scheme gpt2: residual output projections x 1/sqrt(N)" in " ".join(text.out.split())
    bad = cli("run", str(path), "--scheme", "gtp2", "--out", out)
    assert bad.code == 2 and "did you mean gpt2" in bad.err
    both = cli(
        "compare", "scheme:none", "scheme:gpt2", "--config", str(path), "--json", "--no-plots"
    )
    assert both.code == 0, both.err
    runs = json.loads(both.out)["runs"]
    assert [r["init"] for r in runs] == ["scheme:none", "scheme:gpt2"]
    assert "scheme" not in runs[0] and runs[1]["scheme"] == "gpt2"


def test_scheme_needs_residual_blocks() -> None:
    spec = load_spec_text(
        "input: {shape: [4]}\nlayers:\n  - {type: dense, units: 4}\n", "t.yaml", "t"
    )
    with pytest.raises(InitcliError, match="has no residual blocks"):
        apply_scheme(spec, "gpt2")
