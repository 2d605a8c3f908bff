"""A system's own clock, which clock faults put off true time.

The ERP and the WMS stamp what they record (changes, movements) with their own clock: true
simulated time plus ``clock_offset`` seconds (0 unless a clock fault holds it off). Each stamp
made while off counts a hit of every fault in ``skews``.
"""

from __future__ import annotations

from sim.faults import ActiveFault

__all__ = ["OwnClock"]


class OwnClock:
    """Mixin for a system with its own clock; the system sets ``clock_offset = 0.0`` and
    ``skews = []`` and counts a hit of each fault in ``skews`` per stamp."""

    clock_offset: float  # the system's clock minus true time, in seconds
    skews: list[ActiveFault]  # the faults holding it off, in the order they switched on

    def skew_clock(self, seconds: float, fault: ActiveFault, on: bool) -> None:
        """Put the clock ``seconds`` further off on behalf of ``fault`` (``on``), or back."""
        if on:
            self.clock_offset += seconds
            self.skews.append(fault)
        else:
            self.clock_offset -= seconds
            self.skews.remove(fault)
