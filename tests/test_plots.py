"""Figures: what a reader can read off them (tick labels), not how they look."""

from __future__ import annotations

import pytest

from initcli.plots import arrange, log_y, new_figure


def _labelled_y_ticks(low: float, high: float) -> list[str]:
    figure = new_figure(6, 4)
    axis = figure.add_subplot()
    axis.plot([1, 2, 3], [low, (low * high) ** 0.5, high])
    log_y(axis)
    arrange(figure)
    figure.canvas.draw()
    bottom, top = axis.get_ylim()
    ticks = axis.yaxis.get_majorticklocs().tolist() + axis.yaxis.get_minorticklocs().tolist()
    labels = axis.yaxis.get_majorticklabels() + axis.yaxis.get_minorticklabels()
    return [
        label.get_text()
        for tick, label in zip(ticks, labels, strict=True)
        if bottom <= tick <= top and label.get_text()
    ]


@pytest.mark.parametrize("low, high", [(0.0195, 0.0275), (0.88, 1.17), (0.3, 4.0)])
def test_a_narrow_log_axis_still_has_values_to_read(low: float, high: float) -> None:
    """Within less than two decades the decades alone leave one label or none (the
    signal-propagation panels of nf_resnet had an unlabelled y axis): minors are labelled."""
    labels = _labelled_y_ticks(low, high)
    assert len(labels) >= 3, labels
    assert all(float(text) > 0 for text in labels)


def test_a_wide_log_axis_labels_the_decades_only() -> None:
    labels = _labelled_y_ticks(1e-6, 1e3)
    assert labels and all(float(text) in {10.0**k for k in range(-7, 5)} for text in labels)


def _gradient_panel(init: str) -> object:
    from initcli.experiment import RunOptions, dense_stack_spec, run_experiment
    from initcli.plots import histogram_panel

    spec = dense_stack_spec(depth=4, width=256, activation="linear", batch=64)
    result = run_experiment(spec, RunOptions(seed=0, init=init, dtype="float64"))
    return histogram_panel(result, "grad")


def test_gradients_of_very_different_widths_get_a_standardized_panel() -> None:
    """Var W = 0.0025 on 256 inputs: each layer back shrinks Var dL/dz x0.64, so over 3
    layers the std spreads 1.95x; std 0.03 shrinks it x0.23 a layer (std spread 9x)."""
    import numpy as np

    from initcli.plots import STANDARD_EDGES

    assert not _gradient_panel("random_normal(std=0.05)").standardized  # type: ignore[attr-defined]
    panel = _gradient_panel("random_normal(std=0.03)")
    assert len(panel.standardized) == len(panel.curves) == 4  # type: ignore[attr-defined]
    widths = np.diff(STANDARD_EDGES)
    middles = (STANDARD_EDGES[:-1] + STANDARD_EDGES[1:]) / 2
    normal = np.exp(-0.5 * middles**2) / np.sqrt(2 * np.pi)
    for density in panel.standardized:  # type: ignore[attr-defined]
        # linear layers: Gaussian gradients; over its own std each is N(0, 1), within +-5
        assert float(np.sum(density * widths)) == pytest.approx(1.0, abs=1e-3)
        centre = np.abs(middles) < 1  # N(0, 1) puts 0.6827 within one std
        assert float(np.sum((density * widths)[centre])) == pytest.approx(0.6827, abs=0.03)
        assert float(np.sum((normal * widths)[centre])) == pytest.approx(0.6827, abs=1e-3)
