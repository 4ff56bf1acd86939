"""``python -m initcli`` and the ``initcli`` console script.

The CLI is imported inside the ``try`` so that a Ctrl-C while Python is still importing
(the first few tenths of a second) ends with exit code 130 and one line, not a traceback.

Before numpy loads OpenBLAS, the console program shortens how long OpenBLAS's idle threads
spin after a call before they sleep (``OPENBLAS_THREAD_TIMEOUT``, read once, at load; a
value the user set is kept). By default they spin for 2**28 cycles, about 0.1 s: the
convolutions run threads of their own (initcli.sharing), and after each dense
layer's GEMMs a spinning OpenBLAS thread took half of their core. With 2**24 cycles (a few
ms; still far longer than the gaps between the GEMM calls of one layer, so OpenBLAS's own
threads stay awake through them) cnn_relu at batch 256 on 2 cores ran 0.89x as long as
without, and the implicit-GEMM conv and dense cases were unchanged (bench/RESULTS.md).
A host process that imports initcli keeps its own setting, as with malloc.
"""

from __future__ import annotations

import os
import sys

OPENBLAS_THREAD_TIMEOUT = "24"  # log2 of the cycles an idle OpenBLAS thread spins


def entry() -> None:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", OPENBLAS_THREAD_TIMEOUT)
    try:
        from initcli.cli import main
    except KeyboardInterrupt:
        print("initcli: error: interrupted; nothing was written", file=sys.stderr)
        raise SystemExit(130) from None
    main()


if __name__ == "__main__":
    entry()
