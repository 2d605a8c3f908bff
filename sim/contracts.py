"""B2B customer accounts and their contract allocations: the truth, and the ERP's record.

A customer account (``[[channels.customers]]`` of a B2B channel) holds a contract
allocation: units of some SKUs reserved for it, restored to the contract quantity at the
start and every ``period``. The reserved units are stock at the channel's locations that
nobody else should sell: they are not claims (the truth of DESIGN §3 is unchanged, and
selling into them is not an oversell), they are a promise to a customer.

Two records are kept:

- the truth (``remaining``): what each customer may still take, drawn down the moment a
  channel accepts its line;
- the ERP's record (``erp_remaining``): the same contracts, drawn down when the order is
  taken into the ERP. It is what strategies can learn, through
  ``ErpApi.contract_allocations``; a restore is master data, known to both at once.

A line *breaches* an allocation when it takes contract stock: for each B2B channel ``b``
with allocations of the SKU outstanding (``out``, after the line's own customer drew on
its own), the line's claims at ``b``'s locations (less the units drawn from its customer's
own allocation), up to ``out`` less the free stock left there after it (``Ledger.free``,
per location clipped at 0). The units so taken are ``breach_units``; a line taking any is
one of ``breaches`` (``allocation_breaches``), counted for the channel that accepted it. A
customer buying within its own allocation never breaches; a web sale, or another
customer's, into someone's reserve does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sim.ledger import Ledger, Line, Order
from sim.schema import Scenario

__all__ = ["Contracts"]


class Contracts:
    """Every customer account of the scenario, its allocations and their breaches."""

    def __init__(self, scenario: Scenario, ledger: Ledger) -> None:
        self.ledger = ledger
        n_sku = ledger.n_sku
        #: (channel index, account spec), one per customer, in scenario order
        self.accounts = [(c, acc) for c, ch in enumerate(scenario.channels) for acc in ch.customers]
        n = len(self.accounts)
        #: account indices of each channel
        self.of_channel: dict[int, list[int]] = {}
        for k, (c, _) in enumerate(self.accounts):
            self.of_channel.setdefault(c, []).append(k)
        self.contract = np.zeros((n, n_sku), np.int64)
        for k, (_, acc) in enumerate(self.accounts):
            for sku, units in acc.allocations.items():
                self.contract[k, sku] = units
        self.remaining = self.contract.copy()
        self.erp_remaining = self.contract.copy()
        # the B2B channels holding allocations, with their accounts and locations
        self._holders = [
            (b, ks, ledger.serve[b]) for b, ks in self.of_channel.items() if self.contract[ks].any()
        ]
        self.allocated = np.asarray(self.contract.sum(axis=0) > 0)  # SKUs anyone holds allocated
        n_ch = len(ledger.serve)
        self.breaches = [0] * n_ch
        self.breach_units = [0] * n_ch
        self.restores = 0
        #: ``fn(skus)`` when the ERP's record changes (a restore, an order taken in)
        self.listeners: list[Callable[[np.ndarray], None]] = []

    @property
    def active(self) -> bool:
        return bool(self.accounts)

    def channel_of(self, account: int) -> int:
        return self.accounts[account][0]

    # -- the truth ----------------------------------------------------------------------
    def draw(self, account: int, sku: int, qty: int) -> int:
        """The customer ``account`` was sold ``qty`` of ``sku``: its own allocation first;
        the units drawn from it."""
        have = self.remaining.item(account, sku)
        if have <= 0:
            return 0
        drawn = min(have, qty)
        self.remaining[account, sku] = have - drawn
        return drawn

    def check(self, line: Line, drawn: int = 0) -> int:
        """Record whether the just accepted ``line`` took contract stock; the units it took.
        ``drawn`` of its units were its customer's own allocation (``draw``): never a breach."""
        sku = line.sku
        if not line.claims or not self.allocated.item(sku):
            return 0
        free = self.ledger.free
        own = self.channel_of(line.order.customer) if line.order.customer >= 0 else -1
        taken = 0
        for b, ks, locs in self._holders:
            out = int(self.remaining[ks, sku].sum())
            if out <= 0:
                continue
            claimed = sum(line.claims.get(loc, 0) for loc in locs)
            if b == own:
                claimed -= drawn
            if claimed <= 0:
                continue
            left = sum(max(0, free(loc, sku)) for loc in locs)
            taken += min(claimed, max(0, out - left))
        if taken:
            self.breaches[line.channel] += 1
            self.breach_units[line.channel] += taken
        return taken

    def restore(self, account: int) -> None:
        """A new contract period: the account's allocations are whole again (truth and ERP)."""
        self.restores += 1
        self.remaining[account] = self.contract[account]
        self.erp_remaining[account] = self.contract[account]
        skus = np.flatnonzero(self.contract[account])
        for fn in self.listeners:
            fn(skus)

    def run(self, env: Any, account: int) -> Any:
        """SimPy process: restore ``account``'s allocations every period."""
        period = self.accounts[account][1].period
        while True:
            yield env.timeout(period)
            self.restore(account)

    # -- the ERP's record ---------------------------------------------------------------
    def taken_in(self, order: Order) -> None:
        """The ERP took in ``order``: a customer's lines draw on its allocation record."""
        k = order.customer
        if k < 0:
            return
        touched = []
        for ln in order.lines:
            have = self.erp_remaining.item(k, ln.sku)
            if have > 0:
                self.erp_remaining[k, ln.sku] = max(0, have - ln.qty)
                touched.append(ln.sku)
        if touched:
            skus = np.asarray(touched, np.int64)
            for fn in self.listeners:
                fn(skus)

    def outstanding(self, skus: Sequence[int] | np.ndarray, channel: int) -> np.ndarray:
        """Per SKU of ``skus``: the units the ERP's record reserves for the customers of
        the other B2B channels that share a location with ``channel`` (what a strategy that
        respects allocations keeps from ``channel``)."""
        sel = np.asarray(skus, np.int64)
        out = np.zeros(sel.size, np.int64)
        mine = set(self.ledger.serve[channel])
        for b, ks, locs in self._holders:
            if b == channel or not mine.intersection(locs):
                continue
            out += self.erp_remaining[np.ix_(np.asarray(ks, np.int64), sel)].sum(axis=0)
        return out
