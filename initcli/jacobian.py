"""The input-output Jacobian of a whole network at one example, and its singular values.

:func:`linearize_batch` is the ONLY place in the spectrum code that walks the network's
layers: it runs K examples forward and returns the linear maps ``v -> J v`` and
``u -> J^T u`` of the Jacobian ``J = d output / d input`` at each example
(``J = D_L W_L ... D_1 W_1`` with ``D_l = diag(phi'(z_l))``, flatten layers being
reshapes), and each layer's own Jacobian's squared Frobenius norm. Everything else here
(the full Jacobian by back-propagating a basis, the exact SVD, the stochastic Lanczos
quadrature path, the memory estimate) only calls those maps, so porting to a new layer API
means rewriting :func:`linearize_batch` alone (:func:`linearize` and :func:`network_vjp`
are its one-example views).

Two paths to the singular values ``s`` of the ``out x in`` matrix ``J`` (``r = min(out, in)``
of them):

- exact: ``J`` built row by row by back-propagating the standard basis of the output in
  batches (``J^T e_i`` is row ``i``), or column by column by pushing the input's basis
  forward when the input is the smaller side; then ``numpy.linalg.svd`` (LAPACK gesdd,
  values only), in float64.
- Lanczos (stochastic Lanczos quadrature, Golub & Meurant 2010, ch. 11; Ubaru, Chen & Saad
  2017): ``m`` Lanczos steps on ``A = J^T J`` (or ``J J^T``, whichever is r x r) from
  random unit probes ``v``, with full re-orthogonalisation. The tridiagonal matrix's
  eigenvalues ``theta_j`` (Ritz values) and the squared first components ``tau_j^2`` of its
  eigenvectors are the m-point Gauss quadrature rule of the spectral measure
  ``sum_i (v . x_i)^2 delta(lambda - lambda_i)`` of ``A`` seen from ``v``. What that
  guarantees (stated in every result): the rule integrates polynomials of degree up to
  ``2m - 1`` exactly, so the mean and the mean square of ``s^2`` are exactly those of the
  probe's measure, whose expectation over a uniform probe is the spectrum's (Hutchinson:
  an unbiased estimate, standard error from the spread over probes); the Ritz values lie
  inside ``[lambda_min, lambda_max]`` (Cauchy interlacing), so the largest reported
  singular value is a lower bound on the true largest and the smallest an upper bound on
  the true smallest; and by the Chebyshev-Markov-Stieltjes inequalities the rule's
  distribution function is within ``max_j tau_j^2`` of the probe measure's at every point
  (the quantiles' error in probability, before the probes' own sampling error).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from initcli.errors import EXIT_BAD_DATA, InitcliError
from initcli.layers.weighted import WeightedLayer
from initcli.network import Network
from initcli.propagate import Parameters

LinearMap = Callable[[np.ndarray], np.ndarray]

# Bytes of one batch of basis vectors in flight (and of its widest intermediate): 256
# vectors of a 1024-wide layer in float64 are 2 MiB, big enough for full-rate GEMMs.
BASIS_BUDGET = 32 * 2**20


@dataclass(frozen=True)
class LayerJacobian:
    """One weighted layer's own Jacobian ``d a_l / d a_{l-1} = D_l W_l`` at the example."""

    position: int  # index into network.layers
    sq_norm: float  # ||D_l W_l||_F^2, exact
    in_dim: int
    out_dim: int

    @property
    def mean_sq_singular(self) -> float:
        """||D_l W_l||_F^2 / min(in, out): the mean of its squared singular values."""
        return self.sq_norm / min(self.in_dim, self.out_dim)


@dataclass(frozen=True)
class Linearization:
    """The network's Jacobian at one example, as maps on flat batches.

    ``jvp(v)``: ``(m, in_dim) -> (m, out_dim)``, rows ``J v``; ``vjp(u)``:
    ``(m, out_dim) -> (m, in_dim)``, rows ``J^T u``. A *stacked* linearization of K examples
    takes ``(K * m, dim)`` batches whose rows ``k * m ... k * m + m - 1`` belong to example k
    (every layer's weight is then read once for all K examples).
    """

    in_dim: int
    out_dim: int
    jvp: LinearMap
    vjp: LinearMap
    layers: tuple[LayerJacobian, ...]
    widest: int  # the largest per-example tensor (values) along the way, for memory


