"""What a karrio extension offers, read from its installed source without importing
karrio: the order page lists the default carrier's services and the back-office
asks which capabilities a carrier has on every view, and neither should cost a web
worker the SDK (see connection.py).

The reading follows karrio's own rules: an extension's operations are the public
names defined in its `Proxy` class body (karrio.references.detect_proxy_methods), its
services the members of its `ShippingService` enum. Whatever cannot be read plainly
(a member that is not a literal, a file where karrio does not put it) answers None,
and the caller asks karrio itself.
"""
from __future__ import annotations

import ast
import sys
from functools import lru_cache
from pathlib import Path
from typing import Optional


def _module(*parts: str) -> Optional[ast.Module]:
    # karrio's packages are namespace packages spread over sys.path, as import finds them.
    for entry in sys.path:
        path = Path(entry or ".", "karrio", *parts)
        if path.is_file():
            try:
                return ast.parse(path.read_text("utf-8"))
            except (OSError, SyntaxError, ValueError):
                return None
    return None


def _class(module: Optional[ast.Module], name: str) -> Optional[ast.ClassDef]:
    if module is None:
        return None
    return next((node for node in module.body if isinstance(node, ast.ClassDef) and node.name == name), None)


@lru_cache(maxsize=None)
def operations(carrier_name: str) -> Optional[frozenset[str]]:
    """The public methods of the extension's Proxy (get_rates, cancel_shipment...)."""
    proxy = _class(_module("mappers", carrier_name, "proxy.py"), "Proxy")
    if proxy is None:
        return None
    return frozenset(node.name for node in proxy.body
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"))


@lru_cache(maxsize=None)
def services(carrier_name: str) -> Optional[tuple[tuple[str, object], ...]]:
    """The (name, value) members of the extension's ShippingService enum, in order."""
    enum = _class(_module("providers", carrier_name, "units.py"), "ShippingService")
    if enum is None:
        return None
    members: dict[str, object] = {}
    for node in enum.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            return None
        name, value = node.targets[0].id, node.value
        if isinstance(value, ast.Name) and value.id in members:
            continue  # an alias of an earlier member: an Enum does not list it
        if not isinstance(value, ast.Constant):
            return None
        if value.value not in members.values():  # a repeated value is an alias too
            members[name] = value.value
    return tuple(members.items()) or None
