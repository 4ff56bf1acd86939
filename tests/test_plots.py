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
