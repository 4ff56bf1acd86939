"""The classic initialization results, reproduced with initcli's own pipeline.

One module per paper (:mod:`reproductions.he2015`, :mod:`~reproductions.glorot2010`,
:mod:`~reproductions.saxe2014`, :mod:`~reproductions.klambauer2017`,
:mod:`~reproductions.schoenholz2017`); each ``reproduce_*`` function runs networks through
:func:`initcli.experiment.run_experiment` (or, where the statistics it records are not
enough, through :func:`initcli.propagate.propagate` directly), and returns the numbers that
``docs/reproductions.md`` tabulates plus a list of :class:`Claim`: what the paper says, the
measured value, the theory value and the interval the measurement must fall in.
``scripts/reproduce.py`` prints and plots them; ``tests/test_reproductions.py`` asserts
every claim holds. This package is not part of the installed ``initcli``: only the script
and the tests use it, from the repository root.

How the intervals are derived (not guessed): :class:`NoiseModel` (:mod:`reproductions.noise`,
checked against many seeds by :mod:`reproductions.calibration`). In short, a per-layer
variance measured over n units of one input is the theory value times (1 + noise) with
relative variance k/n, k the kurtosis factor of what is averaged (5 for relu, 2 for a
linear unit); these noises enter each layer's input, so ln(measured / theory) is a
linearised random walk whose covariance across layers follows from the mean-field
recursion. A claim's interval is ``Z_BOUND`` standard deviations of that walk, widened by
the Jensen shift of a logarithm (half its variance); where an exact law is known (Saxe's
chi-squares, float64 rounding) the interval comes from it instead.
"""

from reproductions.calibration import CALIBRATION_CASES, CalibrationRow, calibrate_noise_model
from reproductions.common import (
    Z_BOUND,
    Claim,
    Series,
    log_claim,
    slope_weights,
    worst_layer_claim,
)
from reproductions.glorot2010 import GLOROT, GLOROT_INITS, Glorot2010, reproduce_glorot2010
from reproductions.he2015 import HE, He2015, reproduce_he2015
from reproductions.klambauer2017 import (
    KLAMBAUER,
    SELU_STARTS,
    Klambauer2017,
    SeluPath,
    reproduce_klambauer2017,
)
from reproductions.noise import (
    LogStatistic,
    NoiseModel,
    backward_kurtosis_factor,
    kurtosis_factor,
    noise_model,
)
from reproductions.saxe2014 import SAXE, SAXE_INITS, Saxe2014, reproduce_saxe2014
from reproductions.schoenholz2017 import (
    SCHOENHOLZ,
    SCHOENHOLZ_SIGMA_W2,
    DepthScale,
    Schoenholz2017,
    reproduce_schoenholz2017,
    tanh_bias,
    tanh_init,
)
from reproductions.sizes import FULL, QUICK

__all__ = [
    "CALIBRATION_CASES",
    "FULL",
    "GLOROT",
    "GLOROT_INITS",
    "HE",
    "KLAMBAUER",
    "QUICK",
    "SAXE",
    "SAXE_INITS",
    "SCHOENHOLZ",
    "SCHOENHOLZ_SIGMA_W2",
    "SELU_STARTS",
    "Z_BOUND",
    "CalibrationRow",
    "Claim",
    "DepthScale",
    "Glorot2010",
    "He2015",
    "Klambauer2017",
    "LogStatistic",
    "NoiseModel",
    "Saxe2014",
    "Schoenholz2017",
    "SeluPath",
    "Series",
    "backward_kurtosis_factor",
    "calibrate_noise_model",
    "kurtosis_factor",
    "log_claim",
    "noise_model",
    "reproduce_glorot2010",
    "reproduce_he2015",
    "reproduce_klambauer2017",
    "reproduce_saxe2014",
    "reproduce_schoenholz2017",
    "slope_weights",
    "tanh_bias",
    "tanh_init",
    "worst_layer_claim",
]