@dataclass(frozen=True)
class BatchLinearization:
    """The Jacobians at K examples (:func:`linearize_batch`); views per example or stacked."""

    examples: int
    in_dim: int
    out_dim: int
    maps: Callable[[np.ndarray | None], tuple[LinearMap, LinearMap]]
    layers: tuple[tuple[LayerJacobian, ...], ...]  # per example
    widest: int

    def example(self, k: int) -> Linearization:
        jvp, vjp = self.maps(np.array([k]))
        return Linearization(self.in_dim, self.out_dim, jvp, vjp, self.layers[k], self.widest)

    def stacked(self) -> Linearization:
        jvp, vjp = self.maps(None)
        return Linearization(self.in_dim, self.out_dim, jvp, vjp, (), self.widest)


SUPPORTED_KINDS = ("dense", "conv1d", "conv2d", "flatten")


def check_supported(network: Network) -> None:
    """The spectrum is per example: a chain of dense, conv and flatten layers. Refuses other
    kinds (batchnorm's batch statistics couple the examples, so its per-example Jacobian is
    not the trained network's; residual, norm, pooling and attention layers have no
    Jacobian map here yet)."""
    for layer in network.walk():
        if layer.type not in SUPPORTED_KINDS:
            raise InitcliError(
                f"{layer.spec.location}: {layer.name}: initcli spectrum supports chains of "
                f"{', '.join(SUPPORTED_KINDS)} layers; a {layer.type} layer is not supported "
                "yet; use initcli run for its variances",
                EXIT_BAD_DATA,
            )


def linearize_batch(network: Network, params: Parameters, xs: np.ndarray) -> BatchLinearization:
    """Run the K examples ``xs`` (shape ``(K, *network.input_shape)``) forward once and
    return their Jacobians' maps. The one function that knows the layer API (see module
    docstring).

    Linear part of a layer: ``linear_forward(v, W, None)`` is ``W v`` (no bias: the bias
    does not enter the Jacobian); its transpose ``W^T g`` is ``linear_backward``'s input
    gradient (dense layers: ``g @ W`` directly, which is what linear_backward computes
    without the weight gradient it would also form). Convolutions call linear_backward
    with a zero input, whose weight gradient is computed and dropped (the price of using
    only today's API: one extra GEMM per call).
    """
    if tuple(xs.shape[1:]) != tuple(network.input_shape):
        raise ValueError(f"examples have shape {xs.shape}, expected (K, *{network.input_shape})")
    check_supported(network)
    weights = [params.of(layer).get("weight") for layer in network.layers]
    biases = [params.of(layer).get("bias") for layer in network.layers]
    count = xs.shape[0]
    derivatives: dict[int, np.ndarray] = {}  # position -> phi'(z), (K, *out_shape)
    norms: list[list[LayerJacobian]] = [[] for _ in range(count)]
    batch = xs.astype(np.float64, copy=False)
    widest = math.prod(network.input_shape)
    for position, layer in enumerate(network.layers):
        weight = weights[position]
        if not isinstance(layer, WeightedLayer):  # flatten: a reshape
            batch = batch.reshape(count, *layer.out_shape)
            continue
        assert layer.activation is not None and weight is not None
        z = layer.linear_forward(batch, weight, biases[position])
        dphi = layer.activation.derivative(z)
        derivatives[position] = dphi
        # ||D W||_F^2 = sum over outputs o of phi'(z_o)^2 * (squared weights that reach a
        # real input): the row norms are W^2 applied to an all-ones input (zero padding
        # drops the taps that fall outside the input at the borders).
        ones = np.ones((1, *layer.in_shape), dtype=np.float64)
        row_norms = layer.linear_forward(ones, np.square(weight), None)[0]
        sq_norms = np.sum((np.square(dphi) * row_norms).reshape(count, -1), axis=1)
        in_dim, out_dim = math.prod(layer.in_shape), math.prod(layer.out_shape)
        for k in range(count):
            norms[k].append(LayerJacobian(position, float(sq_norms[k]), in_dim, out_dim))
        batch = layer.activation.forward(z)
        widest = max(widest, out_dim)
    in_shape, out_shape = tuple(network.input_shape), tuple(network.output_shape)
    in_dim, out_dim = math.prod(in_shape), math.prod(out_shape)

    def maps(which: np.ndarray | None) -> tuple[LinearMap, LinearMap]:
        chosen = derivatives if which is None else {p: d[which] for p, d in derivatives.items()}
        groups = count if which is None else len(which)

        def jvp(v: np.ndarray) -> np.ndarray:
            m = v.shape[0] // groups
            t = v.reshape(groups * m, *in_shape)
            for position, layer in enumerate(network.layers):
                weight = weights[position]
                if not isinstance(layer, WeightedLayer) or weight is None:
                    t = t.reshape(groups * m, *layer.out_shape)
                    continue
                t = layer.linear_forward(t, weight, None)
                grouped = t.reshape(groups, m, *layer.out_shape)
                grouped *= chosen[position][:, None]
            return t.reshape(groups * m, out_dim)

        def vjp(u: np.ndarray) -> np.ndarray:
            m = u.shape[0] // groups
            g = u.reshape(groups * m, *out_shape)
            for position in range(len(network.layers) - 1, -1, -1):
                layer = network.layers[position]
                weight = weights[position]
                if not isinstance(layer, WeightedLayer) or weight is None:
                    g = g.reshape(groups * m, *layer.in_shape)
                    continue
                grouped = g.reshape(groups, m, *layer.out_shape) * chosen[position][:, None]
                g = grouped.reshape(groups * m, *layer.out_shape)
                if layer.type == "dense":
                    g = np.matmul(g, weight)
                else:
                    zeros = np.zeros((groups * m, *layer.in_shape), dtype=g.dtype)
                    grad_x, _ = layer.linear_backward(zeros, weight, g)
                    assert grad_x is not None
                    g = grad_x
            return g.reshape(groups * m, in_dim)

        return jvp, vjp

    return BatchLinearization(count, in_dim, out_dim, maps, tuple(tuple(n) for n in norms), widest)


