"""A distributor's own catalogue and stock snapshot, as a scenario names them.

``catalogue.file`` (CSV or Parquet, one row per SKU; row i is SKU index i):

- ``code``: the SKU code, unique (required);
- ``name``: a product name (optional; Faker names otherwise);
- ``price``: the unit price, > 0 (optional; drawn from the price range otherwise);
- ``share``: popularity weights, >= 0 (optional; the Zipf law otherwise), and
  ``share:CHANNEL``: one channel's own weights (optional; ``share`` or Zipf otherwise).

The scenario's ``catalogue.skus`` must equal the file's row count. With a catalogue file,
every SKU in a stock snapshot or a trace is a code of this file; without one, an index.

``stock.snapshot`` (CSV or Parquet, one row per SKU and location): ``sku``, ``location`` (a
location name of the scenario) and ``on_hand`` (a whole number >= 0). A pair it does not
list starts at 0 (a snapshot lists what is there); a pair listed twice is an error.

Bad input is one line naming the file, the row (1 = a CSV's header, data from 2; 0-based for
Parquet) and the column (``BusinessDataError``, a ``ScenarioError``). Files are read once per
process and file state (size, modification time).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.scenario import ScenarioError
from sim.schema import Scenario

__all__ = [
    "BusinessDataError",
    "CatalogueFile",
    "bad_rows",
    "check_business_files",
    "load_catalogue_file",
    "load_snapshot",
    "read_table",
    "sku_indexes",
]


class BusinessDataError(ScenarioError):
    """A catalogue or stock file is wrong; ``str()`` names the file, row and column."""


def read_table(
    path: Path, what: str, error: type[ScenarioError], dtype: dict[str, Any] | None = None
) -> tuple[pd.DataFrame, int]:
    """A CSV or Parquet file as a frame, and the row number of its first data row (2 for CSV,
    0 for Parquet); ``error`` for a missing or unreadable file."""
    if not path.is_file():
        raise error(f"{path}: {what} file not found")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path), 0
        return pd.read_csv(path, dtype=dtype), 2
    except Exception as exc:  # pandas and pyarrow raise many kinds for a damaged file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise error(f"{path}: cannot read: {first}") from None


def bad_rows(
    path: Path, first: int, frame: pd.DataFrame, mask: Any, column: str, what: str,
    error: type[ScenarioError],
) -> None:  # fmt: skip
    """Raise ``error`` naming the first row where ``mask`` holds (and how many more)."""
    rows = np.flatnonzero(np.asarray(mask, bool))
    if rows.size:
        i = int(rows[0])
        value = frame[column].iloc[i]
        raise error(
            f"{path}: row {i + first}, column {column}: {what} (got {value!r}"
            + (f"; {rows.size - 1} more rows like it)" if rows.size > 1 else ")")
        )


def _stamp(path: Path, what: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        raise BusinessDataError(f"{path}: {what} file not found") from None
    return st.st_size, st.st_mtime_ns


def _numbers(
    path: Path, first: int, frame: pd.DataFrame, column: str, low: float, whole: bool
) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values) | (values < low)
    if whole:
        bad |= values != np.floor(values)
    kind = "a whole number" if whole else "a number"
    bad_rows(path, first, frame, bad, column, f"expected {kind} >= {low:g}", BusinessDataError)
    return values


@dataclass(frozen=True, eq=False)  # hashed by identity: a cache key
class CatalogueFile:
    """A catalogue file's columns: ``codes`` (index order), ``names`` and ``prices`` (or
    None), ``shares`` (popularity weights: key ``""`` for all channels, else a channel)."""

    codes: tuple[str, ...]
    names: tuple[str, ...] | None
    prices: np.ndarray | None
    shares: dict[str, np.ndarray] = field(default_factory=dict)

    @functools.cached_property
    def index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.codes)}


@functools.lru_cache(maxsize=8)
def _catalogue(path: str, _stamp: tuple[int, int]) -> CatalogueFile:
    p = Path(path)
    frame, first = read_table(p, "catalogue", BusinessDataError, {"code": str, "name": str})
    if "code" not in frame.columns:
        raise BusinessDataError(f"{p}: missing column code (a catalogue needs code)")
    if frame.empty:
        raise BusinessDataError(f"{p}: no SKUs")
    frame = frame.reset_index(drop=True)
    codes = frame["code"].astype("string").str.strip()
    bad_rows(p, first, frame, codes.isna() | (codes == ""), "code", "missing", BusinessDataError)
    bad_rows(p, first, frame, codes.duplicated(), "code", "a second row", BusinessDataError)
    names = None
    if "name" in frame.columns:
        names = tuple(frame["name"].fillna("").astype(str))
    prices = None
    if "price" in frame.columns:
        prices = _numbers(p, first, frame, "price", 0.0, whole=False)
        bad_rows(p, first, frame, prices <= 0, "price", "expected > 0", BusinessDataError)
    shares: dict[str, np.ndarray] = {}
    for col in frame.columns:
        if col == "share" or str(col).startswith("share:"):
            w = _numbers(p, first, frame, str(col), 0.0, whole=False)
            if w.sum() <= 0:
                raise BusinessDataError(f"{p}: column {col}: no positive weight")
            shares[str(col).removeprefix("share").removeprefix(":")] = w
    return CatalogueFile(tuple(codes.tolist()), names, prices, shares)


def load_catalogue_file(sc: Scenario) -> CatalogueFile | None:
    """The scenario's catalogue file (None without one), checked against the scenario."""
    spec = sc.catalogue
    if spec.file is None:
        return None
    path = Path(spec.file)
    cat = _catalogue(str(path), _stamp(path, "catalogue"))
    if len(cat.codes) != spec.skus:
        raise BusinessDataError(
            f"{path}: {len(cat.codes)} SKUs, but catalogue.skus = {spec.skus} (they must agree)"
        )
    names = {ch.name for ch in sc.channels}
    unknown = sorted(k for k in cat.shares if k and k not in names)
    if unknown:
        raise BusinessDataError(
            f"{path}: column share:{unknown[0]} names no channel of the scenario "
            f"({', '.join(sorted(names))})"
        )
    return cat


