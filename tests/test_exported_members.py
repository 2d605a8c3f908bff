"""STYLE 10: a deliberate public API. ``__all__`` lists exactly the public names defined."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import mocks
import sim
import strategies

MODULES = [
    m.name
    for pkg in (sim, mocks, strategies)
    for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg.__name__}.")
    if not m.ispkg
    and not any(part.startswith("_") for part in m.name.split("."))
    and not m.name.startswith("sim.cli.")  # the verbs: commands registered on the app
]


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_exactly_the_public_names_defined_here(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(getattr(module, "__all__", ()))
    assert exported, f"{name} has no __all__"
    for item in exported:
        assert hasattr(module, item), f"{name}.__all__ names missing {item!r}"
    defined = {
        n
        for n, obj in vars(module).items()
        if not n.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and getattr(obj, "__module__", None) == name
    }
    assert defined <= exported, f"{name}: public but not in __all__: {defined - exported}"
