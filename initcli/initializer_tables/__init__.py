"""The registry's rows: one module per framework (:mod:`~initcli.initializer_tables.bare`,
``torch``, ``keras``, ``tf1``, ``jax``) over the shared :mod:`~initcli.initializer_tables.builders`.

:mod:`initcli.initializers` imports this package on the first name lookup, so commands that
never resolve an initializer by name (``initcli fans``) do not build the tables.
"""

from __future__ import annotations

from initcli.initializer_tables import bare, jax, keras, tf1, torch

# The order ``initcli list`` shows: bare names first, then torch, keras, tf1, jax.
ENTRIES = (*bare.ENTRIES, *torch.ENTRIES, *keras.ENTRIES, *tf1.ENTRIES, *jax.ENTRIES)
