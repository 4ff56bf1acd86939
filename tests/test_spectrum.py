"""`initcli spectrum`: the Jacobian against finite differences and torch.func.jacrev, the
singular values against numpy's SVD, the Lanczos path against the exact one, the
free-probability theory against measurement, and the command's contract."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from initcli import free_probability as fp
from initcli.experiment import dense_stack_spec
from initcli.jacobian import (
    exact_singular_values,
    jacobian_matrix,
    lanczos_quadrature,
    linearize,
    network_vjp,
)
from initcli.network import Network, build_network
from initcli.network_spec import LayerSpec, Location, NetworkSpec, load_spec
from initcli.propagate import Parameters, sample_input, sample_parameters
from initcli.spectrum import run_spectrum

REPO = Path(__file__).resolve().parent.parent
WHERE = Location("<test>")


def _layer(kind: str, **keys: object) -> LayerSpec:
    return LayerSpec(type=kind, name=str(keys.pop("name", kind)), location=WHERE, **keys)  # type: ignore[arg-type]


def _spec(
    input_shape: tuple[int, ...], layers: list[LayerSpec], init: str = "glorot_normal"
) -> NetworkSpec:
    return NetworkSpec(
        name="t",
        path="<test>",
        input_shape=input_shape,
        input_distribution="normal",
        batch=4,
        init=init,
        bias_init="random_normal(std=0.2)",
        layers=tuple(layers),
    )


def _conv_net() -> NetworkSpec:
    return _spec(
        (3, 7, 6),
        [
            _layer(
                "conv2d",
                name="c1",
                units=4,
                kernel_size=(3,),
                stride=(2,),
                padding="same",
                activation="tanh",
            ),
            _layer(
                "conv2d",
                name="c2",
                units=5,
                kernel_size=(2, 3),
                dilation=(1, 2),
                padding=(1,),
                activation="gelu",
            ),
            _layer("flatten", name="f"),
            _layer("dense", name="d", units=6, activation="softplus"),
        ],
    )


def _conv1d_net() -> NetworkSpec:
    return _spec(
        (3, 11),
        [
            _layer(
                "conv1d",
                name="c1",
                units=4,
                kernel_size=(3,),
                dilation=(2,),
                padding="causal",
                activation="tanh",
            ),
            _layer(
                "conv1d",
                name="c2",
                units=3,
                kernel_size=(2,),
                stride=(2,),
                padding="valid",
                activation="elu",
            ),
        ],
    )


def _dense_net() -> NetworkSpec:
    return _spec(
        (7,),
        [
            _layer("dense", name="d1", units=9, activation="tanh"),
            _layer("dense", name="d2", units=5, activation="selu"),
            _layer("dense", name="d3", units=6, activation="sigmoid"),
        ],
    )


def _sampled(spec: NetworkSpec, seed: int = 0) -> tuple[Network, Parameters, np.ndarray]:
    network = build_network(spec)
    rng = np.random.default_rng(seed)
    params = sample_parameters(network, rng, np.float64)
    x = sample_input(network.input_shape, 1, "normal", rng, np.float64)[0]
    return network, params, x


def _forward(network: Network, params: Parameters, x: np.ndarray) -> np.ndarray:
    a = x[None]
    for position, layer in enumerate(network.layers):
        weight = params.weights[position]
        if weight is None:
            a = a.reshape(1, *layer.out_shape)
            continue
        assert layer.activation is not None
        a = layer.activation.forward(layer.linear_forward(a, weight, params.biases[position]))
    return a.ravel()


@pytest.mark.parametrize("make", [_dense_net, _conv_net, _conv1d_net])
def test_jacobian_matches_central_differences(make: object) -> None:
    network, params, x = _sampled(make())  # type: ignore[operator]
    lin = linearize(network, params, x)
    matrix = jacobian_matrix(lin)
    h = 1e-6
    flat = x.ravel()
    columns = []
    for j in range(flat.size):
        step = np.zeros_like(flat)
        step[j] = h
        plus = _forward(network, params, (flat + step).reshape(x.shape))
        minus = _forward(network, params, (flat - step).reshape(x.shape))
        columns.append((plus - minus) / (2 * h))
    numeric = np.stack(columns, axis=1)
    # central differences: error O(h^2 f''') + rounding O(eps / h) ~ 1e-10
    np.testing.assert_allclose(matrix, numeric, atol=1e-8, rtol=0)
    # both directions and every basis batch size give the same matrix
    np.testing.assert_allclose(jacobian_matrix(lin, batch=3), matrix, atol=1e-14)
    np.testing.assert_allclose(lin.jvp(np.eye(lin.in_dim)).T, matrix, atol=1e-13)
    np.testing.assert_allclose(
        network_vjp(network, params, x)(np.eye(lin.out_dim)), matrix, atol=1e-13
    )
    # singular values against numpy's SVD of the finite-difference matrix
    np.testing.assert_allclose(
        exact_singular_values(lin), np.linalg.svd(numeric, compute_uv=False), atol=1e-7
    )


def _layer_matrix(network: Network, params: Parameters, x: np.ndarray, position: int) -> np.ndarray:
    """D_l W_l as a matrix, by the linear part on a basis (independent of linearize)."""
    a = x[None]
    for where, layer in enumerate(network.layers):
        weight = params.weights[where]
        if weight is None:
            a = a.reshape(1, *layer.out_shape)
            continue
        assert layer.activation is not None
        z = layer.linear_forward(a, weight, params.biases[where])
        if where == position:
            n = int(np.prod(layer.in_shape))
            basis = np.eye(n).reshape(n, *layer.in_shape)
            linear = layer.linear_forward(basis, weight, None).reshape(n, -1).T
            return layer.activation.derivative(z).reshape(-1, 1) * linear
        a = layer.activation.forward(z)
    raise AssertionError


@pytest.mark.parametrize("make", [_dense_net, _conv_net, _conv1d_net])
def test_per_layer_norms_are_exact(make: object) -> None:
    network, params, x = _sampled(make())  # type: ignore[operator]
    lin = linearize(network, params, x)
    for item in lin.layers:
        matrix = _layer_matrix(network, params, x, item.position)
        assert item.sq_norm == pytest.approx(float(np.sum(matrix**2)), rel=1e-12)
        expected = float(np.mean(np.linalg.svd(matrix, compute_uv=False) ** 2))
        if matrix.shape[0] <= matrix.shape[1]:
            assert item.mean_sq_singular == pytest.approx(expected, rel=1e-10)


def _torch_model(network: Network, params: Parameters) -> object:
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional

    def model(x: object) -> object:
        a = x
        for position, layer in enumerate(network.layers):
            weight = params.weights[position]
            if weight is None:
                a = a.reshape(-1)
                continue
            w = torch.from_numpy(weight)
            b = params.biases[position]
            bias = None if b is None else torch.from_numpy(b)
            if layer.type == "dense":
                a = functional.linear(a, w, bias)
            else:
                pads = [p for pair in reversed(layer.pads) for p in pair]
                padded = functional.pad(a[None], pads)
                conv = functional.conv2d if layer.type == "conv2d" else functional.conv1d
                a = conv(padded, w, bias, stride=layer.stride, dilation=layer.dilation)[0]
            name = layer.activation.name if layer.activation else "linear"
            a = {"relu": torch.relu, "linear": lambda t: t, "tanh": torch.tanh}[name](a)
        return a.reshape(-1)

    return model


@pytest.mark.parametrize(("config", "input_shape"), [("cnn_relu", None), ("tcn_causal", (16, 24))])
def test_jacobian_matches_torch_jacrev_on_conv_configs(
    config: str, input_shape: tuple[int, ...] | None
) -> None:
    torch = pytest.importorskip("torch")
    spec = load_spec(REPO / "configs" / f"{config}.yaml")
    if input_shape is not None:  # the config's layers on a shorter sequence (J stays small)
        spec = dataclasses.replace(spec, input_shape=input_shape)
    network, params, x = _sampled(spec, seed=3)
    mine = jacobian_matrix(linearize(network, params, x))
    model = _torch_model(network, params)
    theirs = torch.func.jacrev(model)(torch.from_numpy(x)).reshape(mine.shape).numpy()
    np.testing.assert_allclose(mine, theirs, atol=1e-10 * np.abs(theirs).max())


def _square_lin(
    width: int = 60, depth: int = 4, activation: str = "tanh", init: str = "glorot_normal"
) -> object:
    spec = dense_stack_spec(depth, width, activation, 4)
    network = build_network(spec, init=init)
    rng = np.random.default_rng(1)
    params = sample_parameters(network, rng, np.float64)
    x = sample_input(network.input_shape, 1, "normal", rng, np.float64)[0]
    return linearize(network, params, x)


def test_lanczos_with_a_full_krylov_space_is_exact() -> None:
    lin = _square_lin()
    exact = exact_singular_values(lin)  # type: ignore[arg-type]
    rule = lanczos_quadrature(lin, steps=60, probes=2, rng=np.random.default_rng(0))  # type: ignore[arg-type]
    for p in range(2):
        ritz = np.sort(np.sqrt(rule.nodes[p]))[::-1]
        # A = J^T J squares s: absolute error ~ eps * s_max^2 in s^2, so s is resolved down
        # to about sqrt(eps * r) * s_max (stated by the command as its resolution)
        np.testing.assert_allclose(ritz, exact, rtol=1e-7, atol=math.sqrt(60 * 2.2e-16) * exact[0])


def test_lanczos_bounds_and_unbiased_moments() -> None:
    lin = _square_lin(width=120, depth=6)
    exact = exact_singular_values(lin)  # type: ignore[arg-type]
    matrix = jacobian_matrix(lin)  # type: ignore[arg-type]
    gram = matrix.T @ matrix
    rule = lanczos_quadrature(lin, steps=15, probes=40, rng=np.random.default_rng(2))  # type: ignore[arg-type]
    # Ritz values lie inside [lambda_min, lambda_max] (interlacing) ...
    assert np.sqrt(rule.nodes.max()) <= exact.max() * (1 + 1e-10)
    assert np.sqrt(rule.nodes.min()) >= exact.min() * (1 - 1e-10)
    # ... and the extreme one converges fast: within 1% after 15 steps here
    assert np.sqrt(rule.nodes.max()) > 0.99 * exact.max()
    # The quadrature's first two moments are exactly v^T A v and v^T A^2 v of each probe:
    # check by regenerating the probes (same generator, same first draw).
    v = np.random.default_rng(2).standard_normal((40, lin.in_dim))  # type: ignore[attr-defined]
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    np.testing.assert_allclose(rule.moment(1), np.einsum("pi,ij,pj->p", v, gram, v), rtol=1e-9)
    np.testing.assert_allclose(
        rule.moment(2), np.einsum("pi,ij,pj->p", v, gram @ gram, v), rtol=1e-8
    )
    # Pooled over probes the mean is unbiased: within 4 standard errors of the exact mean.
    first = rule.moment(1)
    stderr = first.std(ddof=1) / math.sqrt(first.size)
    assert abs(first.mean() - np.mean(exact**2)) < 4 * stderr


def test_lanczos_path_of_run_spectrum_agrees_with_the_exact_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = dense_stack_spec(5, 200, "tanh", 4)
    exact = run_spectrum(spec, init="orthogonal", seed=0, examples=4)
    monkeypatch.setattr("initcli.spectrum.EXACT_MAX_DIM", 100)
    lanczos = run_spectrum(spec, init="orthogonal", seed=0, examples=4)
    assert exact.method["kind"] == "exact" and lanczos.method["kind"] == "lanczos"
    stderr = lanczos.method["accuracy"]["mean_sq_singular_stderr"]
    assert abs(lanczos.mean_sq_singular - exact.mean_sq_singular) < 4 * stderr + 1e-12
    assert lanczos.max_singular <= exact.max_singular * (1 + 1e-9)
    assert lanczos.max_singular > 0.98 * exact.max_singular
    assert lanczos.min_singular >= exact.min_singular * (1 - 1e-9)
    # Quantiles: the CDF error of the pooled rule is at most the largest weight per probe
    # plus the probes' sampling error; here that is a few percent in probability.
    error = lanczos.method["accuracy"]["quantile_cdf_error_per_probe"] + 0.1
    ranked = np.sort(exact.values)
    for key, value in lanczos.quantiles.items():
        level = int(key[1:]) / 100
        share = np.searchsorted(ranked, value) / ranked.size
        assert abs(share - level) <= error, key


def test_saxe_deep_linear_orthogonal_is_an_exact_isometry() -> None:
    spec = dense_stack_spec(50, 64, "linear", 4)
    result = run_spectrum(spec, init="orthogonal", seed=0, examples=3)
    np.testing.assert_allclose(result.values, 1.0, atol=1e-6)
    assert result.verdict == "well-conditioned"
    assert result.theory.density == {"law": "point_mass", "at": pytest.approx(1.0)}
    assert result.theory.var_sq_singular == pytest.approx(0.0, abs=1e-12)


def test_delta_orthogonal_conv_stack_is_an_exact_isometry() -> None:
    """Xiao et al. 2018: with delta-orthogonal kernels, same padding and stride 1 every
    linear conv is an orthogonal map per position, so J's singular values are all 1."""
    layers = [
        _layer(
            "conv2d", name=f"c{i}", units=8, kernel_size=(3,), padding="same", activation="linear"
        )
        for i in range(6)
    ]
    spec = dataclasses.replace(_spec((8, 5, 5), layers, init="delta_orthogonal"), bias_init="zeros")
    result = run_spectrum(spec, seed=0, examples=2)
    np.testing.assert_allclose(result.values, 1.0, atol=1e-12)


