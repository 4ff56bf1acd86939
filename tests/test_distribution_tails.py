"""Truncated normals cut far in a tail: log Phi must not underflow to log(0) (a traceback)."""

from __future__ import annotations

import pytest
from scipy import stats

from initcli.distributions import truncated_standard_moments


@pytest.mark.parametrize(
    ("alpha", "beta"), [(10.0, 52.0), (-52.0, -10.0), (38.5, 40.0), (-41.0, -39.0)]
)
def test_far_tail_moments_match_scipy(alpha: float, beta: float) -> None:
    _, mean, var = truncated_standard_moments(alpha, beta)
    law = stats.truncnorm(alpha, beta)
    assert mean == pytest.approx(law.mean(), rel=1e-9)
    assert var == pytest.approx(law.var(), rel=1e-6)


def test_far_tail_trunc_normal_samples_cleanly(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("sample", "torch.trunc_normal(mean=-50,a=-40)", "--shape", "3,4", "--json")
    assert result.code == 0 and "Traceback" not in result.err
