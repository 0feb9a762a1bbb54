"""Bit-serial input drive (issue 15, item 6): ``macro.input: bit_serial:B`` reads an analog
input bit by bit — one binary read per bit of its B-bit code, the ADC outputs shifted and
added — as ISAAC and NeuroSim macros do, instead of through a multi-bit DAC.

References: the NumPy twin (``kernels/oracle.py``) of the same chip with a B-bit DAC is
the float product of the B-bit-quantised input; read, conversion and energy counts follow
B × the binary (spike) read of the same rows.
"""

import numpy as np
import pytest

from neurocosim.energy import estimate
from neurocosim.hwsim.kernels import engine as K
from tests.hwsim.test_oracles import Run, _card, _dense_net, _program


def _pair(net, bits, **changes):
    """The same programmed conductances under a bit-serial and a B-bit-DAC input."""
    serial = _program(net, _card(macro__input=f"bit_serial:{bits}", **changes))
    dac = _program(net, _card(macro__dac_bits=bits, **changes))
    for a, b in zip(serial.tiles, dac.tiles, strict=True):
        if a is not None:
            np.testing.assert_array_equal(a.g, b.g)
    return Run(serial), Run(dac)


@pytest.mark.parametrize("bits", [1, 4, 8])
def test_bit_serial_equals_the_float_product_of_the_quantised_input(rng, bits):
    """No read noise, no ADC: bit-serial with B bits = the NumPy twin's product of the
    B-bit-quantised input with the chip's conductances (float rounding only)."""
    net = _dense_net(rng)
    serial, dac = _pair(net, bits, macro__adc_bits=None)
    for op in serial.orc.op_names:
        n_in = serial.prog.mapped.ops[op].in_size
        x = rng.uniform(0.0, 1.0, n_in) * (rng.random(n_in) < 0.4)
        x[x == np.floor(x)] = 0.5  # analog values only (integers take the spike path)
        code, y, _, _ = serial.engine(op, x)
        assert code == K.E_OK
        if bits >= 2:
            want = dac.orc.evaluate(op, x)
            np.testing.assert_allclose(y, want.y[0], rtol=1e-12, atol=1e-12 * abs(want.y).max())
        # and written out: Σ_k 2^k / (2^B − 1) · (the binary read of bit plane k); the
        # weights sum to 1, so the bias (digital, or a row driven with 1) counts once
        q = np.rint(x * (2**bits - 1)).astype(int)
        planes = sum(2.0**k / (2**bits - 1) * serial.engine(op, ((q >> k) & 1).astype(float))[1]
                     for k in range(bits))
        np.testing.assert_allclose(y, planes, rtol=1e-10, atol=1e-10 * abs(planes).max())


def test_bit_serial_reads_and_energy_are_b_times_the_binary_read(rng):
    """With read noise and 8-bit ADCs: an input whose codes have every bit set is B
    binary reads of the same rows — reads, rows, conversions, cycles and their energy
    are B × those of a spike on those rows."""
    bits = 6
    net = _dense_net(rng)
    chip = _card(macro__input=f"bit_serial:{bits}",
                 macro__read_noise={"model": "pcm_aihwkit"})
    run = Run(_program(net, chip))
    op = run.orc.op_names[0]
    n_in = run.prog.mapped.ops[op].in_size
    on = rng.random(n_in) < 0.3
    _, _, c_serial, t_serial = run.engine(op, np.where(on, 0.9999, 0.0))  # code 63: all bits
    _, _, c_spike, t_spike = run.engine(op, on.astype(float))
    for c in (K.C_READS, K.C_ROWS, K.C_CELLS, K.C_CONV, K.C_CYCLES):
        np.testing.assert_array_equal(c_serial[:, c], bits * c_spike[:, c])
    np.testing.assert_allclose(t_serial, bits * t_spike, rtol=1e-12)
    np.testing.assert_array_equal(c_serial[:, K.C_INPUTS], c_spike[:, K.C_INPUTS])
    mapped = run.prog.mapped
    energy = {}
    for name, cnt in (("serial", c_serial), ("spike", c_spike)):
        from neurocosim.hwsim.counters import EventCounts

        counts = EventCounts(block=cnt[None], layer=np.zeros((1, 1, K.N_LAYER_COUNTERS)),
                             input=np.zeros((1, 2)), steps=np.ones(1, np.int64),
                             latency_s=np.zeros(1), block_op=tuple(b.op for b in mapped.blocks),
                             block_tile=np.array([b.tile for b in mapped.blocks]),
                             block_outs=np.array([b.out_hi - b.out_lo for b in mapped.blocks]),
                             layer_names=("none",))
        energy[name] = estimate(counts, mapped.chip, tiles=mapped.n_tiles, cores=1)
    parts, base = energy["serial"].by_component, energy["spike"].by_component
    assert parts["adc"] > 0
    for comp in ("row_drive", "array_read", "adc"):
        assert parts[comp] == pytest.approx(bits * base[comp], rel=1e-12), comp


def test_a_bad_input_mode_is_refused_in_one_line():
    from neurocosim.errors import ConfigError

    for bad in ("bit_serial:0", "bit_serial:17", "serial:8", "bit_serial"):
        with pytest.raises(ConfigError, match="macro.input"):
            _card(macro__input=bad)
