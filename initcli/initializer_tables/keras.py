"""Keras 3: keras.initializers.* (keras/src/initializers/), as ``keras.NAME``."""

from __future__ import annotations

from initcli.initializer_tables.builders import (
    FAN_MODES3,
    GAIN,
    KERAS_TRUNC,
    Row,
    Table,
    add_basics,
    add_family,
    choice,
    free,
    keras_vs,
    nonnegative,
    number,
    positive,
    text,
    truncated,
)
from initcli.initializers import (
    Identity,
    Orthogonal,
)

table = Table("keras")
add_basics(
    table,
    Row("zeros", reference="Zeros"),
    Row("ones", reference="Ones"),
    (Row("constant", reference="Constant"), free("value", 0.0)),
    (
        Row("random_normal", ("normal",), "RandomNormal"),
        free("mean", 0.0),
        nonnegative("stddev", 0.05),
    ),
    (
        Row("random_uniform", ("uniform",), "RandomUniform"),
        free("minval", -0.05),
        free("maxval", 0.05),
    ),
)
table.add(
    "truncated_normal",
    lambda p: truncated(
        number(p, "mean"),
        number(p, "stddev"),
        number(p, "mean") - 2.0 * number(p, "stddev"),
        number(p, "mean") + 2.0 * number(p, "stddev"),
        ("mean - 2 stddev", "mean + 2 stddev"),
        KERAS_TRUNC,
    ),
    (free("mean", 0.0), positive("stddev", 0.05)),
    reference="TruncatedNormal: redraws beyond 2 stddev, actual std 0.88 stddev",
)
table.add(
    "variance_scaling",
    lambda p: keras_vs(
        number(p, "scale"), text(p, "mode"), text(p, "distribution").replace("untruncated_", "")
    ),
    (
        positive("scale", 1.0),
        choice("mode", "fan_in", FAN_MODES3),
        choice(
            "distribution",
            "truncated_normal",
            ("truncated_normal", "untruncated_normal", "uniform", "normal"),
        ),
    ),
    reference="VarianceScaling ('normal' means truncated_normal)",
    canonical={"distribution": {"normal": "truncated_normal"}},
)
add_family(table)
table.add(
    "orthogonal",
    lambda p: Orthogonal(number(p, "gain"), rows_first=False),
    (GAIN,),
    (),
    "Orthogonal",
)
table.add(
    "identity", lambda p: Identity(number(p, "gain")), (GAIN,), ("eye",), "Identity (2-D only)"
)

ENTRIES = table.entries
