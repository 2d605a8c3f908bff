"""Partner locations: 3PL warehouses and drop-ship vendors, known only through their feeds.

A location of kind ``3pl`` or ``dropship`` (``sim.schema.Location``) is run by a partner. Its
physical truth is in the ledger like any other location's (picks, shipments, receipts), but
the company's WMS holds no record of it and posts nothing of it to the ERP. The ERP learns:

- the partner's **inventory file**: every ``feed_interval`` the partner snapshots its stock
  (on hand per SKU, its own record) and the file lands in the ERP ``feed_lag`` later. On
  landing, the ERP posts the partner's movements made up to the snapshot (shipments close
  their lines' commitments, receipts of the company's purchase orders leave ``on_order``),
  then overwrites its on-hand record of the location with the file's. The file brings the
  truth changes made there up to the snapshot (provenance): what strategies read of a
  partner location is as old as its last file, and says so;
- the partner's **orders**: the ERP's allocations reach the partner by its order channel
  (``edi``: in a batch every ``order_interval``; ``api``: ``order_latency`` after the
  allocation); the partner then releases, picks and ships them after the location's
  release, pick and ship delays. The ERP tells its partner subscribers what it sent (a
  ``release`` at once: it is the ERP's own allocation); a line the partner cannot fill is
  rejected at once (a ``short``, posted to the ERP, which allocates it elsewhere or
  backorders it).

A 3PL holds the company's stock: the ERP replenishes it by purchase orders as it does its own
warehouses (on its feed-based record). A drop-ship vendor's stock is the vendor's own: the
ERP orders none; every ``restock_interval`` the vendor brings each SKU back to its initial
stock, in the truth only, which only its next file reveals.

Faults (``sim.faults.partner``): files missed, landing late, or with wrong rows. What the
ERP learns is published to ``Erp.subscribe_partner`` subscribers (the event-fed views of
``strategies.kit.view``). ``feed_age_p95`` measures how old the partner stock the ERP holds
is (the metric ``partner_feed_age_p95_s``).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import numpy as np

from mocks.erp import Erp
from mocks.wms import Wms
from sim.contract import Movement
from sim.faults import ActiveFault
from sim.faults.partner import PartnerFeedFault
from sim.ledger import KNOWN_TO_WMS, Ledger, Line
from sim.movements import MOVEMENTS
from sim.schema import Location

__all__ = ["PartnerSite", "Partners", "time_weighted_quantile"]


class PartnerSite:
    """One partner location in a run: its feed, its order channel, its faults."""

    def __init__(
        self, loc: int, spec: Location, n_sku: int, rng: np.random.Generator,
        feed_rng: np.random.Generator,
    ) -> None:  # fmt: skip
        """``rng``: the partner's order channel; ``feed_rng``: its files (lags and faults),
        apart, so that the files do not depend on how many orders a strategy sent."""
        self.loc = loc
        self.spec = spec
        self.terms = spec.terms
        self.rng = rng
        self.feed_rng = feed_rng
        self.log: list[tuple[float, Movement]] = []  # movements not yet reported in a file
        self.applied_ts = 0.0  # snapshot time of the last file the ERP applied (go-live: 0)
        self.landings: list[tuple[float, float]] = []  # (landing time, snapshot time)
        self.faults: list[ActiveFault] = []
        self.released = np.zeros(n_sku, np.int64)  # acknowledged, not yet reported shipped
        self.version = np.zeros(n_sku, np.int64)
        self.edi_queue: list[tuple[Line, int]] = []
        self.files_sent = 0
        self.files_missed = 0
        self.files_applied = 0

    def hold_fault(self, fault: ActiveFault, on: bool) -> None:
        """A partner-feed fault is on (``on``) or off for this partner."""
        if on:
            self.faults.append(fault)
        elif fault in self.faults:
            self.faults.remove(fault)

    def _feed_faults(self) -> list[tuple[ActiveFault, PartnerFeedFault]]:
        return [(f, f.spec) for f in self.faults if isinstance(f.spec, PartnerFeedFault)]


class Partners:
    """Every partner location of a world: wired into the WMS (``Wms.partners``) and the ERP."""

    def __init__(
        self,
        env: Any,
        ledger: Ledger,
        erp: Erp,
        wms: Wms,
        locations: Sequence[Location],
        stream: Any,
    ) -> None:
        """``stream(name)``: the run's named random streams (``sim.rng``); each partner has
        its own, so a partner's draws never move another location's."""
        self.env = env
        self.ledger = ledger
        self.erp = erp
        self.wms = wms
        self.sites: dict[int, PartnerSite] = {}
        for loc, spec in enumerate(locations):
            if spec.is_partner:
                rng, feeds = stream(f"partner/{spec.name}"), stream(f"partner/{spec.name}/feed")
                self.sites[loc] = PartnerSite(loc, spec, ledger.n_sku, rng, feeds)
                wms.loc_rng[loc] = stream(f"partner/{spec.name}/delays")
        wms.partners = self

    # -- the WMS's hooks (mocks.wms.Outsourced) ----------------------------------------------
    def takes(self, loc: int) -> bool:
        return loc in self.sites

    def order(self, line: Line, loc: int, qty: int) -> None:
        """The ERP allocated ``qty`` of ``line`` at a partner: it goes by the partner's order
        channel, and the partner releases it for picking when it has it."""
        site = self.sites[loc]
        # the ERP knows what it sent the partner: its subscribers learn it now (a release
        # acknowledgement), not when the partner gets round to it
        site.released[line.sku] += qty
        self._publish(site, "release", line.sku, qty, [], line)
        if site.terms.orders == "edi":
            site.edi_queue.append((line, qty))
            return
        delay = float(site.terms.order_latency.sample(site.rng))
        if delay <= 0:
            self.wms.schedule_pick(line, loc, qty)
        else:
            self.env.timeout(delay).callbacks.append(
                lambda _: self.wms.schedule_pick(line, loc, qty)
            )

    def movement(self, mv: Movement) -> None:
        """A movement at a partner location: a short pick is rejected to the ERP at once
        (posted: the ERP reallocates the line); stock movements wait for the partner's next
        file; its release was acknowledged when the ERP sent the order (``order``)."""
        site = self.sites[mv.loc]
        if mv.kind == "short":
            site.released[mv.sku] -= mv.qty
            self.erp.post(mv)
            self._publish(site, mv.kind, mv.sku, mv.qty, mv.seqs, mv.line)
        elif MOVEMENTS[mv.kind].erp is not None:
            site.log.append((float(self.env.now), mv))

    # -- processes --------------------------------------------------------------------------
    def start(self) -> None:
        """The go-live file (what the ERP was loaded with at t = 0, published to strategies
        that build their own view), then every partner's feed, order batches and restocking."""
        env = self.env
        for site in self.sites.values():
            env.process(self._go_live(site))
            env.process(self._feeds(site))
            if site.terms.orders == "edi":
                env.process(self._edi(site))
            if site.spec.kind == "dropship":
                env.process(self._restock(site))

    def _go_live(self, site: PartnerSite) -> Generator[Any, Any, None]:
        yield self.env.timeout(0)
        erp = self.erp
        for sku in range(self.ledger.n_sku):
            self._publish(site, "feed", sku, 0, [], None, int(erp.on_hand[site.loc, sku]))

    def _edi(self, site: PartnerSite) -> Generator[Any, Any, None]:
        """Every ``order_interval``: the batch of orders allocated since the last one."""
        while True:
            yield self.env.timeout(site.terms.order_interval)
            batch, site.edi_queue = site.edi_queue, []
            for line, qty in batch:
                self.wms.schedule_pick(line, site.loc, qty)

    def _restock(self, site: PartnerSite) -> Generator[Any, Any, None]:
        """A drop-ship vendor's own supply: every ``restock_interval`` each SKU's shelf is
        brought back to its initial stock (in the truth; no system is told)."""
        led, loc = self.ledger, site.loc
        while True:
            yield self.env.timeout(site.terms.restock_interval)
            shelf = led.on_hand[loc] - led.hold[loc]
            for sku in np.flatnonzero(shelf < led.initial[loc]).tolist():
                q = int(led.initial[loc, sku] - shelf[sku])
                led.receive(loc, sku, q, KNOWN_TO_WMS)

    def _feeds(self, site: PartnerSite) -> Generator[Any, Any, None]:
        """Every ``feed_interval``: a snapshot of the partner's record, landing later."""
        env, loc, rng = self.env, site.loc, site.feed_rng
        while True:
            yield env.timeout(site.terms.feed_interval)
            ts = float(env.now)
            faults = site._feed_faults()
            missed = [f for f, spec in faults if spec.feed_missed()]
            if missed:
                site.files_missed += 1
                for f in missed:
                    f.hit()
                continue
            values = (self.ledger.on_hand[loc] + self.wms.uncounted[loc]).astype(np.int64)
            drop = np.zeros(values.size, bool)
            lag = float(site.terms.feed_lag.sample(rng))
            for f, spec in faults:
                extra = spec.feed_extra_lag(rng)
                if extra is not None:
                    lag += extra
                    f.hit()
                wrong = spec.feed_errors(rng, values.size)
                if wrong is not None:
                    rows_dropped, delta = wrong
                    drop |= rows_dropped
                    values = np.maximum(values + delta, 0)
                    f.hit(int(rows_dropped.sum() + np.count_nonzero(delta)))
            site.files_sent += 1
            file = (ts, values, drop)
            env.timeout(max(0.0, lag), file).callbacks.append(
                lambda ev, site=site: self._land(site, *ev.value)
            )

    def _land(self, site: PartnerSite, ts: float, values: np.ndarray, drop: np.ndarray) -> None:
        """A file snapshotted at ``ts`` lands: post the movements it reports, overwrite the
        ERP's record with it. A file older than one already applied is ignored."""
        if ts <= site.applied_ts:
            return
        erp, loc = self.erp, site.loc
        skus = np.flatnonzero(~drop).tolist()
        view = erp.view
        seqs = [view.pending_until(loc, s, ts) for s in skus]  # before posting takes some in
        before, released = erp.on_hand[loc].copy(), site.released.copy()
        keep: list[tuple[float, Movement]] = []
        for t, mv in site.log:
            if t <= ts and not drop[mv.sku]:
                erp.post(mv)
                if mv.kind == "ship":
                    site.released[mv.sku] -= mv.qty
            else:
                keep.append((t, mv))
        site.log = keep
        erp.apply_feed(loc, skus, [int(values[s]) for s in skus], seqs)
        site.applied_ts = ts
        site.files_applied += 1
        site.landings.append((float(self.env.now), ts))
        if erp.partner_listeners:
            for s, carried in zip(skus, seqs, strict=True):
                if carried or before[s] != erp.on_hand[loc, s] or released[s] != site.released[s]:
                    self._publish(site, "feed", s, 0, carried, None)

    def _publish(
        self, site: PartnerSite, kind: str, sku: int, qty: int, seqs: Sequence[int],
        line: Line | None, on_hand: int | None = None,
    ) -> None:  # fmt: skip
        """Tell the ERP's partner subscribers, with the ERP's record of (loc, sku) after it."""
        erp, loc = self.erp, site.loc
        if not erp.partner_listeners:
            return
        site.version[sku] += 1
        mv = Movement(
            kind, loc, sku, qty, float(self.env.now), list(seqs), line=line,
            version=int(site.version[sku]),
            on_hand=int(erp.on_hand[loc, sku]) if on_hand is None else on_hand,
            hold=int(erp.hold[loc, sku]), released=int(site.released[sku]),
        )  # fmt: skip
        for fn in erp.partner_listeners:
            fn(mv)

    # -- the metric -------------------------------------------------------------------------
    def feed_age_p95(self, locs: Sequence[int] | None, end: float) -> float:
        """The 95th percentile over [0, end] (time-weighted) of the age of the partner stock
        the ERP holds, ``now - snapshot time of the last file applied`` (0 at go-live),
        pooled over the partner locations ``locs`` (None: every one)."""
        sites = [self.sites[x] for x in (self.sites if locs is None else locs)]
        lo: list[float] = []
        hi: list[float] = []
        for site in sites:
            t0, ts = 0.0, 0.0
            for t, new_ts in [*site.landings, (end, -1.0)]:
                t = min(t, end)
                if t > t0:
                    lo.append(t0 - ts)
                    hi.append(t - ts)
                if new_ts < 0 or t >= end:
                    break
                t0, ts = t, new_ts
        return time_weighted_quantile(np.array(lo), np.array(hi), 0.95)


def time_weighted_quantile(lo: np.ndarray, hi: np.ndarray, q: float) -> float:
    """The ``q`` quantile of a quantity that rises at slope 1 from ``lo[i]`` to ``hi[i]`` on
    each segment ``i`` (an age between updates): a mixture of uniform laws on [lo, hi],
    each weighted by its length. Exact: the distribution function is piecewise linear
    between the segments' ends."""
    if lo.size == 0:
        return 0.0
    length = hi - lo
    total = float(length.sum())
    if total <= 0:
        return float(lo.max())
    bp = np.unique(np.concatenate([lo, hi]))
    cdf = np.clip(bp[:, None] - lo[None, :], 0.0, length[None, :]).sum(axis=1) / total
    i = int(np.searchsorted(cdf, q, side="left"))
    if i == 0:
        return float(bp[0])
    if i >= bp.size:
        return float(bp[-1])
    c0, c1 = cdf[i - 1], cdf[i]
    return float(bp[i - 1] + (q - c0) / (c1 - c0) * (bp[i] - bp[i - 1]))
