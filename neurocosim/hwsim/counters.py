"""Event counters of a run (DESIGN §3.6) and the ``results.npz`` file that stores them.

:class:`EventCounts` holds per-sample counters of every tile block and neuron layer;
:meth:`EventCounts.to_dict` gives the summaries a run's ``summary.json`` holds,
:meth:`EventCounts.save` writes ``results.npz`` (the counters beside the run's outputs)
and :meth:`EventCounts.load` reads the counters back, checking every field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .kernels import engine as K

__all__ = ["EventCounts", "BLOCK_COUNTERS", "LAYER_COUNTERS", "DIGITAL_COUNTERS",
           "GATE_COUNTERS"]

BLOCK_COUNTERS = ("rows_driven", "cell_reads", "conversions", "conversion_cycles",
                  "clipped_conversions", "accumulates", "reads", "active_inputs")
LAYER_COUNTERS = ("neuron_updates", "spikes", "packets", "packet_hops")
#: per digital node: comparisons of a max pool, multiply-adds of a BatchNorm (and of a
#: MatMul, L·M·K·N, and a Mul of non-binary operands, one per element), adds of an Add
#: (elements × (inputs − 1)), the (1 − a)·b of an IAnd (one per element), ANDs of a Mul
#: of two spike tensors (one per element), the bits added by a ReduceSum's adds (each add
#: as wide as its running sum: ceil(log2(k + 1)) bits at the k-th add over spikes, else
#: 8), the operand bits read and result bits written by Mul, ReduceSum and MatMul (1 per
#: binary element, else 8; :func:`~neurocosim.hwsim.digital_table.spike_ops`); Concat,
#: Reshape and Transpose move elements and count nothing
DIGITAL_COUNTERS = ("digital_comparisons", "digital_macs", "digital_adds", "digital_iands",
                    "digital_ands", "digital_add_bits", "digital_buffer_read_bits",
                    "digital_buffer_write_bits")
#: per Gate node (SEMM's router enable, :class:`~neurocosim.ir.tensors.Gate`): enables set
#: (Σ r over the run: expert activations) and enables clear (elements of r × steps − Σ r:
#: expert evaluations skipped)
GATE_COUNTERS = ("expert_active", "expert_skipped")
if len(BLOCK_COUNTERS) != K.N_BLOCK_COUNTERS or len(LAYER_COUNTERS) != K.N_LAYER_COUNTERS \
        or len(DIGITAL_COUNTERS) != K.N_DIGITAL_COUNTERS:
    raise ImportError("neurocosim bug: the counter names and the engine kernels' counter "
                      "arrays disagree (hwsim/counters.py vs hwsim/kernels/engine.py)")

_COUNT_KEYS = ("block", "layer", "input", "steps_used", "latency_s", "block_op", "block_tile",
               "block_outs", "layer_names")
#: optional: the digital nodes' counters (results files of runs with digital nodes) and
#: the gates' (runs with a Gate)
_DIGITAL_KEYS = ("digital", "digital_names", "gate", "gate_names")
#: the order of the arrays in a run's results.npz (the run's own arrays around the counters)
_RESULTS_ORDER = ("output", "steps_used", "predictions", "labels", "block", "layer", "input",
                  "latency_s", "block_op", "block_tile", "block_outs", "layer_names",
                  "digital", "digital_names", "gate", "gate_names", "adc_full_scale")


@dataclass(frozen=True, kw_only=True, eq=False)
class EventCounts:
    """Per-sample event counters (DESIGN §3.6).

    ``block[s, b, k]``: counter ``BLOCK_COUNTERS[k]`` of tile block ``b`` (its op is
    ``block_op[b]``, its tile ``block_tile[b]``, its outputs ``block_outs[b]``);
    ``rows_driven`` counts one row per level of a thermometer-coded input,
    ``active_inputs`` one per non-zero input; ``layer[s, l, k]``: ``LAYER_COUNTERS[k]``
    of neuron layer ``layer_names[l]``; ``input[s]``: host input packets and hops;
    ``steps[s]``: steps run; ``latency_s[s]``: critical-path latency of the run;
    ``digital[s, d, k]`` (optional): ``digital_counters[k]`` of digital node
    ``digital_names[d]`` (max-pool comparisons, BatchNorm multiply-adds, Add adds, IAnd
    operations; then, for a network holding a spike-spike primitive, its ANDs, add bits
    and buffer bits). ``digital_counters`` are the first ``digital.shape[2]`` of
    :data:`DIGITAL_COUNTERS`: the base four, or all of them (a run without Mul,
    ReduceSum or MatMul, and a results file written before they existed, has the four).
    ``gate[s, g, k]`` (optional, runs with a :class:`~neurocosim.ir.tensors.Gate`):
    :data:`GATE_COUNTERS` ``[k]`` of gate ``gate_names[g]``.
    """

    block: np.ndarray
    layer: np.ndarray
    input: np.ndarray
    steps: np.ndarray
    latency_s: np.ndarray
    block_op: tuple[str, ...]
    block_tile: np.ndarray
    block_outs: np.ndarray
    layer_names: tuple[str, ...]
    block_counters: tuple[str, ...] = BLOCK_COUNTERS
    layer_counters: tuple[str, ...] = LAYER_COUNTERS
    digital: np.ndarray | None = None
    digital_names: tuple[str, ...] = ()
    digital_counters: tuple[str, ...] = DIGITAL_COUNTERS
    gate: np.ndarray | None = None
    gate_names: tuple[str, ...] = ()

    @property
    def n_samples(self) -> int:
        return int(self.steps.shape[0])

    def totals(self) -> dict[str, float]:
        """Every counter summed over samples, blocks and layers."""
        out = {k: float(self.block[:, :, i].sum()) for i, k in enumerate(self.block_counters)}
        out.update({k: float(self.layer[:, :, i].sum()) for i, k in enumerate(self.layer_counters)})
        out["input_packets"] = float(self.input[:, 0].sum())
        out["input_hops"] = float(self.input[:, 1].sum())
        out["steps"] = float(self.steps.sum())
        if self.digital is not None:
            out.update({k: float(self.digital[:, :, i].sum())
                        for i, k in enumerate(self.digital_counters)})
        if self.gate is not None:
            out.update({k: float(self.gate[:, :, i].sum()) for i, k in enumerate(GATE_COUNTERS)})
        return out

    def by_op(self) -> dict[str, dict[str, float]]:
        """Block counters summed per synaptic op (layer of weights)."""
        return self._blocks_by(self.block_op)

    def by_tile(self) -> dict[int, dict[str, float]]:
        """Block counters summed per physical tile."""
        return self._blocks_by([int(t) for t in self.block_tile])

    def _blocks_by(self, keys) -> dict:
        out: dict = {}
        for b, key in enumerate(keys):
            d = out.setdefault(key, {k: 0.0 for k in self.block_counters})
            for i, k in enumerate(self.block_counters):
                d[k] += float(self.block[:, b, i].sum())
        return out

    def by_layer(self) -> dict[str, dict[str, float]]:
        return {name: {k: float(self.layer[:, j, i].sum()) for i, k in enumerate(self.layer_counters)}
                for j, name in enumerate(self.layer_names)}

    def by_digital(self) -> dict[str, dict[str, float]]:
        """Digital counters summed per digital node (empty when not counted)."""
        if self.digital is None:
            return {}
        return {name: {k: float(self.digital[:, j, i].sum())
                       for i, k in enumerate(self.digital_counters)}
                for j, name in enumerate(self.digital_names)}

    def by_gate(self) -> dict[str, dict[str, float]]:
        """Gate counters (expert activations, skipped) summed per Gate node."""
        if self.gate is None:
            return {}
        return {name: {k: float(self.gate[:, j, i].sum()) for i, k in enumerate(GATE_COUNTERS)}
                for j, name in enumerate(self.gate_names)}

    def synaptic_events(self) -> float:
        """Cell reads: driven rows × columns of every read (the engine's synaptic events)."""
        return float(self.block[:, :, 1].sum())

    def to_dict(self) -> dict[str, Any]:
        """The counters' summaries, as a run's ``summary.json`` holds them."""
        return {"synaptic_events": self.synaptic_events(),
                "latency_per_inference_s": float(np.mean(self.latency_s)),
                "counters": self.totals(), "counters_by_op": self.by_op(),
                "counters_by_layer": self.by_layer(),
                **({"counters_by_digital_node": self.by_digital()}
                   if self.digital is not None else {}),
                **({"counters_by_gate": self.by_gate()} if self.gate is not None else {})}

    def arrays(self) -> dict[str, np.ndarray]:
        """The counters as named arrays (the keys :meth:`load` reads back)."""
        return {"block": self.block, "layer": self.layer, "input": self.input,
                "steps_used": self.steps, "latency_s": self.latency_s,
                "block_op": np.array(self.block_op, dtype=str), "block_tile": self.block_tile,
                "block_outs": self.block_outs, "layer_names": np.array(self.layer_names, dtype=str),
                **({"digital": self.digital, "digital_names": np.array(self.digital_names, dtype=str)}
                   if self.digital is not None else {}),
                **({"gate": self.gate, "gate_names": np.array(self.gate_names, dtype=str)}
                   if self.gate is not None else {})}

    def save(self, path: str | Path, **extra_arrays: Any) -> None:
        """Write ``results.npz``: the counters and the run's ``extra_arrays`` (output,
        predictions, labels, adc_full_scale)."""
        arrays = {**extra_arrays, **self.arrays()}
        rank = {k: i for i, k in enumerate(_RESULTS_ORDER)}
        names = sorted(arrays, key=lambda k: rank.get(k, len(rank)))
        np.savez(path, **{k: arrays[k] for k in names})

    @classmethod
    def load(cls, path: str | Path) -> EventCounts:
        """Counters from a ``results.npz`` a run wrote; a damaged file → DataError."""
        from ..frontends.npz import load_npz_arrays

        path = Path(path)
        a = load_npz_arrays(path, what="results file", error=DataError,
                            keys=_COUNT_KEYS + _DIGITAL_KEYS, required=_COUNT_KEYS)
        _check_arrays(path, a)
        digital = _check_digital(path, a) | _check_gate(path, a)
        return cls(block=a["block"].astype(float), layer=a["layer"].astype(float),
                   input=a["input"].astype(float), steps=a["steps_used"].astype(np.int64),
                   latency_s=a["latency_s"].astype(float),
                   block_op=tuple(a["block_op"].tolist()),
                   block_tile=a["block_tile"].astype(np.int64),
                   block_outs=a["block_outs"].astype(np.int64),
                   layer_names=tuple(a["layer_names"].tolist()),
                   **digital)


def _check_arrays(path: Path, a: dict[str, np.ndarray]) -> None:
    """Shapes, number types and values of the counter arrays of a results file."""
    n = a["steps_used"].shape[0] if a["steps_used"].ndim == 1 else -1
    nb, nl = a["block_op"].shape[0] if a["block_op"].ndim == 1 else -1, \
        a["layer_names"].shape[0] if a["layer_names"].ndim == 1 else -1
    want = {"block": (n, nb, len(BLOCK_COUNTERS)), "layer": (n, nl, len(LAYER_COUNTERS)),
            "input": (n, 2), "steps_used": (n,), "latency_s": (n,), "block_tile": (nb,),
            "block_outs": (nb,)}
    for k, shape in want.items():
        if a[k].shape != shape or a[k].dtype.kind not in "iuf":
            raise DataError(f"{path}: field '{k}' has shape {a[k].shape} ({a[k].dtype}); "
                            f"expected {shape} numbers; the file is damaged")
        if not (np.isfinite(a[k]).all() and (a[k] >= 0).all() and (a[k] <= 1e18).all()):
            raise DataError(f"{path}: field '{k}' holds negative, NaN, infinite or absurdly "
                            "large (> 1e18) counts; the file is damaged")
    if a["block_op"].dtype.kind != "U" or a["layer_names"].dtype.kind != "U":
        raise DataError(f"{path}: fields 'block_op'/'layer_names' must be strings")


def _check_digital(path: Path, a: dict[str, np.ndarray]) -> dict:
    """The optional digital counters of a results file (both keys or neither)."""
    if "digital" not in a and "digital_names" not in a:
        return {}
    if "digital" not in a or "digital_names" not in a:
        raise DataError(f"{path}: fields 'digital' and 'digital_names' come together; the "
                        "file is damaged")
    d, names = a["digital"], a["digital_names"]
    n = a["steps_used"].shape[0]
    if names.ndim != 1 or names.dtype.kind != "U" or d.dtype.kind not in "iuf" \
            or d.ndim != 3 or d.shape[:2] != (n, names.shape[0]) \
            or d.shape[2] != K.N_DIGITAL_COUNTERS:
        raise DataError(f"{path}: field 'digital' has shape {d.shape} ({d.dtype}); expected "
                        f"({n}, digital nodes, {K.N_DIGITAL_COUNTERS}) numbers named by "
                        "'digital_names'; the file is damaged")
    if not (np.isfinite(d).all() and (d >= 0).all() and (d <= 1e18).all()):
        raise DataError(f"{path}: field 'digital' holds negative, NaN, infinite or absurdly "
                        "large (> 1e18) counts; the file is damaged")
    return {"digital": d.astype(float), "digital_names": tuple(names.tolist())}


def _check_gate(path: Path, a: dict[str, np.ndarray]) -> dict:
    """The optional gate counters of a results file (both keys or neither)."""
    if "gate" not in a and "gate_names" not in a:
        return {}
    d, names = a.get("gate"), a.get("gate_names")
    n = a["steps_used"].shape[0]
    if d is None or names is None or names.ndim != 1 or names.dtype.kind != "U" \
            or d.dtype.kind not in "iuf" or d.shape != (n, names.shape[0], len(GATE_COUNTERS)):
        raise DataError(f"{path}: fields 'gate' and 'gate_names' must come together, 'gate' "
                        f"of shape ({n}, gates, {len(GATE_COUNTERS)}) numbers named by "
                        "'gate_names'; the file is damaged")
    if not (np.isfinite(d).all() and (d >= 0).all() and (d <= 1e18).all()):
        raise DataError(f"{path}: field 'gate' holds negative, NaN, infinite or absurdly "
                        "large (> 1e18) counts; the file is damaged")
    return {"gate": d.astype(float), "gate_names": tuple(names.tolist())}