def test_theory_mean_and_variance_match_measurement() -> None:
    # Linear Gaussian: E tr(J^T J) / n = prod sigma_w^2 exactly at any width; the spread
    # over weight draws sets the tolerance (4 standard errors over 12 seeds).
    spec = dense_stack_spec(4, 96, "linear", 4)
    means, variances = [], []
    for seed in range(12):
        result = run_spectrum(
            spec,
            init="jax.variance_scaling(scale=1.0, mode=fan_in, distribution=normal)",
            seed=seed,
            examples=1,
        )
        means.append(result.mean_sq_singular)
        variances.append(result.var_sq_singular)
    stderr = np.std(means, ddof=1) / math.sqrt(len(means))
    assert result.theory.mean_sq_singular == pytest.approx(1.0, rel=1e-12)
    assert abs(np.mean(means) - 1.0) < 4 * stderr
    # Fuss-Catalan of order 4: var = m2 - m1^2 = L; finite width 96 biases it by O(L^2/N)
    assert result.theory.var_sq_singular == pytest.approx(4.0, rel=1e-9)
    assert abs(np.mean(variances) - 4.0) < 0.15 * 4.0
    # tanh at its transient: prod chi_1 with q_l from the mean-field recursion
    tanh = run_spectrum(dense_stack_spec(8, 300, "tanh", 4), init="orthogonal", seed=0, examples=8)
    per_example = tanh.values.reshape(8, -1) ** 2
    spread = per_example.mean(axis=1).std(ddof=1) / math.sqrt(8)
    theory = tanh.theory.mean_sq_singular
    assert theory is not None and tanh.theory.var_sq_singular is not None
    # finite-width bias of the mean-field q_l: O(1/N) per layer, 8/300 here
    assert abs(tanh.mean_sq_singular - theory) < 4 * spread + 8 / 300 * theory
    assert tanh.var_sq_singular == pytest.approx(tanh.theory.var_sq_singular, rel=0.15)
    for row in tanh.per_layer:
        assert row["mean_sq_singular"] == pytest.approx(row["theory_mean_sq_singular"], rel=0.03)


