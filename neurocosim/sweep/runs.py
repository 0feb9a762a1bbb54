"""The runs of a study, enumerated lazily: a run index decodes into its grid point, random
sample and seed (mixed radix: seeds vary fastest, then the random samples, then the last
grid key). Random sample ``j`` is drawn from its own stream
(``SeedSequence(random.seed, spawn_key=(j,))``), so any run can be built alone."""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["RunSpec", "Runs", "draw_random", "is_range"]


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """One run: its index in the study, its parameter values and seed (``draw``: the
    random sample it uses, for studies with ``random:``)."""

    index: int
    params: Mapping[str, Any]
    seed: int
    draw: int | None = None

    @property
    def run_id(self) -> str:
        body: dict[str, Any] = {"params": dict(self.params), "seed": self.seed}
        if self.draw is not None:  # two random samples may draw the same values
            body["draw"] = self.draw
        blob = json.dumps(body, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


class Runs(Sequence):
    """The runs of a study, built on demand from their index (never stored as a list)."""

    def __init__(self, grid: tuple[tuple[str, tuple], ...], random: dict | None,
                 seeds: Sequence[int]) -> None:
        self._grid = grid
        self._random = random
        self._seeds = seeds
        self._n_grid = math.prod(len(v) for _, v in grid)
        self._n_random = random["n"] if random else 1
        self._n_seeds = seeds.stop if isinstance(seeds, range) else len(seeds)
        #: the number of runs (a Python int: ``len()`` is limited to sys.maxsize)
        self.count = self._n_grid * self._n_random * self._n_seeds
        self._len = self.count

    def __len__(self) -> int:
        return self._len

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Runs):
            return NotImplemented
        return (self._grid, self._random, self._seed_key()) == (
            other._grid, other._random, other._seed_key())

    def _seed_key(self) -> object:
        return self._seeds if isinstance(self._seeds, range) else tuple(self._seeds)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self._len:,} runs>"

    def __iter__(self) -> Iterator[RunSpec]:
        for i in range(self._len):
            yield self._build(i)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._build(k) for k in range(*i.indices(self._len))]
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"run indices are integers, not {type(i).__name__}")
        i = int(i)
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(f"run index {i} out of range (the study has {self._len} runs)")
        return self._build(i)

    def _build(self, i: int) -> RunSpec:
        point, s = divmod(i, self._n_seeds)
        g, j = divmod(point, self._n_random)
        values = []
        for _, vals in reversed(self._grid):  # the last grid key varies fastest
            g, r = divmod(g, len(vals))
            values.append(vals[r])
        params = {k: copy.deepcopy(v) for (k, _), v in zip(self._grid, reversed(values),
                                                            strict=True)}
        draw = None
        if self._random:
            params.update(draw_random(self._random, j))
            draw = j
        return RunSpec(index=i, params=params, seed=int(self._seeds[s]), draw=draw)


def draw_random(spec: Mapping[str, Any], j: int) -> dict[str, Any]:
    """Random sample ``j`` of a study's ``random:`` block (its own stream, so any sample
    can be drawn alone): ``[low, high]`` numbers are uniform (integers inclusive), other
    lists are choices."""
    rng = np.random.default_rng(np.random.SeedSequence(spec["seed"], spawn_key=(j,)))
    out: dict[str, Any] = {}
    for k, choice in spec["params"]:
        if is_range(choice):
            lo, hi = choice
            out[k] = int(rng.integers(lo, hi + 1)) if isinstance(lo, int) and isinstance(hi, int) \
                else float(rng.uniform(lo, hi))
        else:
            out[k] = copy.deepcopy(choice[int(rng.integers(len(choice)))])
    return out


def is_range(spec: Any) -> bool:
    """A ``random:`` value given as ``[low, high]`` numbers (a range, not two choices)."""
    return isinstance(spec, list) and len(spec) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec)
