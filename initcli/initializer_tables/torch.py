"""PyTorch: torch.nn.init.* (torch/nn/init.py), as ``torch.NAME``."""

from __future__ import annotations

from initcli.initializer_tables.builders import (
    GAIN,
    TORCH_KAIMING,
    Row,
    Table,
    add_basics,
    fixed_vs,
    free,
    glorot,
    he,
    nonnegative,
    number,
    positive,
    truncated,
)
from initcli.initializers import (
    Dirac,
    Identity,
    Orthogonal,
    Sparse,
)
from initcli.spec_strings import Param

table = Table("torch")
add_basics(
    table,
    Row("zeros", reference="zeros_"),
    Row("ones", reference="ones_"),
    (Row("constant", reference="constant_"), free("val", None)),
    (Row("normal", ("random_normal",), "normal_"), free("mean", 0.0), nonnegative("std", 1.0)),
    (Row("uniform", ("random_uniform",), "uniform_"), free("a", 0.0), free("b", 1.0)),
    uniform_first=True,
)
table.add(
    "trunc_normal",
    lambda p: truncated(
        number(p, "mean"),
        number(p, "std"),
        number(p, "a"),
        number(p, "b"),
        ("a", "b"),
        "absolute [a, b]",
    ),
    (
        free("mean", 0.0),
        positive("std", 1.0),
        free("a", -2.0, "absolute lower bound"),
        free("b", 2.0, "absolute upper bound"),
    ),
    ("truncated_normal",),
    "trunc_normal_: a, b are absolute values, no variance correction",
)
table.add(
    "xavier_uniform",
    glorot("uniform"),
    (GAIN,),
    ("glorot_uniform", "xavier", "glorot"),
    "xavier_uniform_",
)
table.add(
    "xavier_normal",
    glorot("normal"),
    (GAIN,),
    ("glorot_normal",),
    "xavier_normal_: untruncated",
)
table.add(
    "kaiming_uniform",
    he("uniform"),
    TORCH_KAIMING,
    ("he_uniform",),
    "kaiming_uniform_: bound = gain sqrt(3 / fan)",
)
table.add(
    "kaiming_normal",
    he("normal"),
    TORCH_KAIMING,
    ("he_normal", "kaiming", "he", "msra"),
    "kaiming_normal_: untruncated, std = gain / sqrt(fan)",
)
table.add(
    "orthogonal",
    lambda p: Orthogonal(number(p, "gain"), rows_first=True),
    (GAIN,),
    reference="orthogonal_",
)
table.add("eye", lambda p: Identity(1.0), aliases=("identity",), reference="eye_")
table.add(
    "dirac",
    lambda p: Dirac(int(number(p, "groups"))),
    (Param("groups", 1, kind=int, low=1),),
    reference="dirac_",
)
table.add(
    "sparse",
    lambda p: Sparse(number(p, "sparsity"), number(p, "std")),
    (Param("sparsity", None, low=0.0, high=1.0, high_open=True), nonnegative("std", 0.01)),
    reference="sparse_",
    example="torch.sparse(sparsity=0.5)",
)
table.add(
    "default",
    fixed_vs(1.0 / 3.0, "fan_in", "uniform", False),
    aliases=("torch_default", "linear", "conv"),
    reference="nn.Linear/ConvNd reset_parameters: kaiming_uniform_(a=sqrt(5)); "
    "bias U(±1/sqrt(fan_in of the weight))",
    bias_from_weight=True,
)

ENTRIES = table.entries
