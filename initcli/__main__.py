"""``python -m initcli`` and the ``initcli`` console script.

The CLI is imported inside the ``try`` so that a Ctrl-C while Python is still importing
(the first few tenths of a second) ends with exit code 130 and one line, not a traceback.
"""

from __future__ import annotations

import sys


def entry() -> None:
    try:
        from initcli.cli import main
    except KeyboardInterrupt:
        print("initcli: error: interrupted; nothing was written", file=sys.stderr)
        raise SystemExit(130) from None
    main()


if __name__ == "__main__":
    entry()
