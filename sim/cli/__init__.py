"""The ``syncsim`` command line (typer + rich): one module per verb, each adding its command
to ``sim.cli.app.app`` when imported; this package imports them all.

Verbs: ``run``, ``compare``, ``chaos`` (sim.cli.run, .compare, .chaos); ``scenarios``,
``strategies``, ``validate`` (.catalogue); ``report``, ``sweep``, ``bench``, ``check``,
``baseline`` (each its own module, calling the tool of the same name in ``sim.tools``).
"""

from __future__ import annotations

from sim.cli import (  # noqa: F401 - importing a verb module registers its command
    alerts,
    baseline,
    bench,
    calibrate,
    catalogue,
    chaos,
    check,
    compare,
    report,
    run,
    serve,
    sweep,
)
from sim.cli.app import app, main

__all__ = ["app", "main"]
