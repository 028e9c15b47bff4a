"""Reading coefficient values and target lists from the command line, without `eval`.

Values are numbers or simple arithmetic over numbers and the constants pi and e:
"0.01/pi", "2*pi", "1e-3", "(1+2)/3". Targets are "name=value" pairs separated by commas;
a name seen again, or a semicolon, starts the next target: "nu=0.02/pi,nu=0.005/pi" or
"d=0.001,r=4;d=0.002,r=5". A value may be a range, "low..high:count" (evenly spaced, both
ends included) or "low..high:count:log" (evenly spaced logarithms); the ranges of one target
multiply: "nu=1..3:3,rho=2..4:2" is six targets.
"""

from __future__ import annotations

import ast
import itertools
import math
import operator
from typing import Sequence

import numpy as np

from equations import Equation
from equations.errors import InputError

CONSTANTS = {"pi": math.pi, "e": math.e}
_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
#: Longest expression read, and largest power exponent: "2**1000**1000" would otherwise
#: compute an integer of 10^3000 digits before it could be refused.
MAX_EXPRESSION_LENGTH = 200
MAX_EXPONENT = 1000.0
#: Most targets one --targets text may stand for.
MAX_TARGETS = 1000
SPACINGS = ("log",)


class ExpressionError(InputError):
    """A coefficient value or target list that cannot be read."""


def varying_coefficients(members: Sequence[Equation]) -> list[str]:
    """The coefficients whose values differ between family `members`."""
    return [name for name in members[0].coefficients if len({m.coefficients[name] for m in members}) > 1]


def parse_value(text: str) -> float:
    """The number an expression such as "0.01/pi" stands for."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"{text[:40]!r}... is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
        value = float(_evaluate(tree.body))
    except (SyntaxError, ExpressionError, ZeroDivisionError, OverflowError, TypeError) as error:
        detail = f" ({error})" if isinstance(error, (ExpressionError, ZeroDivisionError)) else ""
        raise ExpressionError(
            f"cannot read {text!r} as a number; use numbers, pi, e and + - * / ** ( ){detail}"
        ) from None
    if not math.isfinite(value):
        raise ExpressionError(f"{text!r} is not a finite number")
    return value


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = float(_evaluate(node.left)), float(_evaluate(node.right))
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ExpressionError(f"exponent {right:g} is larger than {MAX_EXPONENT:g}")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    raise ExpressionError(f"{ast.unparse(node)!r} is not allowed")


def parse_range(text: str) -> list[float]:
    """The values "low..high:count[:log]" stands for, in the order written (high..low counts
    down, which sets the order targets are calibrated in)."""
    bounds, *options = text.split(":")
    low_text, high_text = bounds.split("..", 1)
    usage = f"cannot read range {text!r}; write low..high:count or low..high:count:log, e.g. 0.001..0.1:5:log"
    spacing_ok = len(options) == 1 or (len(options) == 2 and options[1].strip() in SPACINGS)
    if "..." in bounds or not spacing_ok:
        raise ExpressionError(usage)
    try:
        count = int(options[0])
    except ValueError:
        raise ExpressionError(usage) from None
    if not 2 <= count <= MAX_TARGETS:
        raise ExpressionError(f"range {text!r}: count must be from 2 to {MAX_TARGETS}, got {count}")
    low, high = parse_value(low_text), parse_value(high_text)
    if low == high:
        raise ExpressionError(f"range {text!r}: both ends are {low:g}")
    if len(options) == 1:
        return [float(v) for v in np.linspace(low, high, count)]
    if low <= 0 or high <= 0:
        raise ExpressionError(f"range {text!r}: log spacing needs both ends > 0")
    return [float(v) for v in np.geomspace(low, high, count)]


def parse_assignments(text: str) -> list[dict[str, float]]:
    """Targets from "nu=0.02/pi,nu=0.005/pi": one dict of coefficient values per target."""
    groups: list[dict[str, list[float]]] = []
    for group in text.split(";"):
        current: dict[str, list[float]] = {}
        for item in filter(None, (part.strip() for part in group.split(","))):
            name, sep, value = item.partition("=")
            if not sep or not name.strip() or not value.strip():
                raise ExpressionError(f"cannot read {item!r}; write name=value, e.g. nu=0.01/pi")
            name = name.strip()
            if name in current:
                groups.append(current)
                current = {}
            current[name] = parse_range(value) if ".." in value else [parse_value(value)]
        if current:
            groups.append(current)
    if not groups:
        raise ExpressionError(f"no name=value pairs in {text!r}")
    total = sum(math.prod(len(values) for values in g.values()) for g in groups)
    if total > MAX_TARGETS:
        raise ExpressionError(f"{text[:60]!r} stands for {total:,} targets; at most {MAX_TARGETS} are run")
    return [dict(zip(g, values)) for g in groups for values in itertools.product(*g.values())]
