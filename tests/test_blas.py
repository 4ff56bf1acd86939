"""initcli.blas.openblas_limited_while: OpenBLAS held to fewer threads while busy() says so."""

from __future__ import annotations

import pytest

from initcli import blas

LIBRARY = blas.bundled_openblas()
pytestmark = pytest.mark.skipif(LIBRARY is None, reason="numpy without its bundled OpenBLAS")


@pytest.fixture
def two_threads():
    before = blas.openblas_threads(LIBRARY)
    blas.set_openblas_threads(LIBRARY, 2)
    yield
    blas.set_openblas_threads(LIBRARY, before)


def test_limited_while_busy_and_restored_at_the_first_check_after(two_threads):
    busy = [True]
    with blas.openblas_limited_while(LIBRARY, 1, lambda: busy[0]) as check:
        assert blas.openblas_threads(LIBRARY) == 1
        check()
        assert blas.openblas_threads(LIBRARY) == 1
        busy[0] = False
        check()
        assert blas.openblas_threads(LIBRARY) == 2
        busy[0] = True  # once restored it stays so: busy is asked only while limited
        check()
        assert blas.openblas_threads(LIBRARY) == 2
    assert blas.openblas_threads(LIBRARY) == 2


def test_restored_at_exit_also_on_error(two_threads):
    with pytest.raises(RuntimeError), blas.openblas_limited_while(LIBRARY, 1, lambda: True):
        assert blas.openblas_threads(LIBRARY) == 1
        raise RuntimeError("a step failed")
    assert blas.openblas_threads(LIBRARY) == 2


def test_not_limited_when_not_busy_or_already_at_most_that_many(two_threads):
    asked = []

    def busy() -> bool:
        asked.append(True)
        return False

    with blas.openblas_limited_while(LIBRARY, 1, busy) as check:
        assert blas.openblas_threads(LIBRARY) == 2
        check()
    assert len(asked) == 1
    with blas.openblas_limited_while(LIBRARY, 2, lambda: True):
        assert blas.openblas_threads(LIBRARY) == 2


def test_without_the_library_nothing_is_set():
    with blas.openblas_limited_while(None, 1, lambda: True) as check:
        check()
