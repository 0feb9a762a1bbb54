"""The cycle-level engine's kernels over the records of :mod:`neurocosim.hwsim.tables`.

Layers 2 and 3 of DESIGN §4.4 (layer 1 is :func:`neurocosim.hwsim.simulate`), one module
per part, gathered here under one name:

* :mod:`.driver` — :func:`run_batch` (lockstep groups of samples over threads) and
  :func:`run_group` (steps × nodes × samples);
* :mod:`.crossbar` — :func:`syn_events` / :func:`syn_eval` (one synaptic op on one step:
  event lists, ideal and programmed reads, read noise, ADC, DAC, decoding);
* :mod:`.neuron` — :func:`neuron_eval` (one step of a neuron layer);
* :mod:`.digital` — :func:`csr_eval` (pooling, scale);
* :mod:`.rng` — per-sample random streams and the normal generator;
* :mod:`.codes` — the integer codes they share;
* :mod:`.oracle` — the NumPy twin of each kernel (what the tests compare them with).

A kernel takes the typed records it needs (``NamedTuple``\\ s of arrays and scalars), so a
new node kind adds its kernel, its record and its twin without changing the other
kernels' signatures.
"""

from __future__ import annotations

from .codes import (  # noqa: F401
    B_ADC_BITS,
    B_CH_OUTS,
    B_COLS,
    B_CYCLES,
    B_G,
    B_GAT,
    B_IDEAL,
    B_NOISY,
    B_OUTS,
    B_READS,
    B_ROWS,
    B_SAME,
    B_SCA,
    B_TERM,
    B_TILE,
    C_ACC,
    C_CELLS,
    C_CLIP,
    C_CONV,
    C_CYCLES,
    C_INPUTS,
    C_READS,
    C_ROWS,
    D_NEG,
    D_OUT,
    D_POS,
    E_DAC,
    E_OK,
    I_ROW,
    I_SLOT,
    K_COPY,
    K_DIGITAL,
    K_INPUT,
    K_NEURON,
    K_SYN,
    L_HOPS,
    L_PACKETS,
    L_SPIKES,
    L_UPDATES,
    N_BLK,
    N_BLOCK_COUNTERS,
    N_LAYER_COUNTERS,
    N_OP,
    O_BIAS,
    O_BLK,
    O_CSR,
    O_IN,
    O_INV,
    O_PATH,
    O_PREV,
    O_SLOT,
    P_CSR,
    P_EVENT,
    P_SORT,
    S_BLK,
    S_READ,
    T_CUBALI,
    T_CUBALIF,
    T_IF,
    T_ILIF,
    T_LI,
    T_LIF,
)
from .crossbar import Work, active_inputs, syn_eval, syn_events, work_for  # noqa: F401
from .digital import csr_eval  # noqa: F401
from .driver import GROUP, run_batch, run_group  # noqa: F401
from .neuron import neuron_eval  # noqa: F401
