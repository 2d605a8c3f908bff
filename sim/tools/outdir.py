"""Where results go, and the rule that keeps syncsim from ever deleting a user's files.

``--out DIR`` names a folder for syncsim's results, not a place to clear:

- a folder that does not exist yet is created (its parent must be a folder);
- an empty folder is used as it is;
- a folder that syncsim wrote before (its ``manifest.json`` says so and lists every file
  in it; the report adds its own files to ``report.json``) is replaced as a whole, and only
  the files syncsim listed are removed;
- anything else is refused before any run starts: a file, a path through a file, the
  current folder or one of its parents, the home folder, a folder holding files syncsim did
  not write. ``OutputError`` says which, in one line (exit code 2).

Writes go to a temporary sibling folder first and are renamed into place, so a failure
(a full disk, a permission taken away mid-run) leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = [
    "ALERT_FILES",
    "ALERT_MARKER",
    "MARKER",
    "REPORT_FILES",
    "SWEEP_FILE",
    "SWEEP_MARKER",
    "OutputError",
    "check_out",
    "discard",
    "new_temp_dir",
    "replace_dir",
    "syncsim_files",
]

#: ``manifest.json["syncsim"]`` of a results folder syncsim wrote
MARKER = "results"
#: ... and of a sweep's folder (``syncsim sweep``: part folders, resumable)
SWEEP_MARKER = "sweep"
#: files the report adds to a results folder (its PNGs are listed in ``report.json``)
REPORT_FILES = frozenset({"report.html", "report.json"})
#: ``alerts.json["syncsim"]`` of the alert evaluation ``syncsim alerts`` adds to a results
#: folder, and the files it adds
ALERT_MARKER = "alerts"
ALERT_FILES = frozenset({"alerts.json", "alerts.csv"})


class OutputError(Exception):
    """``--out`` cannot be used, or results could not be written; ``str()`` is one line.
    ``usage`` is True for a bad ``--out`` (exit 2), False for a failure while writing
    (exit 1)."""

    def __init__(self, message: str, usage: bool = True) -> None:
        super().__init__(message)
        self.usage = usage


def _json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


#: the file a sweep writes first into its folder (before any run), and the names a sweep
#: folder holds
SWEEP_FILE = ".syncsim-sweep"
SWEEP_NAMES = frozenset(
    {SWEEP_FILE, "runs", "per_channel", "lags", "runs.parquet", "per_channel.parquet",
     "lags.parquet", "summary.csv", "manifest.json", "verdict.json"}
)  # fmt: skip


def syncsim_files(folder: Path) -> set[str] | None:
    """The names syncsim wrote into ``folder`` (a results or sweep folder), or None if
    ``folder`` is not one: no readable manifest with syncsim's marker, no sweep marker."""
    if (folder / SWEEP_FILE).is_file():
        names = set(SWEEP_NAMES)
        report = _json(folder / "report.json")
        if isinstance(report, dict):
            names |= REPORT_FILES | {str(n) for n in report.get("files", [])}
        return names
    manifest = _json(folder / "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("syncsim") not in (MARKER, SWEEP_MARKER):
        return None
    names = {str(n) for n in manifest.get("files", [])} | {"manifest.json"}
    report = _json(folder / "report.json")
    if isinstance(report, dict):
        names |= REPORT_FILES | {str(n) for n in report.get("files", [])}
    alerts = _json(folder / "alerts.json")
    if isinstance(alerts, dict) and alerts.get("syncsim") == ALERT_MARKER:
        names |= ALERT_FILES
    return names


def check_out(path: Path, option: str = "--out", sweep: bool = False) -> Path:
    """Refuse an output folder that syncsim must not write to (see the module docstring);
    returns the path unchanged. Nothing is created. With ``sweep``, an existing folder must
    be a sweep's (it is resumed, never replaced)."""
    path = Path(path)
    label = f"{option} {path}"
    try:
        resolved = path.resolve()
        cwd = Path.cwd().resolve()
    except (OSError, RuntimeError) as exc:
        raise OutputError(f"{label}: cannot resolve the path ({exc})") from None
    if resolved == cwd or resolved in cwd.parents:
        raise OutputError(
            f"{label}: is the current folder or one of its parents; name a new folder "
            "for the results (e.g. results/mine)"
        )
    if resolved == Path.home().resolve() or resolved == Path(resolved.anchor):
        raise OutputError(f"{label}: is the home or root folder; name a new folder for results")
    for parent in reversed(resolved.parents):
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"{label}: {parent} is a file, not a folder")
    if resolved.exists() and not resolved.is_dir():
        raise OutputError(f"{label}: is a file, not a folder")
    if resolved.is_dir():
        try:
            entries = {p.name for p in resolved.iterdir()}
        except OSError as exc:
            raise OutputError(f"{label}: cannot read the folder ({exc.strerror})") from None
        if entries:
            ours = syncsim_files(resolved)
            if sweep and ours is not None and not (resolved / SWEEP_FILE).is_file():
                raise OutputError(f"{label}: is a results folder, not a sweep's; choose another")
            if ours is None:
                raise OutputError(
                    f"{label}: the folder is not empty and syncsim did not write it; "
                    "choose a new folder (syncsim never deletes what it did not write)"
                )
            foreign = sorted(entries - ours)
            if foreign:
                raise OutputError(
                    f"{label}: holds files syncsim did not write ({', '.join(foreign[:3])}"
                    f"{', ...' if len(foreign) > 3 else ''}); choose a new folder"
                )
    writable = next((p for p in [resolved, *resolved.parents] if p.exists()), None)
    if writable is not None and not os.access(writable, os.W_OK | os.X_OK):
        raise OutputError(f"{label}: {writable} is not writable")
    return path


def new_temp_dir(out: Path) -> Path:
    """A fresh hidden sibling of ``out`` to write into (the parent is created)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))


def replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished folder ``tmp`` to ``out``. An existing ``out`` must be a results
    folder syncsim wrote (``check_out``); it is moved aside first and only the files syncsim
    listed in it are removed afterwards."""
    if out.exists():
        check_out(out)
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.replace(out, old / "previous")
        os.replace(tmp, out)
        previous = old / "previous"
        names = syncsim_files(previous) or set()
        for name in names:
            target = previous / name
            if target.is_file():
                target.unlink()
        for name in sorted(names, reverse=True):  # its sub-folders (openmetrics/), once empty
            target = previous / name
            if target.is_dir():
                with contextlib.suppress(OSError):  # holds what syncsim did not list: kept
                    target.rmdir()
        try:
            previous.rmdir()
            old.rmdir()
        except OSError:  # something unexpected appeared meanwhile: keep it, never delete it
            pass
        return
    os.replace(tmp, out)


def discard(tmp: Path) -> None:
    """Remove a temporary folder this module made (``new_temp_dir``)."""
    shutil.rmtree(tmp, ignore_errors=True)
