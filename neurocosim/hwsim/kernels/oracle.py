r"""NumPy twins of the engine's serial kernels (DESIGN §4.5, the STUMPY pattern).

Every serial kernel of :mod:`neurocosim.hwsim.kernels.engine` has a vectorised NumPy
twin here, written from the semantics (DESIGN §3.2–3.6, the record docs of
:mod:`neurocosim.hwsim.tables`, the device models of :mod:`neurocosim.devices`), not from
the kernels' loops, so that tests can compare the two value by value
(``tests/hwsim/test_oracles.py``):

* :func:`neuron_step` — ``neuron_eval``: one step of a neuron layer of a ``Neurons``
  record (every model, both resets, both threshold tests, integer spikes);
* :func:`csr_step` — ``csr_eval``: a digital node of a ``Digital`` record (sum,
  max, scale-and-shift, permutation, IAnd or Mul mode);
* :func:`matmul_step` — ``matmul_eval``: a MatMul of a ``Digital`` record;
* :func:`stack_inputs` — ``stack_inputs``: the input of a node with ordered inputs;
* :func:`stop_decision` — ``_stop``: the early-stop test of a ``Policy`` record;
* :class:`CrossbarOracle` — ``syn_eval``: a synaptic op read on the programmed chip
  itself (its tiles, operating point and card; independent of how the engine's tables
  store them): row drive (thermometer code for integer inputs, one per sign for signed
  ones, DAC for analog ones),
  conductances at the read time (drift, drift compensation), aggregated read noise,
  ADC with clipping, decoding of every column layout, and every counter of every read.

Sums are taken in another order than the kernels' (matrix products), so the crossbar
twin agrees to rounding; the neuron, digital and stop twins repeat the kernels' float
operations element by element and agree exactly (the stop test up to the last bit of a
softmax sum, reported by its slack).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...devices.noise import READ_NOISE
from ...errors import SimulationError
from ...mapping.lowering import GATHER_ONE, GATHER_PAD
from . import engine as K

__all__ = ["neuron_step", "csr_step", "matmul_step", "stack_inputs", "stop_decision", "read_sigma",
           "BlockModel", "BlockReads", "OpRead", "CrossbarOracle"]


# -- neuron layers -------------------------------------------------------------------
def neuron_step(neu, k: int, v: np.ndarray, cur: np.ndarray, x: np.ndarray):
    r"""One step of neuron layer ``k`` of the ``Neurons`` record ``neu``.

    .. math::
        i &\leftarrow i + \alpha_{syn}(w_{in} I - i) \quad \text{(CubaLIF, CubaLI)} \\
        v &\leftarrow v + \alpha (v_{leak} - v) + g I \quad (v \leftarrow v + g I
        \text{ for IF})

    then LI/CubaLI output ``v``; ILIF emits :math:`s = \mathrm{rint}(\mathrm{clip}(v /
    \theta, 0, D))` and subtracts :math:`s\theta`; a ternary layer (``T_TLIF``) emits +1
    at ``v > θ`` and −1 at ``v < −θ⁻`` (``>=``/``<=`` when ``ge``), resets to ``v_reset``
    or subtracts ``s·θ±`` and counts ``|s|``; the others spike at ``v > θ`` (``>=``
    when ``ge``) and reset to ``v_reset`` or subtract ``θ``.

    ``v``, ``cur``: the states of every neuron (``(neu.count,)``, not changed); ``x``:
    the layer's input ``(n,)``. Returns ``(y, v, cur, spikes)`` with new state arrays.
    """
    lo, n = int(neu.off[k]), x.shape[0]
    sl = slice(lo, lo + n)
    ntype = int(neu.type[k])
    v, cur = v.copy(), cur.copy()
    drive = x
    if ntype in (K.T_CUBALIF, K.T_CUBALI):
        cur[sl] = cur[sl] + neu.asyn[sl] * (neu.win[sl] * x - cur[sl])
        drive = cur[sl]
    vk = v[sl]
    if ntype == K.T_IF:
        vk = vk + neu.gain[sl] * drive
    else:
        vk = vk + (neu.alpha[sl] * (neu.vleak[sl] - vk) + neu.gain[sl] * drive)
    vth = neu.vth[sl]
    if ntype in (K.T_LI, K.T_CUBALI):
        v[sl] = vk
        return vk.copy(), v, cur, 0.0
    if ntype == K.T_ILIF:
        s = np.rint(np.clip(vk / vth, 0.0, neu.maxlvl[k]))
        v[sl] = vk - s * vth
        return s.astype(x.dtype), v, cur, float(s.sum())
    if ntype == K.T_TLIF:  # ternary: +1 beyond θ⁺, −1 beyond −θ⁻, the side's reset
        vn = neu.vthn[sl]
        pos, neg = (vk >= vth, vk <= -vn) if neu.ge[k] else (vk > vth, vk < -vn)
        if neu.reset[k]:
            vk = np.where(pos, vk - vth, np.where(neg, vk + vn, vk))
        else:
            vk = np.where(pos | neg, neu.vreset[sl], vk)
        v[sl] = vk
        s = pos.astype(x.dtype) - neg.astype(x.dtype)
        return s, v, cur, float((pos | neg).sum())
    fire = vk >= vth if neu.ge[k] else vk > vth
    if neu.reset[k]:
        vk = np.where(fire, vk - vth, vk)
    else:
        vk = np.where(fire, neu.vreset[sl], vk)
    v[sl] = vk
    return fire.astype(x.dtype), v, cur, float(fire.sum())


# -- digital nodes -------------------------------------------------------------------
def csr_step(dig, k: int, x: np.ndarray, n_out: int) -> np.ndarray:
    """Digital node ``k`` of the ``Digital`` record ``dig``, by its mode.

    ``DG_SUM``: ``y = (A @ x) / div``, each row's products added left to right from 0
    (vectorised over rows, one column of the padded product matrix at a time), then
    divided by the window size of an average pool (``div``; 1: no division).
    ``DG_AFFINE``: ``y = A @ x + bias`` (the node's rows of ``bias``). ``DG_MAX``: the
    largest input among each row's columns (a max pool's window; padding is −inf).
    ``DG_PERM``: the input at each row's column (a permutation). ``DG_IAND``:
    ``(1 − a)·b`` with ``a``, ``b`` the inputs at each row's first and second column;
    ``DG_MUL``: their product ``a·b``."""
    ip0, nz0 = int(dig.iptr_off[k]), int(dig.nnz_off[k])
    ptr = dig.indptr[ip0:ip0 + n_out + 1]
    mode = int(dig.mode[k])
    if mode in (K.DG_PERM, K.DG_IAND, K.DG_MUL):
        first = dig.indices[nz0 + ptr[:-1]]
        if mode == K.DG_PERM:
            return x[first].copy()
        a, b = x[first].astype(np.float64), x[dig.indices[nz0 + ptr[:-1] + 1]]
        if mode == K.DG_MUL:
            return x[first] * b
        return ((1.0 - a) * b.astype(np.float64)).astype(x.dtype)  # the kernel's 1.0 is a double
    counts = np.diff(ptr)
    width = int(counts.max(initial=0))
    pos = ptr[:-1, None] + np.arange(width)[None, :]
    live = np.arange(width)[None, :] < counts[:, None]
    pos = np.where(live, pos, 0) + nz0
    if mode == K.DG_MAX:
        win = np.where(live, x[dig.indices[pos]], -np.inf)
        return win.max(axis=1, initial=-np.inf).astype(x.dtype)
    prod = np.where(live, dig.data[pos] * x[dig.indices[pos]], 0.0)
    out = np.result_type(dig.data, x)
    acc = np.zeros(n_out)  # float64, as the kernel's accumulator (float32 tables too)
    for j in range(width):
        acc = acc + prod[:, j]
    if mode == K.DG_AFFINE:
        r0 = int(dig.row_off[k])
        return (acc + dig.bias[r0:r0 + n_out]).astype(out)
    div = dig.div[k]
    return (acc / div if div != 1.0 else acc).astype(out)


def matmul_step(dig, k: int, x: np.ndarray) -> np.ndarray:
    """``matmul_eval``: MatMul ``k`` of the ``Digital`` record ``dig`` on its stacked
    input ``x`` = ``[a; b]`` (flat), sizes ``(L, M, K, N)`` = ``dig.mm[k]``: the batched
    product ``a @ b`` with each output's terms added in increasing ``k`` from 0 (terms
    of a zero ``a`` element left out, as they add nothing to a finite sum), then times
    ``dig.scale[k]`` in float64 and rounded to ``x``'s dtype. Returns ``(L·M·N,)``."""
    lead, m, kk, n = (int(v) for v in dig.mm[k])
    a = x[:lead * m * kk].reshape(lead, m, kk)
    b = x[lead * m * kk:lead * m * kk + lead * kk * n].reshape(lead, kk, n)
    acc = np.zeros((lead, m, n), x.dtype)
    for q in range(kk):
        aq = a[:, :, q:q + 1]
        acc = np.where(aq != 0, acc + aq * b[:, q:q + 1, :], acc)
    return (acc.astype(np.float64) * np.float64(dig.scale[k])).astype(x.dtype).reshape(-1)