@pytest.mark.parametrize("order", [1, 2, 5, 20])
def test_fuss_catalan_density_has_the_fuss_catalan_moments(order: int) -> None:
    from scipy.integrate import quad

    x, rho = fp.fuss_catalan(order)
    x_max = (order + 1) ** (order + 1) / order**order
    assert x.max() == pytest.approx(x_max, rel=1e-3) and np.all(rho > 0)
    top = math.pi / (order + 1)

    def integrand(u: float, k: int) -> float:
        xs, density, slope = fp.fuss_catalan_curve(order, np.array([u]))
        return float(density[0] * abs(slope[0]) * xs[0] ** k)

    # in u the x -> 0 singularity of rho is integrable and smooth enough for quad
    for k in range(4):
        moment = quad(integrand, 1e-12, top - 1e-12, args=(k,), limit=400)[0]
        assert moment == pytest.approx(fp.fuss_catalan_moment(order, k), rel=1e-6), k


def test_spectrum_cli_contract_and_files(tmp_path: Path, cli: object) -> None:
    config = tmp_path / "net.yaml"
    config.write_text(
        "name: tiny\ninput: {shape: [32]}\nlayers:\n"
        "  - {type: dense, units: 32, activation: tanh, repeat: 3}\n"
    )
    result = cli(
        "spectrum",
        str(config),
        "--init",
        "orthogonal",
        "--examples",
        "3",
        "--json",
        "--out",
        str(tmp_path),
    )  # type: ignore[operator]
    assert result.code == 0, result.err
    data = json.loads(result.out)
    for key in (
        "config",
        "init",
        "seed",
        "examples",
        "mean_sq_singular",
        "var_sq_singular",
        "max_singular",
        "min_singular",
        "condition",
        "quantiles",
        "per_layer",
        "theory_mean_sq_singular",
        "theory_var_sq_singular",
        "theory_density",
    ):
        assert key in data, key
    assert data["examples"] == 3 and len(data["per_layer"]) == 3
    directory = tmp_path / "tiny_orthogonal_seed0_spectrum"
    assert json.loads((directory / "spectrum.json").read_text()) == data
    assert (directory / "singular_value_density.png").stat().st_size > 0
    again = cli(
        "spectrum",
        str(config),
        "--init",
        "orthogonal",
        "--examples",
        "3",
        "--no-plots",
        "--out",
        str(tmp_path),
    )  # type: ignore[operator]
    assert again.code == 0 and (tmp_path / "tiny_orthogonal_seed0_spectrum_2").is_dir()
    assert "ill-conditioned" in again.out or "well-conditioned" in again.out
    forced = cli(
        "spectrum",
        str(config),
        "--init",
        "orthogonal",
        "--examples",
        "3",
        "--no-plots",
        "--force",
        "--out",
        str(tmp_path),
    )  # type: ignore[operator]
    assert forced.code == 0 and not (tmp_path / "tiny_orthogonal_seed0_spectrum_3").exists()


