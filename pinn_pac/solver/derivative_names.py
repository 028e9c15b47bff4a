"""Derivative names: reading "u_xx", "u_x1_x2" as an output and the inputs taken, and writing them.

A derivative is named by its output, "_", then its inputs, one per order, in the order they
are taken: "u_x", "u_xx", "u_xt", "v_t", "u_xxxx", "rho_x1_x2"; orders one to four
(`MAX_ORDER`). The output is the longest output name that the name starts with, followed by
"_"; the rest is read as input names, with underscores between them optional. Each part
between underscores is an input's name, or input names written together that split into
inputs in one way only. So with inputs x and t, "u_xt" and "u_x_t" are one derivative; with
inputs x1 and x2, "u_x1x2", "u_x1_x2" and "u_x1x1x2" read as they look. A part that splits in
several ways is refused with the spellings to use instead (inputs a, ab, b: "u_abb" is
"u_ab_b" or "u_a_b_b"); a part that is an input's name is that input. Input names that
contain "_" cannot be read in a derivative's name.
"""

from __future__ import annotations

from dataclasses import dataclass

from equations.errors import InputError


#: The highest order of derivative that is read and computed.
MAX_ORDER = 4


@dataclass(frozen=True)
class Derivative:
    """A derivative such as "u_xx": output index, input indices (one per order)."""

    name: str
    output: int
    wrt: tuple[int, ...]


def parse_derivatives(
    names: tuple[str, ...], inputs: tuple[str, ...], outputs: tuple[str, ...]
) -> list[Derivative]:
    """Read names such as "u_x", "u_xx", "v_t", "u_xxxx", "u_x1_x2" against the equation's
    inputs and outputs (the naming is in this module's docstring)."""
    return [_parse(name, tuple(inputs), tuple(outputs)) for name in names]


def derivative_name(output: int, wrt: tuple[int, ...], inputs: tuple[str, ...], outputs: tuple[str, ...]) -> str:
    """A name `parse_derivatives` reads as this derivative, unique among them: the inputs
    written together where every input's name is one character ("u_xt"), else separated by
    underscores ("u_x1_x2")."""
    separator = "" if all(len(name) == 1 for name in inputs) else "_"
    return f"{outputs[output]}_{separator.join(inputs[i] for i in wrt)}"


def _parse(name: str, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> Derivative:
    def refuse(problem: str) -> InputError:
        return InputError(f"cannot read derivative {name!r} for inputs ({', '.join(inputs)}) and outputs "
                          f"({', '.join(outputs)}): {problem}")

    heads = [o for o in outputs if isinstance(name, str) and name.startswith(o + "_")]
    if not heads:
        raise refuse("a derivative is an output's name, '_' and the inputs, one per order, as in "
                     f"{derivative_name(0, (0, 0), inputs, outputs)!r}")
    output = max(heads, key=len)
    parts = name[len(output) + 1 :].split("_")
    if "" in parts:
        raise refuse("after the output's name and '_' come input names, separated by at most one '_'")
    wrt: list[int] = []
    order, at_least = 0, False  # the fewest inputs the name can be read as; whether some readings take more
    for position, part in enumerate(parts):
        count, readings, fewest = _readings(part, inputs)
        if not count:
            raise refuse(f"{part!r} is not one or more of the input names")
        order, at_least = order + fewest, at_least or count > 1
        if count > 1 and readings:
            spellings = ["_".join([output, *parts[:position], *(inputs[i] for i in reading), *parts[position + 1 :]])
                         for reading in readings]
            raise refuse(f"{part!r} splits into inputs in {count} ways; separate them by '_', "
                         f"as in {' or '.join(map(repr, spellings))}")
        wrt.extend(readings[0] if readings else ())
    if order > MAX_ORDER:
        raise refuse(f"it is of order {'at least ' if at_least else ''}{order}; derivatives of order 1 to "
                     f"{MAX_ORDER} are computed")
    return Derivative(name, outputs.index(output), tuple(wrt))


def _readings(part: str, inputs: tuple[str, ...]) -> tuple[int, list[tuple[int, ...]], int]:
    """How many ways there are of writing `part` as input names one after another (an
    input's own name is read as that input alone), those of them of at most `MAX_ORDER`
    names, and the fewest names a way takes. Longer ways are only counted, which keeps
    inputs that contain one another ("a", "aa") quick."""
    if part in inputs:
        return 1, [(inputs.index(part),)], 1
    count = [1] + [0] * len(part)  # for each end p, over the readings of part[:p]
    fewest = [0] + [len(part) + 1] * len(part)
    short: list[set[tuple[int, ...]]] = [{()}] + [set() for _ in part]
    for end in range(1, len(part) + 1):
        for k, input_name in enumerate(inputs):
            start = end - len(input_name)
            if not input_name or start < 0 or part[start:end] != input_name or not count[start]:
                continue
            count[end] += count[start]
            fewest[end] = min(fewest[end], fewest[start] + 1)
            short[end].update(reading + (k,) for reading in short[start] if len(reading) < MAX_ORDER)
    return count[-1], sorted(short[-1], key=lambda reading: (len(reading), reading)), fewest[-1]
