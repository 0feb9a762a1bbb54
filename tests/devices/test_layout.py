"""The column layout of a weight block, checked against encode_weights and its decode."""

import dataclasses

import numpy as np
import pytest

from neurocosim.devices import ColumnLayout, load_chip
from neurocosim.devices.crossbar import encode_weights, program_tile
from neurocosim.devices.schema import DriftSpec, NoiseSpec, StuckAtSpec
from neurocosim.errors import ConfigError

#: (weight_mapping, bits_per_cell, slices, levels)
CASES = [("differential", None, 1, None), ("differential", None, 1, 33),
         ("offset", None, 1, None), ("offset", None, 1, 17),
         ("bit_sliced", 1, 1, None), ("bit_sliced", 2, 3, None), ("bit_sliced", 4, 2, None)]


def macro(mapping, bits, slices, levels, noisy=False):
    m = load_chip("pcm-aihwkit").macro
    m = dataclasses.replace(m, weight_mapping=mapping, bits_per_cell=bits, slices=slices,
                            levels=levels, read_noise=NoiseSpec(), drift=DriftSpec(),
                            stuck_at=StuckAtSpec())
    return m if noisy else dataclasses.replace(m, programming_noise=NoiseSpec())


def weights(rng, m, n_out=7, n_in=11):
    """Random weights; for bit slicing on the grid the slices store exactly."""
    if m.weight_mapping != "bit_sliced":
        return rng.normal(0, 1, (n_out, n_in))
    top = 2 ** (m.bits_per_cell * m.slices) - 1
    return rng.integers(-top, top + 1, (n_out, n_in)) / top * 2.0


def decode_with_layout(layout, cw, g, n_out):
    """``(n_out, rows)`` weights from conductances ``g``: every pair of the layout read as
    ``G[plus] − G[minus]`` and scaled by the block's coefficient of ``plus``."""
    out = np.zeros((n_out, g.shape[0]))
    for o in range(n_out):
        for plus, minus in layout.pairs(o, n_out):
            out[o] += cw[plus, o] * (g[:, plus] - g[:, minus])
    return out


@pytest.mark.parametrize("mapping,bits,slices,levels", CASES)
def test_layout_matches_encode_weights(rng, mapping, bits, slices, levels):
    m = macro(mapping, bits, slices, levels)
    layout = ColumnLayout.of(m)
    w = weights(rng, m)
    n_out = w.shape[0]
    enc = encode_weights(w, m, w_max=None if mapping != "bit_sliced" else 2.0)
    assert enc.shape == (w.shape[1], layout.block_columns(n_out))
    assert enc.ref_col == layout.ref_col(n_out)
    cw = enc.col_weights
    for o in range(n_out):
        pairs = layout.pairs(o, n_out)
        assert len(pairs) == layout.slices
        plus = [p for p, _ in pairs]
        # output o is decoded from exactly the layout's cells (the reference column is
        # subtracted, not weighted)
        cells = set(plus) | {n for _, n in pairs if n != enc.ref_col}
        assert set(np.flatnonzero(cw[:, o])) == cells
        for p, n in pairs:
            if n != enc.ref_col:
                assert cw[n, o] == -cw[p, o]
    # programming without noise, then decoding with the layout, gives back the weights
    tile = program_tile(enc, m, rng)
    np.testing.assert_array_equal(tile.g, enc.g_target)
    back = decode_with_layout(layout, cw, tile.g, n_out)
    np.testing.assert_allclose(back, enc.weights(tile.g), rtol=0, atol=1e-12)
    if levels is None:
        np.testing.assert_allclose(back, w, rtol=0, atol=1e-12)
    else:
        step = np.abs(w).max() / (levels - 1) * (2 if mapping == "offset" else 1)
        assert np.abs(back - w).max() <= step / 2 * (1 + 1e-9)


@pytest.mark.parametrize("mapping,bits,slices,levels", CASES)
def test_layout_decodes_noisy_cells_like_the_tile(rng, mapping, bits, slices, levels):
    m = macro(mapping, bits, slices, levels, noisy=True)
    layout = ColumnLayout.of(m)
    w = weights(rng, m)
    enc = encode_weights(w, m, w_max=None if mapping != "bit_sliced" else 2.0)
    tile = program_tile(enc, m, rng)
    assert not np.array_equal(tile.g, enc.g_target)  # the noise is really there
    back = decode_with_layout(layout, enc.col_weights, tile.g, w.shape[0])
    np.testing.assert_allclose(back, enc.weights(tile.g), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mapping,slices,per_output,shared", [
    ("differential", 1, 2, 0), ("offset", 1, 1, 1), ("bit_sliced", 1, 2, 0),
    ("bit_sliced", 3, 6, 0)])
def test_columns_per_output_and_tile_capacity(mapping, slices, per_output, shared):
    layout = ColumnLayout(mapping, slices)
    assert (layout.per_output, layout.shared) == (per_output, shared)
    for cols in range(per_output + shared, 70):
        n = layout.outputs_per_tile(cols)
        assert n >= 1
        assert layout.block_columns(n) <= cols < layout.block_columns(n + 1)


def test_pair_columns_are_the_pairs_of_each_output():
    outs = np.array([0, 3, 3, 1])
    for layout in (ColumnLayout("differential"), ColumnLayout("bit_sliced", 3)):
        plus, minus = layout.pair_columns(outs)
        assert plus.shape == minus.shape == (len(outs), layout.slices)
        for i, o in enumerate(outs):
            assert list(zip(plus[i], minus[i], strict=True)) == layout.pairs(int(o), 5)
    assert ColumnLayout("differential").pairs(4, 9) == [(8, 9)]
    assert ColumnLayout("offset").pairs(4, 9) == [(4, 9)]
    assert ColumnLayout("bit_sliced", 2).pairs(1, 3) == [(4, 5), (6, 7)]
    with pytest.raises(ConfigError, match="reference column"):
        ColumnLayout("offset").pair_columns(outs)


def test_layout_of_a_macro_ignores_slices_unless_bit_sliced():
    m = load_chip("pcm-aihwkit").macro
    assert ColumnLayout.of(dataclasses.replace(m, slices=4)) == ColumnLayout("differential")
    sliced = dataclasses.replace(m, weight_mapping="bit_sliced", bits_per_cell=2, slices=4)
    assert ColumnLayout.of(sliced) == ColumnLayout("bit_sliced", 4)
    with pytest.raises(ConfigError, match="weight_mapping"):
        ColumnLayout("diagonal")
    with pytest.raises(ConfigError, match="1 pair per output"):
        ColumnLayout("differential", 2)