def sku_indexes(
    path: Path, first: int, frame: pd.DataFrame, column: str, n_sku: int,
    codes: CatalogueFile | None, error: type[ScenarioError],
) -> np.ndarray:  # fmt: skip
    """The SKU column as indexes: codes of the catalogue file, or indexes without one."""
    if codes is not None:
        mapped = frame[column].astype("string").str.strip().map(codes.index)
        bad_rows(path, first, frame, mapped.isna(), column, "not a code of the catalogue", error)
        return mapped.to_numpy(np.int64)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values) | (values != np.floor(values)) | (values < 0)
    bad_rows(path, first, frame, bad, column, "expected a whole number >= 0", error)
    bad_rows(
        path, first, frame, values >= n_sku, column,
        f"not a SKU index below catalogue.skus ({n_sku})", error,
    )  # fmt: skip
    return values.astype(np.int64)


@functools.lru_cache(maxsize=8)
def _snapshot(
    path: str, _stamp: tuple[int, int], locations: tuple[str, ...], n_sku: int,
    codes: CatalogueFile | None,
) -> np.ndarray:  # fmt: skip
    p = Path(path)
    frame, first = read_table(p, "stock snapshot", BusinessDataError, {"sku": str, "location": str})
    missing = [c for c in ("sku", "location", "on_hand") if c not in frame.columns]
    if missing:
        raise BusinessDataError(
            f"{p}: missing column(s) {', '.join(missing)} (a snapshot needs sku, location, on_hand)"
        )
    frame = frame.reset_index(drop=True)
    known = {name: i for i, name in enumerate(locations)}
    loc = frame["location"].astype("string").str.strip().map(known)
    bad_rows(
        p, first, frame, loc.isna(), "location",
        f"not a location of the scenario ({', '.join(locations)})", BusinessDataError,
    )  # fmt: skip
    sku = sku_indexes(p, first, frame, "sku", n_sku, codes, BusinessDataError)
    qty = _numbers(p, first, frame, "on_hand", 0.0, whole=True).astype(np.int64)
    pairs = pd.Series(loc.to_numpy(np.int64) * n_sku + sku)
    bad_rows(p, first, frame, pairs.duplicated(), "sku", "a second row for this location",
             BusinessDataError)  # fmt: skip
    out = np.zeros((len(locations), n_sku), np.int64)
    out[loc.to_numpy(np.int64), sku] = qty
    return out


def load_snapshot(sc: Scenario) -> np.ndarray | None:
    """On hand per (location, SKU) from the scenario's stock snapshot (None without one)."""
    if sc.stock.snapshot is None:
        return None
    path = Path(sc.stock.snapshot)
    names = tuple(loc.name for loc in sc.locations)
    codes = load_catalogue_file(sc)
    return _snapshot(
        str(path), _stamp(path, "stock snapshot"), names, sc.catalogue.skus, codes
    ).copy()


def check_business_files(sc: Scenario) -> None:
    """Read the scenario's own data files (catalogue, snapshot): ``BusinessDataError`` names
    what is wrong before a run starts."""
    load_catalogue_file(sc)
    load_snapshot(sc)
