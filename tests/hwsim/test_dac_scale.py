"""Analog inputs above 1 enter the DAC scaled (issue 16: a Linear head after a token mean
of multi-level spikes, as in Spikformer/SEW): the digital value ``x`` is driven as ``x / s``
(``s``, a power of two, the op's input full scale from the ADC calibration) and the decoded
partial sums are multiplied by ``s`` — the shift a chip applies to bring a digital value
into its DAC's range.

References: the NumPy twin (``kernels/oracle.py``) of the same programmed chip at ``s = 1``
on the input ``x / s``, scaled by ``s`` (the bias, digital, unscaled); the closed form of
the full scale (the smallest power of two ≥ the largest fractional input).
"""

import numpy as np
import pytest

from neurocosim.calibration.adc import calibrate_adc_ranges, input_scale
from neurocosim.hwsim.encoders import CurrentEncoder
from neurocosim.hwsim.kernels import engine as K
from tests.hwsim.test_oracles import Run, _card, _dense_net, _program


@pytest.mark.parametrize("serial", [False, True])
def test_scaled_dac_input_equals_the_twin_of_the_unscaled_input(rng, serial):
    """No read noise, no ADC: the engine at ``s = 4`` on ``x`` ∈ [0, 4] equals ``s`` × the
    twin's read of ``x / 4`` (the bias added once), for a DAC and a bit-serial drive."""
    net = _dense_net(rng)
    card = _card(macro__adc_bits=None, macro__dac_bits=6,
                 **({"macro__input": "bit_serial:6"} if serial else {}))
    prog = _program(net, card)
    s = 4.0
    scaled = Run(prog.at(dac_full_scale=np.full(len(prog.mapped.blocks), s)))
    plain = Run(_program(net, _card(macro__adc_bits=None, macro__dac_bits=6)))
    for op in scaled.orc.op_names:
        sop = prog.mapped.ops[op]
        x = rng.uniform(0.0, s, sop.in_size) * (rng.random(sop.in_size) < 0.5)
        x[x == np.floor(x)] = 1.5  # fractional values only (integers take the spike path)
        code, y, _, _ = scaled.engine(op, x)
        assert code == K.E_OK
        want = plain.orc.evaluate(op, x / s)
        bias = np.asarray(sop.bias, float)
        np.testing.assert_allclose(y, bias + s * (want.y[0] - bias), rtol=1e-10,
                                   atol=1e-10 * abs(want.y).max())
        code, _, _, _ = scaled.engine(op, np.where(x > 0, x + s, 0.0))  # beyond s: refused
        assert code == K.E_DAC


def test_input_scale_closed_form():
    assert input_scale(np.array([[0.2, 0.7]])) == 1.0  # [0, 1]
    assert input_scale(np.array([[0.0, 3.0, 7.0]])) == 1.0  # integers: thermometer code
    assert input_scale(np.array([[0.5, 2.25]])) == 4.0
    assert input_scale(np.array([[4.0, 0.5]])) == 4.0
    assert input_scale(np.array([[4.01, 0.5]])) == 8.0
    assert input_scale(np.zeros((0, 1))) == 1.0


def test_calibration_sets_the_scale_of_ops_fed_above_one(rng):
    """The ADC calibration gives the first op (input in [0, 3]) s = 4 on all its blocks
    and the second (binary spikes) s = 1; the calibrated chip then runs such inputs."""
    net = _dense_net(rng)
    prog = _program(net, _card(macro__dac_bits=6))
    x = rng.uniform(0, 3.0, (6, 192))
    cal = calibrate_adc_ranges(prog, CurrentEncoder(x), 4)
    ds = cal.operating_point.dac_full_scale
    for b, blk in enumerate(prog.mapped.blocks):
        assert ds[b] == (4.0 if blk.op == "fc1" else 1.0), (blk.op, ds[b])
