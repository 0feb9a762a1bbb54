"""The IR graph an import grows, and the layout of a traced tensor.

A traced tensor is an IR node's output per sample (shape ``S``) behind leading dims that
the IR does not have: ``"s"`` ``(B, *S)`` (a single-step network, run once per step),
``"m"`` ``(T, B, *S)`` (a multi-step network) or ``"f"`` ``(T·B, *S)`` (time flattened
into the batch, as models that apply plain ``torch.nn`` layers to sequences do). A
reshape that only merges or splits ``T`` and ``B`` changes the layout and adds no node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...errors import ModelError
from ...ir import nodes as N
from ...ir import tensors as T

__all__ = ["TV", "OneMinus", "TimeReduce", "Builder"]


@dataclass(frozen=True)
class TV:
    """A traced tensor: IR node ``name``'s output of per-sample shape ``shape`` in
    layout ``lead`` (``"s"``, ``"m"``, ``"f"``)."""

    name: str
    shape: tuple[int, ...]
    lead: str

    @property
    def nlead(self) -> int:
        return 2 if self.lead == "m" else 1


@dataclass(frozen=True)
class OneMinus:
    """``1 − x`` of a traced tensor: only a factor of SEW-ResNet's IAND ``(1 − a)·b``."""

    tv: TV


@dataclass(frozen=True)
class TimeReduce:
    """A sum or mean over the time axis (the readout): only the network's output."""

    tv: TV


@dataclass
class Builder:
    """IR nodes and edges, with the run's ``T`` and ``B`` (example batch)."""

    steps: int
    batch: int
    nodes: dict[str, N.Node] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, node: N.Node, *sources: TV) -> str:
        """Add ``node`` as ``name`` (made unique) fed by ``sources``; its name."""
        base, k = name, 1
        while name in self.nodes:
            k += 1
            name = f"{base}_{k}"
        self.nodes[name] = node
        self.edges.extend((s.name, name) for s in sources)
        return name

    def lead_sizes(self, lead: str) -> tuple[int, ...]:
        return {"s": (self.batch,), "m": (self.steps, self.batch),
                "f": (self.steps * self.batch,)}[lead]

    def reshape(self, tv: TV, out: tuple[int, ...], name: str, where: str) -> TV:
        """``tv`` reshaped to the torch shape ``out``: a layout change (T, B merged or
        split) and/or a Flatten or Reshape node of the per-sample shape."""
        lead = self._out_lead(tv, out, where)
        shape = tuple(out[len(self.lead_sizes(lead)):])
        if math.prod(shape) != math.prod(tv.shape):
            raise ModelError(f"{where}: the reshape to {tuple(out)} mixes the batch or time "
                             "axis with a sample's features; keep dims 0 (and 1 for a "
                             "(T, B, ...) sequence) as they are")
        if shape == tv.shape:
            return TV(tv.name, shape, lead)
        node = _flatten_of(tv.shape, shape) or T.Reshape(shape=shape)
        return TV(self.add(name, node, tv), shape, lead)

    def _out_lead(self, tv: TV, out: tuple[int, ...], where: str) -> str:
        t, b = self.steps, self.batch
        if tv.lead == "s" and out[:1] == (b,):
            return "s"
        if tv.lead in "mf" and tuple(out[:2]) == (t, b):
            return "m"
        if tv.lead in "mf" and out[:1] == (t * b,):
            return "f"
        raise ModelError(f"{where}: cannot follow the batch{'/time' * (tv.lead != 's')} "
                         f"axis through the reshape of {self.lead_sizes(tv.lead) + tv.shape} "
                         f"to {tuple(out)}; reshape only the per-sample dims")

    def permute(self, tv: TV, dims: tuple[int, ...], name: str, where: str) -> TV:
        """``tv.permute(dims)`` (torch dims): the leading dims must stay."""
        nl, nd = tv.nlead, tv.nlead + len(tv.shape)
        dims = tuple(d % nd for d in dims)
        if dims[:nl] != tuple(range(nl)):
            raise ModelError(f"{where}: the permutation {dims} moves the batch or time axis; "
                             "permute only the per-sample dims")
        axes = tuple(d - nl for d in dims[nl:])
        if axes == tuple(range(len(axes))):
            return tv
        shape = tuple(tv.shape[a] for a in axes)
        return TV(self.add(name, T.Transpose(axes=axes), tv), shape, tv.lead)

    def sample_axis(self, tv: TV, dim: int, where: str, what: str) -> int | None:
        """Torch ``dim`` as an axis of the per-sample shape; None for the time axis of a
        ``(T, B, ...)`` sequence; refused for the batch axis."""
        nd = tv.nlead + len(tv.shape)
        if not -nd <= dim < nd:
            raise ModelError(f"{where}: {what} over dim {dim} of a {nd}-D tensor")
        d = dim % nd
        if tv.lead == "m" and d == 0:
            return None
        if d < tv.nlead:
            raise ModelError(f"{where}: {what} over the batch axis (dim {d}) mixes samples; "
                             "reduce over a sample's dims or, for the readout, over time")
        return d - tv.nlead


def _flatten_of(src: tuple[int, ...], dst: tuple[int, ...]) -> N.Flatten | None:
    """A Flatten turning ``src`` into ``dst`` when one exists (NIR can write it)."""
    for s in range(len(src)):
        for e in range(s + 1, len(src)):
            if src[:s] + (math.prod(src[s:e + 1]),) + src[e + 1:] == dst:
                return N.Flatten(start_dim=s, end_dim=e)
    return None