def stack_inputs(topo, n: int, val: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """``stack_inputs``: the input of node ``n`` (with ordered inputs) of the ``Topology``
    record ``topo`` — its sources' values (``prev`` along a back edge) joined in edge order. ``val``/``prev``: every node's values of this/last step."""
    parts = []
    for e in range(int(topo.e_ptr[n]), int(topo.e_ptr[n + 1])):
        s = int(topo.e_src[e])
        lo = int(topo.off[s])
        parts.append((prev if topo.e_back[e] else val)[lo:lo + int(topo.size[s])])
    return np.concatenate(parts)


# -- early stop ----------------------------------------------------------------------
def stop_decision(pol, evid_mean: bool, cum: np.ndarray, t: int):
    """The early-stop test of the ``Policy`` record ``pol`` after step ``t``, for every
    row of ``cum`` (``(..., n_out)`` cumulative outputs).

    Evidence ``e = cum · (1 / (t + 1))`` (``evid_mean``) or ``cum``; ``confidence``: stop when
    the top-1 probability of ``softmax(e / T)`` exceeds θ; ``margin``: when top-1 minus
    top-2 evidence is at least ``m``; never before ``min_steps`` steps. Returns ``(stop,
    slack)``: the decisions and their distance from the boundary (``p − θ`` or
    ``top1 − top2 − m``; ``inf`` when no test is made)."""
    cum = np.asarray(cum, float)
    lead = cum.shape[:-1]
    if pol.code == 0 or t + 1 < pol.min_steps or pol.code not in (1, 2):
        return np.zeros(lead, bool), np.full(lead, np.inf)
    e = cum * (1.0 / (t + 1)) if evid_mean else cum
    srt = np.sort(e, axis=-1)
    top1 = srt[..., -1]
    top2 = srt[..., -2] if e.shape[-1] > 1 else np.full(lead, -np.inf)
    if pol.code == 1:
        z = np.cumsum(np.exp((e - top1[..., None]) / pol.temp), axis=-1)[..., -1]
        p = 1.0 / z
        return p > pol.theta, p - pol.theta
    gap = top1 - top2
    return gap >= pol.margin, gap - pol.margin


# -- crossbar reads ------------------------------------------------------------------
def read_sigma(macro, g: np.ndarray) -> np.ndarray:
    """σ (siemens) of one read of cells of conductance ``g``: the card's read-noise model."""
    return READ_NOISE[macro.read_noise.model].sigma(g, macro.resolved("read"))


@dataclass(frozen=True, kw_only=True, eq=False)
class BlockModel:
    """One tile block (mapped-block ``index``) as the semantics read it.

    ``gather`` ``(reads, rows)``: the op input of each row (``GATHER_PAD``: never
    driven, also for a row prune-on-chip RESET; ``GATHER_ONE``: the bias row, 1);
    ``scatter`` ``(reads, outs)``: the op output of each output. An ideal block has
    ``weight`` ``(rows, outs)``; a programmed one ``g`` ``(rows, cols)`` at the read
    time, the read-noise variance ``s2`` per cell (None: no read noise), ``decode``
    ``(cols, outs)`` (outputs = column currents ``@ decode``, in weight units, drift
    compensation included), ADC ``bits`` (0: none), full scale ``fs`` (A) and conversion
    ``cycles`` per read.
    """

    index: int
    op: str
    tile: int
    gather: np.ndarray
    scatter: np.ndarray
    weight: np.ndarray | None = None
    g: np.ndarray | None = None
    s2: np.ndarray | None = None
    decode: np.ndarray | None = None
    bits: int = 0
    fs: float = 0.0
    cycles: int = 0

    @property
    def cols(self) -> int:
        return int(self.weight.shape[1] if self.g is None else self.g.shape[1])

    @property
    def outs(self) -> int:
        return int(self.scatter.shape[1])


@dataclass(frozen=True, kw_only=True, eq=False)
class BlockReads:
    """What one op input makes a block do: its array reads (one per thermometer level
    of an integer input, positive levels then negative ones, one through the DAC for an
    analog one; ideal: one per read).

    ``read_of`` ``(L,)``: the read (row of ``gather``) of each array read; ``drive``
    ``(L, rows)``: row drive in input units (0/1 per level, or the DAC value; an ideal
    block's signed inputs); ``sign`` ``(L,)``: +1, or −1 for a negative level, whose
    decoded outputs are subtracted;
    ``rows`` ``(L,)``: rows driven by each array read; ``inputs``: non-zero inputs of
    the reads that happen; ``active``: reads with one; ``mean``/``var`` ``(L, cols)``: column currents (A) without read noise and their
    read-noise variance (programmed blocks); ``part`` ``(L, outs)``: an ideal block's
    outputs."""

    block: BlockModel
    read_of: np.ndarray
    drive: np.ndarray
    sign: np.ndarray
    rows: np.ndarray
    inputs: int
    active: int
    mean: np.ndarray | None = None
    var: np.ndarray | None = None
    part: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.read_of.shape[0])


