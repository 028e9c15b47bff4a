"""Fourier features where a family's data are multiscale, read from its declared conditions.

A tanh network of a few layers learns a few periods across its box readily and many slowly
(spectral bias; Rahaman et al. 2019, Wang, Wang, Perdikaris 2021). So where a condition's data
vary along an input with more than `CYCLES_WITHOUT_FEATURES` periods across the box, that input
gets Fourier features at the data's own frequencies (see `model.TanhNetwork`). The data are read
along lines through each face (`LINES` lines of `SAMPLES` points, the other inputs drawn at
random), windowed (Hann) and transformed; the frequencies kept are the spectrum's peaks above
`RELATIVE_PEAK` of its largest, at most `MAX_FREQUENCIES` per input.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from equations import DirichletCondition, Equation

#: Periods across the box that a plain input learns well (measured: 2 in Wave1d-C, solved to
#: 1e-3 without features; 10 in Heat2d-MS, not solved without them).
CYCLES_WITHOUT_FEATURES = 4.0
SAMPLES = 512
LINES = 4
RELATIVE_PEAK = 0.1
MAX_FREQUENCIES = 3


def data_frequencies(equation: Equation) -> tuple[tuple[float, ...], ...]:
    """For each input, the angular frequencies (in the network's scaled input h in [-1, 1]) of
    the Fourier features it gets: () where the data along it are not multiscale."""
    inputs = equation.inputs
    cycles: list[set[int]] = [set() for _ in inputs]
    rng = np.random.default_rng(0)
    for condition in equation.conditions():
        if not isinstance(condition, DirichletCondition):
            continue
        face_axis = inputs.index(condition.on)
        for axis, name in enumerate(inputs):
            if axis == face_axis:
                continue
            for at in condition.at:
                cycles[axis] |= _peaks(equation, condition, face_axis, at, axis, rng)
    frequencies = []
    for axis, found in enumerate(cycles):
        kept = sorted(c for c in found if c > CYCLES_WITHOUT_FEATURES)[-MAX_FREQUENCIES:]
        # c periods across the box are c periods over h's length of 2: w = pi c.
        frequencies.append(tuple(math.pi * c for c in kept))
    return tuple(frequencies)


def _peaks(equation: Equation, condition: DirichletCondition, face_axis: int, at: float, axis: int,
           rng: np.random.Generator) -> set[int]:
    """Periods across the box of the spectrum's peaks of the data along input `axis`."""
    lower = np.array([equation.domain[n][0] for n in equation.inputs], dtype=float)
    upper = np.array([equation.domain[n][1] for n in equation.inputs], dtype=float)
    along = lower[axis] + (upper[axis] - lower[axis]) * np.arange(SAMPLES) / SAMPLES
    window = np.hanning(SAMPLES)
    spectrum = np.zeros(SAMPLES // 2 + 1)
    for _ in range(LINES):
        points = np.tile(lower + (upper - lower) * rng.random(len(lower)), (SAMPLES, 1))
        points[:, face_axis], points[:, axis] = at, along
        with torch.no_grad():
            values = condition.value(torch.tensor(points, dtype=torch.float64, device="cpu")).double().cpu().numpy()
        for column in values.T:
            column = column - np.linspace(column[0], column[-1], SAMPLES)  # no jump at the ends
            spectrum += np.abs(np.fft.rfft(column * window))
    if not spectrum.max() > 0:
        return set()
    peaks = [k for k in range(1, len(spectrum) - 1)
             if spectrum[k] >= spectrum[k - 1] and spectrum[k] >= spectrum[k + 1]
             and spectrum[k] > RELATIVE_PEAK * spectrum.max()]
    return set(peaks)
