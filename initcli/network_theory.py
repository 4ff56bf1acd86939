"""Mean-field predictions for a whole :class:`~initcli.network.Network`.

Each layer steps the prediction itself (:meth:`initcli.layers.base.Layer.theory_forward`
and ``theory_backward``) from what its initializers *promise* (the law's variance and
mean, not the sampled values): dense layers with their fans, convolutions per channel
ignoring borders, ``flatten`` transparent. A layer the theory does not cover raises
:class:`~initcli.layers.base.NoPrediction` with the reason. The predictions fill the
``theory_*`` columns of ``run`` and ``compare``.
"""

from __future__ import annotations

import math

from initcli.errors import EXIT_BAD_DATA, InitcliError
from initcli.layers.base import BlockTheoryRecord, GradientState, NoPrediction, TheoryRecord
from initcli.network import Network
from initcli.theory import LayerPrediction


def predict_network(
    network: Network, input_second_moment: float = 1.0, output_grad_var: float = 1.0
) -> list[LayerPrediction]:
    """One prediction per reporting layer, in order (index 1 = the first).

    Raises :class:`InitcliError` naming the reason where mean-field theory does not apply.
    """
    return predict_with_blocks(network, input_second_moment, output_grad_var)[0]


def predict_with_blocks(
    network: Network, input_second_moment: float = 1.0, output_grad_var: float = 1.0
) -> tuple[list[LayerPrediction], list[BlockTheoryRecord]]:
    """:func:`predict_network` and each residual block's record, in network order."""
    root = network.root
    mixed: list[TheoryRecord] = []  # a row's, and (a subclass) a residual block's
    try:
        root.theory_forward(input_second_moment, mixed)
        by_name = {record.layer.name: record for record in mixed}
        # The last layer's gradient is Var(dL/dz_L) = E[phi'(z_L)^2] * output_grad_var.
        root.theory_backward(GradientState(1.0, output_grad_var), by_name)
    except NoPrediction as reason:
        raise InitcliError(str(reason), EXIT_BAD_DATA) from None
    records = [record for record in mixed if not isinstance(record, BlockTheoryRecord)]
    blocks = [record for record in mixed if isinstance(record, BlockTheoryRecord)]
    order = {layer.name: position for position, layer in enumerate(network.walk())}
    blocks.sort(key=lambda record: order[record.layer.name])
    return _layer_predictions(records), blocks


def _layer_predictions(records: list[TheoryRecord]) -> list[LayerPrediction]:
    predictions = []
    for position, record in enumerate(records):
        params = record.params
        note = None
        if params.weight_mean != 0.0:
            note = (
                f"weight mean {params.weight_mean:.3g} is not 0: mean-field theory assumes "
                "zero-mean weights, so this prediction ignores it"
            )
        predictions.append(
            LayerPrediction(
                index=position + 1,
                preact_mean=record.preact_mean,
                preact_var=record.preact_var,
                act_mean=record.act_mean,
                act_var=record.act_square - record.act_mean**2,
                grad_var=record.grad_var,
                # Var(dL/dW) per example = E[a_{l-1}^2] Var(dL/dz_l), dense only (see
                # initcli.theory.LayerPrediction).
                weight_grad_var_per_example=(
                    record.input_square * record.grad_var if params.kind == "dense" else None
                ),
                note=note,
            )
        )
    return predictions


def weight_grad_var(prediction: LayerPrediction, batch: int) -> float | None:
    """Var(dL/dW) summed over a batch of independent examples (dense layers only)."""
    per_example = prediction.weight_grad_var_per_example
    if per_example is None or not math.isfinite(per_example):
        return None
    return per_example * batch
