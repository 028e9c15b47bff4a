"""Values computed once per point set and kept while a loss's points stay the same."""

from __future__ import annotations

from collections import OrderedDict

import torch

#: Point sets a cache keeps (a loss's points between redraws, a few evaluation sets).
CACHED_POINT_SETS = 16


class PointSetCache:
    """Values computed once per point set (a points tensor, by identity), for the last
    `CACHED_POINT_SETS` sets: what fixed functions give at a loss's points between redraws."""

    def __init__(self) -> None:
        self._values: OrderedDict[int, tuple[torch.Tensor, object]] = OrderedDict()

    def get(self, points: torch.Tensor):
        """What was stored for `points`, or None."""
        cached = self._values.get(id(points))
        return cached[1] if cached is not None and cached[0] is points else None

    def put(self, points: torch.Tensor, value: object) -> None:
        self._values[id(points)] = (points, value)
        while len(self._values) > CACHED_POINT_SETS:
            self._values.popitem(last=False)
