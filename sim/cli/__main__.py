"""``python -m sim.cli``: the same as the ``syncsim`` command."""

from sim.cli.app import main

main()
