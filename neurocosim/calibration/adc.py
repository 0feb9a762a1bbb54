"""ADC range calibration: per tile block, a percentile of the column currents it carries
on calibration data (DESIGN §3.4: "full-scale range (calibrated)").

The float reference runs the calibration inputs; every synaptic op's input at every step
is replayed through each of its blocks' programmed conductances (no read noise): the
currents of binary reads, of each level of a thermometer-coded multi-level input, or of
a DAC-quantised analog input. The full scale of a block is the ``percentile`` of its
non-zero column currents (:func:`~neurocosim.devices.crossbar.calibrate_adc_range`), at
the chip's read time (``programmed.operating_point.read_time``, drift). The result is the
chip at that operating point: ``programmed.at(adc_full_scale=ranges,
dac_full_scale=scales)``, where an op whose fractional inputs exceed 1 (a Linear head after
a token mean of multi-level spikes) gets an input scale (:func:`input_scale`) that brings
them into the DAC's [0, 1].
"""

from __future__ import annotations

import numpy as np

from ..devices.crossbar import calibrate_adc_range, drifted
from ..devices.program import ProgrammedChip
from ..errors import DataError
from ..hwsim.encoders import Encoder
from ..hwsim.reference import node_forward, simulate
from ..mapping.lowering import gather_inputs

__all__ = ["calibrate_adc_ranges"]


def calibrate_adc_ranges(programmed: ProgrammedChip, encoder: Encoder, steps: int, *,
                         percentile: float = 99.99, max_samples: int = 64) -> ProgrammedChip:
    """``programmed`` at the operating point with calibrated ADC ranges: per block, the
    full scale (amperes) from a calibration run at the chip's read time (the ranges:
    ``.operating_point.adc_full_scale``)."""
    mapped = programmed.mapped
    net = mapped.network
    seen: dict[str, list[np.ndarray]] = {op: [] for op in mapped.ops}

    def hook(name, x):
        seen[name].append(np.asarray(x, float).reshape(len(x), -1).copy())
        return node_forward(net.nodes[name], x, net.in_shapes[name], net.out_shapes[name])

    simulate(net, encoder.head(min(encoder.n_samples, max_samples)), steps, synapses=hook)
    fs, ds = np.zeros(len(mapped.blocks)), np.ones(len(mapped.blocks))
    scale = {op: input_scale(np.concatenate(xs) if xs else np.zeros((0, 1)))
             for op, xs in seen.items()}
    for bi, tile in enumerate(programmed.tiles):
        if tile is not None:
            op = mapped.blocks[bi].op
            xs = np.concatenate(seen[op]) if seen[op] else np.zeros((0, 1))
            ds[bi] = scale[op]
            fs[bi] = _block_range(programmed, bi, xs / scale[op], percentile)
    return programmed.at(adc_full_scale=fs, dac_full_scale=ds)


def input_scale(xs: np.ndarray) -> float:
    """The DAC input full scale of an op whose inputs on the calibration data are ``xs``:
    1 for binary, multi-level integer (thermometer-coded) or [0, 1] inputs, else the
    smallest power of two holding the largest fractional input (the chip shifts the
    digital value into the DAC's range and the partial sums back: exact)."""
    if xs.size == 0 or np.all(xs == np.floor(xs)) or xs.max() <= 1.0:
        return 1.0
    return float(2.0 ** np.ceil(np.log2(xs.max())))


def _block_range(programmed: ProgrammedChip, bi: int, xs: np.ndarray, percentile: float) -> float:
    """Full scale of block ``bi`` from its op's inputs ``xs`` (one row per sample and step)."""
    mapped = programmed.mapped
    macro = mapped.chip.macro
    volt = macro.read_voltage
    levels = 2**macro.dac_bits - 1
    g = drifted(programmed.tiles[bi], programmed.operating_point.read_time)
    b = mapped.blocks[bi]
    grp = mapped.ops[b.op].groups[b.group]
    reads = np.flatnonzero(grp.region == b.region)
    idx = grp.gather[np.ix_(reads, np.arange(b.row_lo, b.row_hi))]
    if xs.size == 0:
        return float((volt * g).sum(axis=0).max())
    rows = gather_inputs(xs, idx).reshape(-1, idx.shape[1])  # (samples*steps*reads, rows)
    rows = rows[np.any(rows != 0, axis=1)]
    if rows.size == 0:
        return float((volt * g).sum(axis=0).max())
    integer = np.all((rows >= 0) & (rows == np.floor(rows)))
    if integer:
        top = int(rows.max())
        drives = [(rows >= k).astype(float) for k in range(1, top + 1)]
    else:
        if rows.min() < 0 or rows.max() > 1:
            raise DataError(f"block {bi} of '{b.op}': analog inputs outside [0, 1]")
        if macro.serial_bits:  # bit-serial: each read drives one bit plane of the codes
            codes = np.round(rows * (2**macro.serial_bits - 1)).astype(np.int64)
            drives = [((codes >> k) & 1).astype(float) for k in range(macro.serial_bits)]
        else:
            drives = [np.round(rows * levels) / levels]
    cur = np.concatenate([(volt * d) @ g for d in drives])
    return calibrate_adc_range(cur[cur > 0], percentile)
