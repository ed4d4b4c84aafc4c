"""The spec language: ``warmup_cosine(peak_lr=3e-4, warmup=0.05, min_lr_ratio=0.1)``.

A spec string is a call of a schedule name with keyword (or, in field order,
positional) arguments whose values are numbers, strings (``"2ep"``), booleans
(``true``/``false``), ``null``, lists, or nested specs. It is parsed with
:mod:`ast` and walked node by node: nothing is ever evaluated. The same data
round-trips through a dict ``{"name": ..., <arguments>}`` for JSON/YAML configs
and checkpoints.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping
from typing import Any

from .base import Schedule

_NAMED = {"true": True, "True": True, "false": False, "False": False, "null": None, "None": None}


def registry() -> dict[str, type[Schedule]]:
    """Spec name -> schedule class, for every built-in."""
    from . import compose, families, hold, legs, one_cycle, piecewise, warmup

    classes: list[type[Schedule]] = [
        families.Constant,
        families.StepDecay,
        families.Cosine,
        families.CosineRestarts,
        warmup.WarmupCosine,
        one_cycle.OneCycle,
        warmup.WarmupStableDecay,
        warmup.Warmup,
        one_cycle.OneCycleMomentum,
        legs.Linear,
        legs.Polynomial,
        legs.Exponential,
        legs.InverseSqrt,
        legs.Sweep,
        compose.Sequence,
        piecewise.Piecewise,
        hold.HoldAfter,
    ]
    return {cls.name: cls for cls in classes}


def parse(spec: str) -> Schedule:
    """Parse a spec string into a schedule.

    Raises:
        ValueError: the text is not a spec, or names an unknown schedule or argument
            (the message lists the valid ones).

    Example:
        >>> parse("cosine(peak_lr=0.1, min_lr_ratio=0.01)")
        Cosine(peak_lr=0.1, min_lr=None, min_lr_ratio=0.01, decay_steps=None)
    """
    if not isinstance(spec, str):
        raise TypeError(
            f"parse: a spec must be a string; got spec={spec!r}. Example: 'cosine(peak_lr=3e-4)'."
        )
    try:
        tree = ast.parse(spec.strip(), mode="eval").body
    except SyntaxError as error:
        raise ValueError(
            f"parse: not a schedule spec; got spec={spec!r} ({error.msg}). "
            f"Write it as name(key=value, ...), e.g. 'warmup_cosine(peak_lr=3e-4, warmup=0.05)'."
        ) from None
    if not isinstance(tree, ast.Call):
        raise ValueError(f"parse: a spec is a call like 'cosine(peak_lr=3e-4)'; got spec={spec!r}.")
    return from_dict(_call(tree, spec))


def _call(node: ast.Call, spec: str) -> dict[str, Any]:
    if not isinstance(node.func, ast.Name):
        raise ValueError(
            f"parse: expected a schedule name before '('; got {ast.unparse(node.func)!r} in {spec!r}."
        )
    name = node.func.id
    out: dict[str, Any] = {"name": name}
    cls = registry().get(name)
    fields = [f.name for f in dataclasses.fields(cls)] if cls else []  # type: ignore[arg-type]
    for index, arg in enumerate(node.args):
        if index >= len(fields):
            raise ValueError(f"parse: {name} takes at most {len(fields)} positional arguments; got {spec!r}.")
        out[fields[index]] = _value(arg, spec)
    for keyword in node.keywords:
        if keyword.arg is None:
            raise ValueError(f"parse: '**' is not allowed in a spec; got {spec!r}.")
        out[keyword.arg] = _value(keyword.value, spec)
    return out


def _value(node: ast.expr, spec: str) -> Any:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float, str))
        and not isinstance(node.value, complex)
    ):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _value(node.operand, spec)
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Name) and node.id in _NAMED:
        return _NAMED[node.id]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_value(item, spec) for item in node.elts]
    if isinstance(node, ast.Call):
        return _call(node, spec)
    raise ValueError(
        f"parse: values must be numbers, strings, true/false, null, lists or nested specs; "
        f'got {ast.unparse(node)!r} in {spec!r}. Quote strings: warmup="2ep".'
    )


def from_dict(data: Mapping[str, Any]) -> Schedule:
    """Build a schedule from ``{"name": ..., <arguments>}`` (nested specs as nested dicts).

    Raises:
        ValueError: unknown name or argument; the message lists the valid ones.
    """
    if not isinstance(data, Mapping) or "name" not in data:
        raise ValueError(f"from_dict: expected a mapping with a 'name' key; got {data!r}.")
    known = registry()
    name = data["name"]
    cls = known.get(name)
    if cls is None:
        raise ValueError(
            f"Schedule: unknown schedule name; got name={name!r}. Valid names: {', '.join(sorted(known))}."
        )
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs = {key: _build(value) for key, value in data.items() if key != "name"}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise ValueError(
            f"{name}: unknown argument {unknown[0]!r}; got {unknown[0]}={kwargs[unknown[0]]!r}. "
            f"Valid arguments: {', '.join(sorted(fields))}."
        )
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ValueError(f"{name}: {error}. Valid arguments: {', '.join(sorted(fields))}.") from None


def _build(value: Any) -> Any:
    if isinstance(value, Mapping) and "name" in value:
        return from_dict(value)
    if isinstance(value, list):
        return tuple(_build(v) for v in value)
    return value


def format_spec(data: Mapping[str, Any]) -> str:
    """The spec string of a ``to_dict()`` mapping."""
    args = ", ".join(f"{key}={_format(value)}" for key, value in data.items() if key != "name")
    return f"{data['name']}({args})"


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return format_spec(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
