"""Bare names (no prefix): one meaning each (see :mod:`initcli.initializers`)."""

from __future__ import annotations

from initcli.initializer_tables.builders import (
    GAIN,
    TORCH_KAIMING,
    Row,
    Table,
    add_basics,
    choice,
    fixed_vs,
    free,
    glorot,
    he,
    nonnegative,
    number,
    positive,
    text,
    truncated,
)
from initcli.initializers import (
    MODES,
    DeltaOrthogonal,
    Dirac,
    Identity,
    Orthogonal,
    Sparse,
    VarianceScaling,
)
from initcli.spec_strings import Param

table = Table("initcli")
add_basics(
    table,
    Row("zeros", reference="0 everywhere"),
    Row("ones", reference="1 everywhere"),
    (Row("constant"), free("value", 0.0)),
    (
        Row(
            "random_normal",
            ("normal",),
            "N(mean, std^2); defaults as torch.nn.init.normal_ and TF1",
        ),
        free("mean", 0.0),
        nonnegative("std", 1.0),
    ),
    (
        Row(
            "random_uniform",
            ("uniform",),
            "U(low, high); defaults as torch.nn.init.uniform_ and TF1",
        ),
        free("low", 0.0),
        free("high", 1.0),
    ),
)
table.add(
    "truncated_normal",
    lambda p: truncated(
        number(p, "mean"),
        number(p, "std"),
        number(p, "mean") + number(p, "a") * number(p, "std"),
        number(p, "mean") + number(p, "b") * number(p, "std"),
        ("a", "b"),
        "cut at mean + [a, b] std, uncorrected",
    ),
    (
        free("mean", 0.0),
        positive("std", 1.0, "std of the normal before truncation"),
        free("a", -2.0, "lower cut, in standard deviations from the mean"),
        free("b", 2.0, "upper cut, in standard deviations from the mean"),
    ),
    reference="bounds in std units as JAX/Keras/TF (torch.trunc_normal: absolute)",
)
table.add(
    "glorot_uniform",
    glorot("uniform"),
    (GAIN,),
    ("xavier_uniform", "xavier", "glorot"),
    "Glorot & Bengio 2010; = keras.glorot_uniform (x gain)",
)
table.add(
    "glorot_normal",
    glorot("truncated_normal"),
    (GAIN,),
    ("xavier_normal",),
    "Glorot & Bengio 2010; = keras/jax.glorot_normal (x gain)",
)
table.add(
    "he_uniform",
    he("uniform"),
    TORCH_KAIMING,
    ("kaiming_uniform",),
    "He et al. 2015; = keras.he_uniform; gain from calculate_gain(nonlinearity, a)",
)
table.add(
    "he_normal",
    he("truncated_normal"),
    TORCH_KAIMING,
    ("kaiming_normal", "he", "kaiming", "msra"),
    "He et al. 2015; = keras/jax.he_normal; gain from calculate_gain(nonlinearity, a)",
)
table.add(
    "lecun_uniform",
    fixed_vs(1.0, "fan_in", "uniform", False),
    reference="LeCun 1998; = keras.lecun_uniform",
)
table.add(
    "lecun_normal",
    fixed_vs(1.0, "fan_in", "truncated_normal", False),
    aliases=("lecun",),
    reference="LeCun 1998; = keras/jax.lecun_normal (Flax Dense default)",
)
table.add(
    "variance_scaling",
    lambda p: VarianceScaling(number(p, "scale"), text(p, "mode"), text(p, "distribution")),
    (
        positive("scale", 1.0),
        choice("mode", "fan_in", MODES),
        choice(
            "distribution",
            "truncated_normal",
            ("truncated_normal", "normal", "uniform", "untruncated_normal"),
        ),
    ),
    reference="jax.nn.initializers.variance_scaling ('normal' is untruncated)",
    canonical={"distribution": {"untruncated_normal": "normal"}},
)
table.add(
    "orthogonal",
    lambda p: Orthogonal(number(p, "gain"), rows_first=True),
    (GAIN,),
    reference="Saxe et al. 2013; as torch.nn.init.orthogonal_",
)
table.add(
    "identity",
    lambda p: Identity(number(p, "gain")),
    (GAIN,),
    ("eye",),
    "as keras.initializers.Identity",
)
table.add(
    "dirac",
    lambda p: Dirac(int(number(p, "groups"))),
    (Param("groups", 1, kind=int, low=1),),
    reference="as torch.nn.init.dirac_",
)
table.add(
    "uniform_unit_scaling",
    lambda p: VarianceScaling(number(p, "factor") ** 2, "fan_in", "uniform"),
    (positive("factor", 1.0),),
    reference="as tf.uniform_unit_scaling_initializer: U(±factor sqrt(3 / prod(shape[:-1])))",
    small_rank="input_size",
)
table.add(
    "sparse",
    lambda p: Sparse(number(p, "sparsity"), number(p, "std")),
    (
        Param("sparsity", None, low=0.0, high=1.0, high_open=True, help="zeros per column"),
        nonnegative("std", 0.01),
    ),
    reference="as torch.nn.init.sparse_",
    example="sparse(sparsity=0.5)",
)
table.add(
    "torch_default",
    fixed_vs(1.0 / 3.0, "fan_in", "uniform", False),
    reference="nn.Linear/ConvNd: kaiming_uniform(a=sqrt(5)) = U(±1/sqrt(fan_in)); "
    "as a bias: U(±1/sqrt(fan_in of the weight))",
    small_rank="torch",
    bias_from_weight=True,
)
table.add(
    "delta_orthogonal",
    lambda p: DeltaOrthogonal(number(p, "gain")),
    (GAIN,),
    reference="Xiao et al. 2018; as jax.nn.initializers.delta_orthogonal",
    layout="jax",
)

ENTRIES = table.entries
