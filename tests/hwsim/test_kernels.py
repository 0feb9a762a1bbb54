"""Each engine kernel on its own records against its NumPy oracle (``hwsim.reference``),
and the records' contract: small signatures, one Numba type for every chip."""

import inspect

import numba
import numpy as np
import pytest

from neurocosim import ir, map_network, program_chip
from neurocosim.hwsim import reference as R
from neurocosim.hwsim.kernels import engine as K
from neurocosim.hwsim.tables import build_tables
from tests.conftest import all_types_network, chain, chip_variant, cubali_network

IDEAL = chip_variant("ideal", macro__rows=12, macro__cols=8)


def _tables(net, chip=IDEAL):
    return build_tables(program_chip(map_network(net, chip), np.random.default_rng(0)))


def _source(net, name):
    (src, _), = net.predecessors(name)
    return src


def test_no_kernel_takes_more_than_twelve_parameters():
    from neurocosim.hwsim.kernels import columns, crossbar, digital, driver, neuron, rng

    kernels = {f"{m.__name__}.{n}": f for m in (columns, crossbar, digital, driver, neuron, rng)
               for n, f in vars(m).items() if isinstance(f, numba.core.dispatcher.Dispatcher)}
    assert {"neurocosim.hwsim.kernels.driver.run_group",
            "neurocosim.hwsim.kernels.crossbar.syn_events"} <= set(kernels)
    wide = {n: len(inspect.signature(f.py_func).parameters) for n, f in kernels.items()}
    assert max(wide.values()) <= 12, wide


def test_every_chip_gives_the_records_the_same_numba_types(rng):
    """So the driver compiles once (and its disk cache serves every chip and network)."""
    a = _tables(all_types_network(rng))
    b = _tables(chain({"in": ir.Input(shape=(5,)), "fc": ir.Linear(weight=rng.normal(size=(3, 5))),
                       "lif": ir.LIF(tau=5e-3, r=1.0, v_leak=0.0, v_threshold=1.0),
                       "out": ir.Output()}, synaptic_delay=1), chip_variant("pcm-aihwkit"))
    for ra, rb in zip(a.records(), b.records(), strict=True):
        assert numba.typeof(ra) == numba.typeof(rb)
        for name, value in zip(ra._fields, ra, strict=True):
            if isinstance(value, np.ndarray):
                assert value.flags.c_contiguous and value.ndim in (1, 2), (type(ra).__name__, name)


def test_csr_eval_is_the_reference_pooling_and_scale(rng):
    net = all_types_network(rng)
    tab = _tables(net)
    digital = [n for i, n in enumerate(net.order) if tab.topology.kind[i] == K.K_DIGITAL]
    assert len(digital) == 3  # sum, avg, scale
    for k, name in enumerate(digital):
        src = _source(net, name)
        x = rng.integers(0, 3, net.out_shapes[src]).astype(float)
        y = np.zeros(int(np.prod(net.out_shapes[name])))
        K.csr_eval(tab.digital, k, x.ravel(), y)
        want = R.node_forward(net.nodes[name], x[None], net.out_shapes[src], net.out_shapes[name])
        np.testing.assert_array_equal(y, want.ravel())


@pytest.mark.parametrize("make", [all_types_network, cubali_network])
def test_neuron_eval_is_the_reference_neuron_step(rng, make):
    net = make(rng)
    tab = _tables(net)
    neu = tab.neurons
    v, cur = np.zeros(neu.count), np.zeros(neu.count)
    for k, name in enumerate(net.layers()):
        node, d = net.nodes[name], net.discretised(name)
        shape = net.out_shapes[name]
        state = {"v": np.zeros(shape), "i": np.zeros(shape)}
        lo, n = neu.off[k], int(np.prod(shape))
        for _ in range(6):
            x = rng.normal(0.4, 1.0, shape)
            y = np.zeros(n)
            spikes = K.neuron_eval(neu, k, v, cur, x.ravel(), y)
            want = R.neuron_step(node, d, state, x)
            np.testing.assert_array_equal(y, want.ravel())
            np.testing.assert_array_equal(v[lo:lo + n], state["v"].ravel())
            assert spikes == (want.sum() if node.spiking else 0.0)


def test_syn_eval_on_an_ideal_macro_is_the_affine_map(rng):
    w, bias = rng.normal(size=(11, 30)), rng.normal(size=11)
    net = chain({"in": ir.Input(shape=(30,)), "fc": ir.Affine(weight=w, bias=bias),
                 "lif": ir.LIF(tau=5e-3, r=1.0, v_leak=0.0, v_threshold=1.0),
                 "out": ir.Output()})
    tab = _tables(net)
    syn = tab.synapses
    n_blocks = len(tab.block_op)
    assert n_blocks > 2  # 30 rows and a bias row, 11 outputs on a 12 x 8 macro
    work = K.work_for(syn)
    x = (rng.random(30) < 0.3).astype(float)
    y, cnt, busy = np.zeros(11), np.zeros((n_blocks, K.N_BLOCK_COUNTERS)), np.zeros(tab.n_tiles)
    code = K.syn_eval(0, x, y, syn, tab.readout, tab.timing, np.zeros(4, np.uint64), cnt, busy,
                      work)
    assert code == K.E_OK
    np.testing.assert_allclose(y, R.node_forward(net.nodes["fc"], x[None], (30,), (11,))[0],
                               rtol=1e-12, atol=1e-12)
    for b in range(n_blocks):  # active rows: a spike on the row's input, or the bias row
        lo, reads, rows = syn.blk[b, K.B_GAT], syn.blk[b, K.B_READS], syn.blk[b, K.B_ROWS]
        gat = syn.gat[lo:lo + reads * rows]
        driven = (gat == -2) | ((gat >= 0) & (x[np.maximum(gat, 0)] != 0))
        assert cnt[b, K.C_INPUTS] == cnt[b, K.C_ROWS] == driven.sum()
    np.testing.assert_array_equal(cnt[:, K.C_ACC], cnt[:, K.C_READS] * tab.block_outs)
    assert busy.sum() == pytest.approx(cnt[:, K.C_READS].sum()
                                       * (tab.timing.row_drive + tab.timing.array_read))