@dataclass(frozen=True, kw_only=True, eq=False)
class OpRead:
    """The result of an op: ``y`` ``(samples, out_size)``, ``counters`` ``(samples,
    blocks, K.N_BLOCK_COUNTERS)`` indexed by mapped block, ``tile_time`` ``(tiles,)`` (s),
    ``code`` (``E_OK`` or ``E_DAC``; on ``E_DAC`` nothing else is meaningful)."""

    y: np.ndarray
    counters: np.ndarray
    tile_time: np.ndarray
    code: int


def _drifted(tile, t: float) -> np.ndarray:
    """``g·((t + t0)/t0)^−ν`` per cell; stuck cells keep their conductance."""
    if tile.nu is None or t == 0:
        return tile.g
    g = tile.g * ((t + tile.t0) / tile.t0) ** (-tile.nu)
    return g if tile.stuck is None else np.where(tile.stuck != 0, tile.g, g)


class CrossbarOracle:
    """``syn_eval``'s twin on a programmed chip (see the module docstring).

    Semantics (DESIGN §3.4, §3.6): a read of a block with at least one non-zero row
    input drives those rows. A read whose non-zero inputs are all integers is a
    thermometer code per sign: level ``l = 1 .. max`` reads the rows whose input is
    ``≥ l`` at 1, then negative level ``l = 1 .. max(−x)`` the rows whose input is
    ``≤ −l`` at 1, its decoded outputs subtracted (a ±1 input: two binary reads, one when
    a single sign is present); any other read goes through the DAC (``dac_bits`` ≥ 2, inputs in [0, 1],
    ``rint(x·(2^b − 1))/(2^b − 1)``), else the op fails with ``E_DAC``. Row ``i`` at
    drive ``x_i`` puts ``V·x_i`` on its cells: column current
    :math:`N(\\sum_i V x_i g_{ij}, \\sum_i V^2 x_i^2 σ_{ij}^2)`, converted by the ADC
    (``code = clip(rint(I/LSB), 0, 2^b − 1)``, ``LSB = fs/(2^b − 1)``, out-of-range
    codes counted as clipped), decoded to weight units. An ideal block reads ``x @ W``.
    """

    def __init__(self, programmed):
        mapped = programmed.mapped
        macro = mapped.chip.macro
        self.programmed = programmed
        self.macro = macro
        self.volt = float(macro.read_voltage)
        self.dac_bits = int(macro.dac_bits)
        lat = macro.latency
        self.t_read = float(lat.row_drive.value + lat.array_read.value)
        self.t_adc = float(lat.adc_conversion.value)
        self.n_tiles = max(int(mapped.n_tiles), 1)
        self.op_names = list(mapped.ops)
        self.blocks = [self._block(i) for i in range(len(mapped.blocks))]

    def _block(self, i: int) -> BlockModel:
        prog, macro = self.programmed, self.macro
        b = prog.mapped.blocks[i]
        grp = prog.mapped.ops[b.op].groups[b.group]
        reads = np.flatnonzero(grp.region == b.region)
        gather = grp.gather[reads][:, b.row_lo:b.row_hi].astype(np.int64)
        scatter = grp.scatter[reads][:, b.out_lo:b.out_hi].astype(np.int64)
        tile = prog.tiles[i]
        base = {"index": i, "op": b.op, "tile": int(b.tile), "scatter": scatter}
        if tile is None:
            w = grp.weight[b.row_lo:b.row_hi, b.out_lo:b.out_hi]
            return BlockModel(gather=gather, weight=np.asarray(w, float), **base)
        if tile.pruned is not None:
            gather = np.where(tile.pruned.all(axis=1)[None, :], GATHER_PAD, gather)
        point = prog.operating_point
        t = float(point.read_time)
        g = _drifted(tile, t)
        comp = 1.0
        if point.drift_compensation and t > 0 and g.sum() > 0:
            comp = float(tile.g.sum() / g.sum())
        enc = tile.encoded
        dec = np.array(enc.col_weights, float)
        if enc.ref_col >= 0:  # outputs read against the shared reference column
            dec[enc.ref_col, :] -= enc.col_weights.sum(axis=0)
        s2 = None if macro.read_noise.model == "none" else read_sigma(macro, g) ** 2
        bits = int(macro.adc_bits or 0)
        fs, cycles = 0.0, 0
        if bits:
            fs = (float(point.adc_full_scale[i]) if point.adc_full_scale is not None
                  else float((self.volt * g).sum(axis=0).max()))
            cycles = -(-g.shape[1] // macro.adcs_per_tile)
        return BlockModel(gather=gather, g=g, s2=s2, decode=dec * (comp / self.volt),
                          bits=bits, fs=fs, cycles=cycles, **base)

    def op_index(self, op) -> int:
        """The engine's index of op ``op`` (a name or an index)."""
        return self.op_names.index(op) if isinstance(op, str) else int(op)

    def op_blocks(self, op) -> list[BlockModel]:
        name = self.op_names[self.op_index(op)]
        return [b for b in self.blocks if b.op == name]

    def _drive(self, blk: BlockModel, x: np.ndarray):
        """The array reads of ``blk`` for op input ``x`` (the fields of
        :class:`BlockReads`: read_of, drive, sign, rows, inputs, active), or ``None`` when
        the DAC refuses an input."""
        n = x.shape[0]
        ext = np.concatenate([np.asarray(x, float), [1.0, 0.0]])
        idx = np.where(blk.gather == GATHER_PAD, n + 1,
                       np.where(blk.gather == GATHER_ONE, n, blk.gather))
        xr = ext[idx]  # (reads, rows)
        on = xr != 0.0
        nact = on.sum(axis=1)
        used = np.flatnonzero(nact > 0)
        xr, on = xr[used], on[used]
        if blk.g is None:  # ideal: the float weights read once
            return used, xr, np.ones(used.size), nact[used], int(nact.sum()), used.size
        integer = np.all(~on | (xr == np.floor(xr)), axis=1)
        analog = ~integer
        if analog.any():
            vals = xr[analog][on[analog]]
            if self.dac_bits < 2 or vals.min() < 0.0 or vals.max() > 1.0:
                return None
        lv = float(2 ** self.dac_bits - 1)
        n_pos = np.where(integer, xr.max(axis=1, initial=0.0), 1.0).astype(np.int64)
        n_neg = np.where(integer, (-xr).max(axis=1, initial=0.0), 0.0).astype(np.int64)
        levels = n_pos + n_neg
        which = np.repeat(np.arange(used.size), levels)
        first = np.repeat(np.cumsum(levels) - levels, levels)
        k = np.arange(which.size) - first + 1
        neg = k > n_pos[which]  # the negative levels follow the positive ones
        lvl = np.where(neg, k - n_pos[which], k).astype(float)[:, None]
        thermo = np.where(neg[:, None], xr[which] <= -lvl, xr[which] >= lvl).astype(float)
        dac = np.rint(xr[which] * lv) / lv
        drive = np.where(integer[which][:, None], thermo, dac)
        # rows driven: per level those at or above it; through the DAC every non-zero
        # input (one whose DAC value rounds to 0 still drives its row)
        rows = np.where(integer[which], thermo.sum(axis=1), on[which].sum(axis=1))
        return used[which], drive, np.where(neg, -1.0, 1.0), rows, int(nact.sum()), used.size

    def block_reads(self, blk: BlockModel, x: np.ndarray) -> BlockReads | None:
        """The reads of ``blk`` for op input ``x`` (None: the DAC refuses an input)."""
        got = self._drive(blk, np.asarray(x, float))
        if got is None:
            return None
        read_of, drive, sign, rows, inputs, active = got
        common = {"block": blk, "read_of": read_of, "drive": drive, "sign": sign, "rows": rows,
                  "inputs": inputs, "active": active}
        if blk.g is None:
            return BlockReads(part=drive @ blk.weight, **common)
        v = self.volt * drive
        var = None if blk.s2 is None else (v * v) @ blk.s2
        return BlockReads(mean=v @ blk.g, var=var, **common)

    def evaluate(self, op, x: np.ndarray, rng: np.random.Generator | None = None,
                 samples: int = 1) -> OpRead:
        """Op ``op`` on input ``x``: ``samples`` independent evaluations, read noise drawn
        from ``rng`` (None: no read noise, the noise-free read)."""
        k = self.op_index(op)
        sop = self.programmed.mapped.ops[self.op_names[k]]
        y = np.tile(np.asarray(sop.bias, float), (samples, 1))
        cnt = np.zeros((samples, len(self.blocks), K.N_BLOCK_COUNTERS))
        busy = np.zeros(self.n_tiles)
        for blk in self.op_blocks(k):
            br = self.block_reads(blk, x)
            if br is None:
                return OpRead(y=y, counters=cnt, tile_time=busy, code=K.E_DAC)
            if br.n == 0:
                continue
            part, clipped = self._outputs(br, rng, samples)
            sc = blk.scatter[br.read_of].ravel()
            np.add.at(y.T, sc, part.reshape(samples, -1).T)
            c = cnt[:, blk.index]
            rows = int(br.rows.sum())
            c[:, K.C_ROWS] = rows
            c[:, K.C_CELLS] = rows * blk.cols
            c[:, K.C_READS] = br.n
            c[:, K.C_INPUTS] = br.inputs
            c[:, K.C_ACC] = br.active * blk.outs
            if blk.bits:
                c[:, K.C_CONV] = br.n * blk.cols
                c[:, K.C_CYCLES] = br.n * blk.cycles
                c[:, K.C_CLIP] = clipped
            busy[blk.tile] += br.n * (self.t_read + blk.cycles * self.t_adc)
        return OpRead(y=y, counters=cnt, tile_time=busy, code=K.E_OK)

    def _outputs(self, br: BlockReads, rng, samples: int):
        """Decoded outputs ``(samples, L, outs)`` of the reads ``br`` and the clipped
        conversions of each sample."""
        blk = br.block
        if br.part is not None:
            return np.broadcast_to(br.part, (samples, *br.part.shape)), np.zeros(samples)
        cur = np.broadcast_to(br.mean, (samples, *br.mean.shape))
        if rng is not None and br.var is not None:
            cur = cur + np.sqrt(br.var) * rng.standard_normal(cur.shape)
        clipped = np.zeros(samples)
        if blk.bits:
            top = float(2 ** blk.bits - 1)
            lsb = blk.fs / top
            code = np.rint(cur / lsb)
            clipped = ((code > top) | (code < 0)).sum(axis=(1, 2)).astype(float)
            cur = np.clip(code, 0.0, top) * lsb
        return (cur @ blk.decode) * br.sign[:, None], clipped

    def moments(self, op, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of op ``op``'s outputs for input ``x`` under read noise, with
        no ADC (a linear combination of independent normal column currents)."""
        k = self.op_index(op)
        sop = self.programmed.mapped.ops[self.op_names[k]]
        mean = np.asarray(sop.bias, float).copy()
        var = np.zeros_like(mean)
        for blk in self.op_blocks(k):
            if blk.bits:
                raise SimulationError(f"block {blk.index}: output moments need a macro "
                                      "without ADC (set macro.adc_bits to null)")
            br = self.block_reads(blk, x)
            if br is None:
                raise SimulationError(f"op '{blk.op}': the DAC refuses this input")
            sc = blk.scatter[br.read_of].ravel()
            if br.part is not None:
                np.add.at(mean, sc, br.part.ravel())
                continue
            np.add.at(mean, sc, ((br.mean @ blk.decode) * br.sign[:, None]).ravel())
            if br.var is not None:
                np.add.at(var, sc, (br.var @ blk.decode ** 2).ravel())
        return mean, var