def test_spectrum_refuses_a_job_estimated_over_the_limit_unless_allow_long(
    tmp_path: Path, cli: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "net.yaml"
    config.write_text("name: tiny\ninput: {shape: [512]}\nlayers:\n  - {type: dense, units: 512}\n")
    out = tmp_path / "out"
    args = ("spectrum", str(config), "--no-plots", "--out", str(out))
    result = cli(*args, "--examples", "1000000")  # type: ignore[operator]
    assert result.code == 2 and result.out == ""
    assert "estimated to take about" in result.err and "use fewer --examples" in result.err
    assert "--allow-long" in result.err and "--seeds" not in result.err
    assert not out.exists()
    monkeypatch.setattr("initcli.options.MAX_SECONDS", 0.0)  # now even one example is "long"
    assert cli(*args, "--examples", "1").code == 2  # type: ignore[operator]
    result = cli(*args, "--examples", "1", "--allow-long")  # type: ignore[operator]
    assert result.code == 0, result.err
    result = cli(  # type: ignore[operator]
        "compare", "orthogonal", "he_normal", "--spectrum", "--config", str(config), "--no-plots"
    )
    assert result.code == 2 and "--allow-long" in result.err


def test_spectrum_bad_inputs_are_one_line_errors(
    tmp_path: Path, cli: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "net.yaml"
    config.write_text("name: tiny\ninput: {shape: [32]}\nlayers:\n  - {type: dense, units: 32}\n")
    cases = [
        (["--examples", "0"], 2, "--examples 0 must be at least 1"),
        (["--init", "orthogonall"], 2, "--init: unknown initializer 'orthogonall'"),
    ]
    for flags, code, message in cases:
        result = cli("spectrum", str(config), *flags, "--out", str(tmp_path))  # type: ignore[operator]
        assert result.code == code, result.err
        assert message in result.err and result.err.count("\n") == 1, result.err
    flat = tmp_path / "flat.yaml"
    flat.write_text("name: flat\ninput: {shape: [2, 4]}\nlayers:\n  - {type: flatten}\n")
    result = cli("spectrum", str(flat), "--out", str(tmp_path))  # type: ignore[operator]
    assert result.code == 1 and "no dense or conv layer" in result.err
    big = tmp_path / "big.yaml"
    big.write_text("name: big\ninput: {shape: [2000]}\nlayers:\n  - {type: dense, units: 2000}\n")
    monkeypatch.setenv("INITCLI_MEMORY_LIMIT", "10000000")  # 10 MB: the weights need 32 MB
    result = cli("spectrum", str(big), "--out", str(tmp_path))  # type: ignore[operator]
    assert result.code == 1 and result.err.count("\n") == 1, result.err
    assert "Lanczos path" in result.err and "is available" in result.err
    assert not list(tmp_path.glob("*_spectrum"))


def test_compare_spectrum_shows_isometry_versus_not(tmp_path: Path, cli: object) -> None:
    result = cli(  # type: ignore[operator]
        "compare",
        "--spectrum",
        "orthogonal",
        "glorot_normal",
        "--activation",
        "linear",
        "--depth",
        "30",
        "--width",
        "64",
        "--json",
        "--out",
        str(tmp_path),
    )
    assert result.code == 0, result.err
    spectra = json.loads(result.out)["spectra"]
    assert [s["init"] for s in spectra] == ["orthogonal", "glorot_normal"]
    assert spectra[0]["condition"] == pytest.approx(1.0, abs=1e-6)
    assert spectra[1]["condition"] > 1e6
    assert spectra[1]["theory_density"]["law"] == "fuss_catalan"
    (plot,) = tmp_path.glob("spectrum_*.png")
    assert plot.stat().st_size > 0
    refused = cli("compare", "--spectrum", "orthogonal", "--seeds", "2", "--depth", "2")  # type: ignore[operator]
    assert refused.code == 2 and "--seeds do not apply to --spectrum" in refused.err


def test_spectrum_refuses_layer_kinds_it_has_no_jacobian_for(cli, tmp_path: Path) -> None:
    config = tmp_path / "norm.yaml"
    config.write_text(
        "input: {shape: [8]}\nlayers:\n  - {type: dense, units: 8}\n  - {type: batchnorm}\n"
    )
    result = cli("spectrum", str(config), "--no-plots", "--out", str(tmp_path / "out"))
    assert result.code == 1 and len(result.err.strip().splitlines()) == 1
    assert f"{config}:4: layers[1]: batchnorm2:" in result.err and "not supported" in result.err
    assert not (tmp_path / "out").exists()
