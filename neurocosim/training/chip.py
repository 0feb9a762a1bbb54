"""PRIME's prune-on-chip, chip side: random programming, read-back, RESET list, residuals.

* :func:`prime_network` — the IR of PRIME's classifier: input current → LIF hidden layer
  (leak keeps β of the membrane, hard reset, threshold θ) → leaky readout (LI), whose mean
  membrane is the evidence (DESIGN §3.5).
* :func:`program_random` — the chip's weights are the stochasticity of electroforming:
  every cell of every differential pair takes a random conductance
  ``N(g_mid, spread·Δ)`` clipped to the window, drawn per chip (seed); the decode scale
  makes the read-back weights ``N(0, σ_w)``.
* :func:`chip_weights` — the weight matrices the chip actually stores, read back from its
  programmed conductances (the weights mask learning works on; never changed).
* :func:`prune_chip` — write-once pruning: every cell pair (the macro's column layout,
  :class:`~neurocosim.devices.layout.ColumnLayout`) of a weight the mask drops is RESET;
  a RESET cell keeps a residual conductance ``G_reset`` (the macro's programming noise
  around ``g_min``), which the simulation reads. Returns the pruned chip, the RESET
  list (layer, tile, row, columns, input, output) and the number of RESET operations
  (cells above ``G_reset`` that need a pulse).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..devices.crossbar import encode_weights, program
from ..devices.layout import ColumnLayout
from ..devices.program import ProgrammedChip, program_chip
from ..errors import ConfigError, ModelError, short
from ..ir import nodes as N
from ..ir.graph import Network

__all__ = ["parse_random_spec", "prime_network", "program_random", "chip_weights", "prune_chip"]


def parse_random_spec(spec: str) -> list[int]:
    """``"random:64-256-10"`` → ``[64, 256, 10]``."""
    body = spec.removeprefix("random:")
    try:
        sizes = [int(s) for s in body.split("-")]
    except ValueError:
        raise ModelError(f"random network spec {short(spec)}: use random:IN-HIDDEN-OUT, e.g. "
                         "random:64-256-10") from None
    if len(sizes) != 3 or min(sizes) < 1:
        raise ModelError(f"random network spec {short(spec)}: three positive sizes IN-HIDDEN-OUT")
    from ..budget import check_memory

    n_in, n_h, n_out = sizes
    check_memory(8.0 * 4 * (n_in * n_h + n_h * n_out),
                 f"random network {short(spec)} ({n_in * n_h + n_h * n_out:.3g} synapses: "
                 "weights, scores, masks, gradients)", "choose smaller layer sizes")
    return sizes


def prime_network(sizes, *, dt: float = 1e-3, beta: float = 0.2, beta_out: float = 0.2,
                  theta: float = 0.5, rng: np.random.Generator, sigma: float = 0.3) -> Network:
    """PRIME's two-layer classifier with placeholder N(0, σ) weights (the chip's own
    programmed weights replace them)."""
    n_in, n_h, n_out = sizes
    tau, tau_o = dt / (1 - beta), dt / (1 - beta_out)
    return Network(
        nodes={"input": N.Input(shape=(n_in,)),
               "fc0": N.Linear(weight=rng.normal(0, sigma, (n_h, n_in))),
               "lif0": N.LIF(tau=tau, r=tau / dt, v_leak=0.0, v_threshold=theta, reset="zero"),
               "fc1": N.Linear(weight=rng.normal(0, sigma, (n_out, n_h))),
               "li1": N.LI(tau=tau_o, r=tau_o / dt, v_leak=0.0),
               "output": N.Output()},
        edges=(("input", "fc0"), ("fc0", "lif0"), ("lif0", "fc1"), ("fc1", "li1"),
               ("li1", "output")),
        dt=dt, name="prime-" + "-".join(map(str, sizes)))


def program_random(mapped, rng: np.random.Generator, *, spread: float = 0.15,
                   sigma_w: float = 0.3) -> ProgrammedChip:
    """Program every block with random (electroforming) conductances (differential pairs)."""
    macro = mapped.chip.macro
    if macro.weight_mapping != "differential" or macro.technology == "ideal":
        raise ModelError("random programming needs a non-ideal macro with differential pairs")
    base = program_chip(mapped, rng)  # mismatch draws and tile structure
    streams = rng.spawn(len(mapped.blocks))
    mid = 0.5 * (macro.g_min + macro.g_max)
    w_max = sigma_w / (math.sqrt(2.0) * spread)
    tiles = []
    for i, b in enumerate(mapped.blocks):
        enc = encode_weights(np.zeros((b.out_hi - b.out_lo, b.rows)), macro, w_max=w_max)
        g = np.clip(mid + spread * macro.g_range * streams[i].standard_normal(enc.g_target.shape),
                    macro.g_min, macro.g_max)
        tiles.append(dataclasses.replace(base.tiles[i], encoded=enc, g=g))
    return dataclasses.replace(base, tiles=tuple(tiles))


def chip_weights(programmed: ProgrammedChip) -> list[np.ndarray]:
    """Dense ``(n_out, n_in)`` weights of every op, decoded from the programmed cells."""
    mapped = programmed.mapped
    if programmed.ideal or any(t.encoded is None for t in programmed.tiles):
        raise ConfigError(f"chip '{mapped.chip.name}' has no programmable devices (an ideal "
                          "card): prune-on-chip needs a crossbar chip, e.g. prime-rram-40nm")
    out = []
    for op, sop in mapped.ops.items():
        if sop.kind != "dense":
            raise ModelError(f"prune-on-chip supports dense layers; '{op}' is {sop.kind}")
        w = np.zeros((sop.out_size, sop.in_size))
        for i, b in enumerate(mapped.blocks):
            if b.op != op:
                continue
            tile = programmed.tiles[i]
            w[b.out_lo:b.out_hi, b.row_lo:b.row_hi] = tile.encoded.weights(tile.g)
        out.append(w)
    return out


def prune_chip(programmed: ProgrammedChip, masks, rng: np.random.Generator):
    """RESET the cell pairs of every weight the mask drops; returns ``(chip, reset_list,
    ops)`` (one RESET-list entry per pair: a bit-sliced weight has one per slice)."""
    mapped = programmed.mapped
    macro = mapped.chip.macro
    layout = ColumnLayout.of(macro)
    if layout.shared:
        raise ModelError("prune-on-chip RESETs the cell pairs of a dropped weight; the offset "
                         "mapping keeps weights against a shared reference column (no pairs): "
                         "use a differential or bit-sliced macro")
    ops = list(mapped.ops)
    if len(masks) != len(ops):
        raise ModelError(f"{len(masks)} masks for {len(ops)} layers")
    tiles = list(programmed.tiles)
    reset_list = []
    n_ops = 0
    streams = rng.spawn(len(mapped.blocks))
    for i, b in enumerate(mapped.blocks):
        k = ops.index(b.op)
        mask = np.asarray(masks[k], bool)[b.out_lo:b.out_hi, b.row_lo:b.row_hi]  # (outs, rows)
        drop = ~mask
        if not drop.any():
            continue
        tile = tiles[i]
        g = tile.g.copy()
        pruned = np.zeros(g.shape, bool) if getattr(tile, "pruned", None) is None else tile.pruned.copy()
        outs, rows = np.nonzero(drop)
        cols_p, cols_n = (c.ravel() for c in layout.pair_columns(outs))  # pairs of each output
        rows = np.repeat(rows, layout.slices)
        # residual conductance after RESET: the programming noise around g_min
        resid, _, _ = program(np.full((2, len(rows)), macro.g_min), macro, streams[i])
        before = np.concatenate([g[rows, cols_p], g[rows, cols_n]])
        n_ops += int(np.count_nonzero(before > macro.g_min + 1e-12))
        g[rows, cols_p] = resid[0]
        g[rows, cols_n] = resid[1]
        pruned[rows, cols_p] = True
        pruned[rows, cols_n] = True
        kept = {}
        if getattr(tile, "g_programmed", None) is not None:
            # a per-inference read-noise card: RESET the written conductances too, so the
            # next inference draws its noise around them (not around this one's draw)
            gp = tile.g_programmed.copy()
            gp[rows, cols_p] = resid[0]
            gp[rows, cols_n] = resid[1]
            kept = {"g_programmed": gp, "inference_of": g}
        tiles[i] = dataclasses.replace(tile, g=g, pruned=pruned, **kept)
        for o, r, cp, cn in zip(np.repeat(outs, layout.slices), rows, cols_p, cols_n, strict=True):
            reset_list.append({"layer": b.op, "tile": b.tile, "row": int(r),
                               "col_pos": int(cp), "col_neg": int(cn),
                               "input": int(b.row_lo + r), "output": int(b.out_lo + o)})
    return dataclasses.replace(programmed, tiles=tuple(tiles)), reset_list, n_ops
