"""TensorFlow 1: tf.*_initializer (init_ops.py) and tf.contrib.layers (initializers.py), as
``tf1.NAME``."""

from __future__ import annotations

from initcli.initializer_tables.builders import (
    GAIN,
    KERAS_TRUNC,
    Row,
    Table,
    add_basics,
    add_family,
    choice,
    contrib_vs,
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
    VarianceScaling,
)
from initcli.spec_strings import Param

table = Table("tf1")
add_basics(
    table,
    Row("zeros", ("zeros_initializer",)),
    Row("ones", ("ones_initializer",)),
    (
        Row(
            "constant",
            ("constant_initializer",),
            "constant_initializer (scalar values only in initcli)",
        ),
        free("value", 0.0),
    ),
    (
        Row("random_normal", ("random_normal_initializer", "normal"), "random_normal_initializer"),
        free("mean", 0.0),
        nonnegative("stddev", 1.0),
    ),
    (
        Row(
            "random_uniform",
            ("random_uniform_initializer", "uniform"),
            "random_uniform_initializer (maxval=None means 1)",
        ),
        free("minval", 0.0),
        free("maxval", 1.0),
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
    (free("mean", 0.0), positive("stddev", 1.0)),
    ("truncated_normal_initializer",),
    "truncated_normal_initializer",
)
add_family(table)
table.add(
    "variance_scaling_initializer",
    lambda p: keras_vs(
        number(p, "scale"), text(p, "mode"), text(p, "distribution").replace("untruncated_", "")
    ),
    (
        positive("scale", 1.0),
        choice("mode", "fan_in", ("fan_in", "fan_out", "fan_avg")),
        choice(
            "distribution",
            "truncated_normal",
            ("truncated_normal", "untruncated_normal", "uniform", "normal"),
        ),
    ),
    (),
    "tf.variance_scaling_initializer (init_ops.py, as Keras; 'normal' is the old name of "
    "truncated_normal); tf1.variance_scaling is contrib's",
    canonical={"distribution": {"normal": "truncated_normal"}},
)
table.add(
    "variance_scaling",
    lambda p: contrib_vs(number(p, "factor"), text(p, "mode"), bool(p["uniform"])),
    (
        positive("factor", 2.0),
        choice("mode", "FAN_IN", ("FAN_IN", "FAN_OUT", "FAN_AVG")),
        Param("uniform", False, kind=bool),
    ),
    ("contrib_variance_scaling",),
    "tf.contrib.layers.variance_scaling_initializer (the 1.3 factor; "
    "tf.variance_scaling_initializer is tf1.variance_scaling_initializer)",
)
table.add(
    "xavier",
    lambda p: contrib_vs(1.0, "FAN_AVG", bool(p["uniform"])),
    (Param("uniform", True, kind=bool),),
    ("xavier_initializer",),
    "tf.contrib.layers.xavier_initializer = contrib variance_scaling(1, FAN_AVG)",
)
table.add(
    "uniform_unit_scaling",
    lambda p: VarianceScaling(number(p, "factor") ** 2, "fan_in", "uniform"),
    (positive("factor", 1.0),),
    ("uniform_unit_scaling_initializer",),
    "uniform_unit_scaling_initializer: U(±factor sqrt(3 / prod(shape[:-1])))",
    small_rank="input_size",
)
table.add(
    "orthogonal",
    lambda p: Orthogonal(number(p, "gain"), rows_first=False),
    (GAIN,),
    ("orthogonal_initializer",),
    "orthogonal_initializer",
)
table.add(
    "identity",
    lambda p: Identity(number(p, "gain")),
    (GAIN,),
    ("identity_initializer",),
    "identity_initializer (2-D only)",
)

ENTRIES = table.entries
