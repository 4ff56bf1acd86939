"""Network sizes of the full reproductions (docs) and of the quick ones (tests)."""

from __future__ import annotations

from typing import Any

# What docs/reproductions.md shows (FULL) and what the tests and `reproduce.py --quick` run.
FULL: dict[str, dict[str, Any]] = {
    "he2015": {"depth": 30, "width": 256, "batch": 256},
    "glorot2010": {"batch": None},
    "saxe2014": {"depth": 100, "width": 64, "seeds": 200},
    "klambauer2017": {"depth": 32, "width": 512, "batch": 256},
    "schoenholz2017": {"depth": 60, "width": 512, "batch": 16, "pairs": 16, "seeds": 4},
    "calibration": {"seeds": 30},
}
QUICK: dict[str, dict[str, Any]] = {
    "he2015": {"depth": 30, "width": 128, "batch": 32},
    "glorot2010": {"batch": 64},
    "saxe2014": {"depth": 50, "width": 32, "seeds": 80},
    "klambauer2017": {"depth": 32, "width": 256, "batch": 64},
    "schoenholz2017": {
        "sigma_w2s": (1.0, 1.5, 2.5, 4.0),
        "depth": 40,
        "width": 256,
        "batch": 16,
        "pairs": 16,
        "seeds": 2,
    },
    "calibration": {"seeds": 10},
}
