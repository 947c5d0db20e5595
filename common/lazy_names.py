"""A package's public names loaded with their module when first used (PEP 562), so a caller of
one part of a package does not load the others: the status report's queue figures need
neither the claim's lease nor the publishing policy (a cold start spends its CPU on imports).

The package keeps its names in `__all__` and imports them under TYPE_CHECKING for the type
checker; tests/unit/test_lazy_names.py checks that every name resolves."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence


def lazy_names(package: str, modules: Mapping[str, Sequence[str]]) -> Callable[[str], object]:
    """The package's module `__getattr__`; `modules` maps each submodule to the names it gives."""
    home = {name: module for module, names in modules.items() for name in names}

    def attribute(name: str) -> object:
        module = home.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # the next lookup finds it directly
        return value

    return attribute
