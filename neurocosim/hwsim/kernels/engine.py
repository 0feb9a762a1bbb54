"""The cycle-level engine's kernels over the records of :mod:`neurocosim.hwsim.tables`.

Layers 2 and 3 of DESIGN §4.4 (layer 1 is :func:`neurocosim.hwsim.simulate`), one module
per part, gathered here under one name:

* :mod:`.driver` — :func:`run_batch` (lockstep groups of samples over threads) and
  :func:`run_group` (steps × nodes × samples);
* :mod:`.crossbar` — :func:`syn_events` / :func:`syn_eval` (one synaptic op on one step:
  event lists, ideal and programmed reads, DAC or bit-serial input, decoding);
* :mod:`.columns` — one block's column currents with the aggregated read noise, the ADC;
* :mod:`.neuron` — :func:`neuron_eval` (one step of a neuron layer);
* :mod:`.digital` — :func:`csr_eval` (pooling, max-pool, scale and shift, permutations,
  and-not, products, sums over an axis) and :func:`stack_inputs` (ordered operands);
* :mod:`.spikeops` — :func:`matmul_eval` (a batched product of two activations);
* :mod:`.rng` — per-sample random streams and the normal generator;
* :mod:`.codes` — the integer codes they share;
* :mod:`.oracle` — the NumPy twin of each kernel (what the tests compare them with).

A kernel takes the typed records it needs (``NamedTuple``\\ s of arrays and scalars), so a
new node kind adds its kernel, its record and its twin without changing the other
kernels' signatures.
"""

from __future__ import annotations

from . import codes as _codes
from .crossbar import Work, active_inputs, syn_eval, syn_events, work_for  # noqa: F401
from .digital import csr_eval  # noqa: F401
from .driver import GROUP, run_batch, run_group  # noqa: F401
from .neuron import neuron_eval  # noqa: F401
from .spikeops import matmul_eval  # noqa: F401

# every integer code and table column (``K.C_READS``, ``K.B_TILE``, ...)
globals().update({k: v for k, v in vars(_codes).items() if k.isupper()})
