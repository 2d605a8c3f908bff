"""An example external syncsim strategy (``delta-sync``)."""

from syncsim_example.delta import DeltaParams, DeltaSyncStrategy

__all__ = ["DeltaParams", "DeltaSyncStrategy"]