def linearize(network: Network, params: Parameters, x: np.ndarray) -> Linearization:
    """The Jacobian's maps at the single example ``x`` (shape ``network.input_shape``)."""
    if tuple(x.shape) != tuple(network.input_shape):
        raise ValueError(f"example has shape {x.shape}, expected {network.input_shape}")
    return linearize_batch(network, params, x[None]).example(0)


def network_vjp(network: Network, params: Parameters, x: np.ndarray) -> LinearMap:
    """``u -> J^T u`` at the example ``x`` (one forward pass now, one backward per call)."""
    return linearize(network, params, x).vjp


# --- exact path ------------------------------------------------------------------------------


def basis_batch(lin: Linearization, budget: int = BASIS_BUDGET) -> int:
    """Basis vectors per batch: their widest intermediate stays within ``budget`` bytes."""
    return max(1, min(max(lin.in_dim, lin.out_dim), budget // (8 * max(lin.widest, 1))))


def jacobian_matrix(lin: Linearization, batch: int | None = None) -> np.ndarray:
    """The full ``out x in`` Jacobian in float64, from the smaller side's basis.

    ``out <= in``: rows ``J^T e_i`` by back-propagating the output's basis; otherwise
    columns ``J e_j`` by pushing the input's basis forward (fewer passes, same matrix).
    """
    size = batch or basis_batch(lin)
    backward = lin.out_dim <= lin.in_dim
    count = lin.out_dim if backward else lin.in_dim
    result = np.empty((count, lin.in_dim if backward else lin.out_dim), dtype=np.float64)
    apply = lin.vjp if backward else lin.jvp
    for start in range(0, count, size):
        stop = min(count, start + size)
        basis = np.zeros((stop - start, count), dtype=np.float64)
        basis[np.arange(stop - start), np.arange(start, stop)] = 1.0
        result[start:stop] = apply(basis)
    return result if backward else result.T


def exact_singular_values(lin: Linearization, batch: int | None = None) -> np.ndarray:
    """All ``min(out, in)`` singular values, descending (numpy.linalg.svd, values only)."""
    matrix = jacobian_matrix(lin, batch)
    with np.errstate(all="ignore"):
        if not np.all(np.isfinite(matrix)):
            return np.full(min(matrix.shape), np.nan)
        return np.linalg.svd(matrix, compute_uv=False)


def exact_bytes(in_dim: int, out_dim: int, widest: int) -> int:
    """Peak bytes of the exact path for one example beyond the weights: the Jacobian, the
    copy LAPACK's gesdd factorises (numpy hands it a copy; values-only workspace is O(r)),
    and one batch of basis vectors with two intermediates of the widest layer."""
    batch = min(max(in_dim, out_dim), max(1, BASIS_BUDGET // (8 * max(widest, 1))))
    return 8 * (2 * in_dim * out_dim + 3 * batch * widest)


# --- Lanczos path ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Quadrature:
    """Gauss quadrature rules of the spectral measure of ``A`` (eigenvalues = s^2), one per
    probe: ``nodes[p]`` (Ritz values) with ``weights[p]`` summing to 1."""

    nodes: np.ndarray  # (probes, m)
    weights: np.ndarray  # (probes, m)
    steps: int
    dim: int  # r = size of A

    def moment(self, power: int) -> np.ndarray:
        """Per probe: sum_j tau_j^2 theta_j^power (exact for the probe measure, power <= 2m-1)."""
        return np.sum(self.weights * self.nodes**power, axis=1)


def lanczos_bytes(in_dim: int, out_dim: int, widest: int, steps: int, probes: int) -> int:
    """Peak bytes of :func:`lanczos_quadrature` for one example: the Lanczos basis
    (``steps + 1`` vectors of size r per probe), a few work vectors, and the widest
    intermediate of a batch of ``probes`` matrix-vector products."""
    r = min(in_dim, out_dim)
    return 8 * probes * ((steps + 4) * r + 2 * max(in_dim, out_dim) + 3 * widest)


def lanczos_quadrature(
    lin: Linearization, steps: int, probes: int, rng: np.random.Generator
) -> Quadrature:
    """``steps`` Lanczos iterations on ``A`` = J^T J (in <= out) or J J^T from ``probes``
    Gaussian unit probes at once, with full re-orthogonalisation (two passes of classical
    Gram-Schmidt). Stops early where a probe's Krylov space is exhausted (the rule is then
    exact for it); breakdown steps get zero weight."""
    gram_of_columns = lin.in_dim <= lin.out_dim
    r = min(lin.in_dim, lin.out_dim)

    def apply(v: np.ndarray) -> np.ndarray:  # A v for a (probes, r) batch
        if gram_of_columns:
            return lin.vjp(lin.jvp(v))
        return lin.jvp(lin.vjp(v))

    m = min(steps, r)
    basis = np.zeros((probes, m + 1, r))
    alpha = np.zeros((probes, m))
    beta = np.zeros((probes, m))
    v = rng.standard_normal((probes, r))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    basis[:, 0] = v
    active = np.ones(probes, dtype=bool)
    with np.errstate(all="ignore"):
        for j in range(m):
            w = apply(basis[:, j])
            alpha[:, j] = np.einsum("pi,pi->p", w, basis[:, j])
            for _ in range(2):  # full re-orthogonalisation against basis[:, : j + 1]
                coefficients = np.einsum("pki,pi->pk", basis[:, : j + 1], w)
                w -= np.einsum("pk,pki->pi", coefficients, basis[:, : j + 1])
            norm = np.linalg.norm(w, axis=1)
            scale = np.maximum(np.abs(alpha[:, j]), np.max(np.abs(beta[:, : j + 1]), axis=1))
            done = ~np.isfinite(norm) | (norm <= 1e-12 * np.maximum(scale, 1e-300))
            active &= ~done
            beta[:, j] = np.where(active, norm, 0.0)
            safe = np.where(active, norm, 1.0)[:, None]
            basis[:, j + 1] = np.where(active[:, None], w / safe, 0.0)
            if not active.any():
                m = j + 1
                break
    nodes = np.zeros((probes, m))
    weights = np.zeros((probes, m))
    for p in range(probes):
        size = int(np.argmax(beta[p, :m] == 0.0)) + 1 if np.any(beta[p, : m - 1] == 0.0) else m
        if not (np.all(np.isfinite(alpha[p, :size])) and np.all(np.isfinite(beta[p, :size]))):
            nodes[p] = np.nan
            weights[p, 0] = 1.0
            continue
        tri = (
            np.diag(alpha[p, :size])
            + np.diag(beta[p, : size - 1], 1)
            + np.diag(beta[p, : size - 1], -1)
        )
        theta, vectors = np.linalg.eigh(tri)
        nodes[p, :size] = np.maximum(theta, 0.0)  # A is positive semi-definite
        weights[p, :size] = vectors[0] ** 2
        if size < m:
            nodes[p, size:] = nodes[p, 0]  # padding with zero weight
    return Quadrature(nodes, weights, m, r)
