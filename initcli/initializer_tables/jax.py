"""JAX: jax.nn.initializers.* (jax/_src/nn/initializers.py), as ``jax.NAME``."""

from __future__ import annotations

from initcli.initializer_tables.builders import (
    Row,
    Table,
    add_basics,
    add_family,
    choice,
    free,
    nonnegative,
    number,
    positive,
    text,
    truncated,
)
from initcli.initializers import (
    MODES,
    DeltaOrthogonal,
    Orthogonal,
    VarianceScaling,
)

table = Table("jax")
add_basics(
    table,
    Row("zeros", reference="zeros"),
    Row("ones", reference="ones"),
    (Row("constant", reference="constant(value)"), free("value", None)),
    (Row("normal", reference="normal(stddev)"), None, nonnegative("stddev", 0.01)),
    (Row("uniform", reference="uniform(scale): U[0, scale)"), None, positive("scale", 0.01)),
    uniform_first=True,
)
table.add(
    "truncated_normal",
    lambda p: truncated(
        0.0,
        number(p, "stddev"),
        number(p, "lower") * number(p, "stddev"),
        number(p, "upper") * number(p, "stddev"),
        ("lower", "upper"),
        "cut at [lower, upper] stddev, uncorrected",
    ),
    (positive("stddev", 0.01), free("lower", -2.0), free("upper", 2.0)),
    reference="truncated_normal(stddev, lower, upper): bounds in std units",
)
table.add(
    "variance_scaling",
    lambda p: VarianceScaling(number(p, "scale"), text(p, "mode"), text(p, "distribution")),
    (
        positive("scale", None),
        choice("mode", None, MODES),
        choice("distribution", None, ("truncated_normal", "normal", "uniform")),
    ),
    reference="variance_scaling(scale, mode, distribution); 'normal' is untruncated",
    example="jax.variance_scaling(scale=2.0, mode=fan_in, distribution=truncated_normal)",
)
add_family(table)
table.add(
    "orthogonal",
    lambda p: Orthogonal(number(p, "scale"), rows_first=False),
    (positive("scale", 1.0),),
    reference="orthogonal(scale, column_axis=-1)",
)
table.add(
    "delta_orthogonal",
    lambda p: DeltaOrthogonal(number(p, "scale")),
    (positive("scale", 1.0),),
    reference="delta_orthogonal(scale)",
)
ENTRIES = table.entries
