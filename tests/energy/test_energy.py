"""Energy: hand-computed toy, monotonicity, early stop, SpikeYOLO's published table."""

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurocosim import ir, make_encoder, map_network, program_chip, simulate
from neurocosim.devices import chip_from_dict, load_chip
from neurocosim.energy import (
    analytical_counts,
    conv_macs,
    estimate,
    layer_energy,
    paper_convention,
)
from neurocosim.errors import ConfigError
from neurocosim.hwsim import EventCounts
from neurocosim.hwsim.counters import BLOCK_COUNTERS, LAYER_COUNTERS
from tests.conftest import chain

PJ = 1e-12


def toy_chip(**energy):
    """A small PCM-like chip with round per-event energies (no noise)."""
    d = load_chip("pcm-aihwkit").to_dict()
    d.update(name="toy", tiles_per_core=1, neurons_per_core=64, cores=16, max_fan_out=16)
    m = d["macro"]
    m.update(rows=8, cols=8, adc_bits=4, adcs_per_tile=2)
    m["programming_noise"] = {"model": "none"}
    m["read_noise"] = {"model": "none"}
    m["drift"] = {"model": "none"}
    m["energy"].pop("adc_reference_bits", None)  # energies as quoted, no resolution scaling
    vals = {"row_drive": "1 pJ", "cell_read": "2 pJ", "adc_conversion": "3 pJ", "accumulate": "4 pJ"}
    vals.update(energy)
    for k, v in vals.items():
        if v is None:
            m["energy"].pop(k, None)
        else:
            m["energy"][k] = {"value": v, "source": "test constant"}
    d["neuron"]["update_energy"] = {"value": "5 pJ", "source": "test constant"}
    d["neuron"]["spike_energy"] = {"value": "6 pJ", "source": "test constant"}
    d["noc"]["hop_energy"] = {"value": "7 pJ", "source": "test constant"}
    d["leakage_power_per_core"] = {"value": "1 mW", "source": "test constant"}
    return chip_from_dict(d)


def toy_net():
    return chain({"in": ir.Input(shape=(4,)), "fc1": ir.Linear(weight=np.eye(4)),
                  "n1": ir.IF(r=1.0, v_threshold=0.5), "fc2": ir.Linear(weight=np.ones((2, 4))),
                  "n2": ir.IF(r=1.0, v_threshold=100.0), "out": ir.Output()})


def test_two_layer_toy_by_hand():
    chip = toy_chip()
    mapped = map_network(toy_net(), chip, placement="sequential")
    assert mapped.report.tiles == 2 and mapped.report.cores == 2
    prog = program_chip(mapped, np.random.default_rng(0))
    x = np.array([[[1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]], float)
    res = simulate(prog, make_encoder("spikes", x, (4,)), 3)
    rep = estimate(res.counts, chip, tiles=2, cores=2)
    # layer 1 (identity, 4 outputs = 8 columns): reads at steps 0, 1; rows 2 + 1
    # n1 spikes: 2 then 1 -> layer 2 (2 outputs = 4 columns) reads at steps 0, 1; rows 2 + 1
    rows = 3 + 3
    cells = 3 * 8 + 3 * 4
    conversions = 2 * 8 + 2 * 4
    accumulates = 2 * 4 + 2 * 2
    updates = 3 * (4 + 2)
    spikes = 3
    hops = 3  # each n1 spike: one packet, core 0 -> core 1, one hop
    assert res.counts.totals()["rows_driven"] == rows
    e = {"row_drive": rows * 1 * PJ, "array_read": cells * 2 * PJ,
         "adc": conversions * 3 * PJ, "accumulate": accumulates * 4 * PJ,
         "neuron_update": updates * 5 * PJ, "spike": spikes * 6 * PJ, "routing": hops * 7 * PJ}
    for k, v in e.items():
        assert rep.by_component[k] == pytest.approx(v, rel=1e-12), k
    lat = chip.macro.latency
    read = lat.row_drive.value + lat.array_read.value
    # per step: the slowest tile (both read at steps 0 and 1), add, neuron update, 1 hop
    t_tile = [read + 4 * lat.adc_conversion.value, read + 4 * lat.adc_conversion.value, 0.0]
    t_step = [t + lat.accumulate.value + chip.neuron.update_latency.value for t in t_tile]
    t_step[0] += chip.noc.hop_latency.value
    t_step[1] += chip.noc.hop_latency.value
    assert rep.latency_per_inference_s == pytest.approx(sum(t_step), rel=1e-12)
    leak = 1e-3 * 2 * sum(t_step)
    assert rep.by_component["leakage"] == pytest.approx(leak, rel=1e-12)
    assert rep.energy_per_inference_J == pytest.approx(sum(e.values()) + leak, rel=1e-12)
    assert rep.by_layer["fc1"] == pytest.approx((3 * 1 + 24 * 2 + 16 * 3 + 8 * 4) * PJ)
    m = chip.macro
    area = 2 * (m.area.array.value + 2 * m.area.adc.value + m.area.periphery.value) + \
        2 * (64 * chip.neuron.area.value + chip.noc.router_area.value)
    assert rep.area_mm2 == pytest.approx(area * 1e6)


def random_counts(draw_block, draw_layer, inp, steps, lat):
    nb, nl = draw_block.shape[1], draw_layer.shape[1]
    return EventCounts(block=draw_block, layer=draw_layer, input=inp, steps=steps, latency_s=lat,
                       block_op=tuple(f"op{i}" for i in range(nb)),
                       block_tile=np.arange(nb), block_outs=np.ones(nb, np.int64),
                       layer_names=tuple(f"l{i}" for i in range(nl)))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), which=st.integers(0, 100), bump=st.floats(0.0, 1e6))
def test_energy_monotone_in_every_count(seed, which, bump):
    rng = np.random.default_rng(seed)
    chip = toy_chip()
    block = rng.integers(0, 1000, (2, 3, len(BLOCK_COUNTERS))).astype(float)
    layer = rng.integers(0, 1000, (2, 2, len(LAYER_COUNTERS))).astype(float)
    inp = rng.integers(0, 100, (2, 2)).astype(float)
    lat = rng.uniform(0, 1e-6, 2)
    base = estimate(random_counts(block, layer, inp, np.array([5, 5]), lat), chip, tiles=3, cores=2)
    arrays = [block, layer, inp, lat]
    target = arrays[which % 4]
    flat = target.reshape(-1).copy()
    flat[which % flat.size] += bump
    bumped = [a if a is not target else flat.reshape(a.shape) for a in arrays]
    more = estimate(random_counts(bumped[0], bumped[1], bumped[2], np.array([5, 5]), bumped[3]),
                    chip, tiles=3, cores=2)
    assert more.energy_per_inference_J >= base.energy_per_inference_J - 1e-24
    for k in base.by_component:
        assert more.by_component[k] >= base.by_component[k] - 1e-24


def test_zero_events_leakage_only():
    chip = toy_chip()
    z = random_counts(np.zeros((3, 2, len(BLOCK_COUNTERS))), np.zeros((3, 2, len(LAYER_COUNTERS))),
                      np.zeros((3, 2)), np.array([4, 4, 4]), np.full(3, 2e-6))
    rep = estimate(z, chip, tiles=2, cores=3)
    assert rep.energy_per_inference_J == pytest.approx(1e-3 * 3 * 2e-6)
    assert all(v == 0 for k, v in rep.by_component.items() if k != "leakage")


def test_missing_energy_constant_is_an_error():
    chip = toy_chip(adc_conversion=None)
    assert chip.macro.energy.adc_conversion is None
    mapped = map_network(toy_net(), chip, placement="sequential")
    prog = program_chip(mapped, np.random.default_rng(0))
    res = simulate(prog, make_encoder("spikes", np.ones((1, 2, 4)), (4,)), 2)
    with pytest.raises(ConfigError, match="macro.energy.adc_conversion is not given but the run "
                                          "counted 24 conversions"):
        estimate(res.counts, chip, tiles=2, cores=2)
    # no ADC on the chip: nothing is converted, the missing constant is not needed
    d = chip.to_dict()
    d["macro"]["adc_bits"] = None
    no_adc = chip_from_dict(d)
    prog = program_chip(map_network(toy_net(), no_adc, placement="sequential"), np.random.default_rng(0))
    res = simulate(prog, make_encoder("spikes", np.ones((1, 2, 4)), (4,)), 2)
    assert estimate(res.counts, no_adc, tiles=2, cores=2).by_component["adc"] == 0.0


def test_early_stop_energy_follows_steps(digits_mlp):
    from neurocosim import convert_mlp

    mlp, xtr, xte, yte = digits_mlp
    net = convert_mlp(mlp, xtr)
    chip = load_chip("prime-rram-40nm")
    with pytest.warns(Warning):
        mapped = map_network(net, chip)
    prog = program_chip(mapped, np.random.default_rng(0))
    enc = make_encoder("rate", xte, net.input_shape, np.random.default_rng(0))
    full = simulate(prog, enc, 64, rng=np.random.default_rng(1))
    es = simulate(prog, enc, 64, rng=np.random.default_rng(1), early_stop="confidence:0.8:2")
    e_full = estimate(full.counts, chip, tiles=mapped.report.tiles, cores=mapped.report.cores)
    e_es = estimate(es.counts, chip, tiles=mapped.report.tiles, cores=mapped.report.cores)
    energy_ratio = e_es.energy_per_inference_J / e_full.energy_per_inference_J
    steps_ratio = es.mean_steps / 64
    assert steps_ratio < 0.5
    # activity is not uniform over time (early steps are busier), so within 10 %
    assert energy_ratio == pytest.approx(steps_ratio, rel=0.10)
    # and per sample, energy grows with the steps it used
    assert np.corrcoef(es.steps_used, e_es.per_sample_J)[0, 1] > 0.9


def test_analytical_matches_simulated_counts_with_measured_rates(rng):
    net = toy_net()
    chip = toy_chip()
    prog = program_chip(map_network(net, chip, placement="sequential"), np.random.default_rng(0))
    x = (rng.random((1, 200, 4)) < 0.3).astype(float)
    res = simulate(prog, make_encoder("spikes", x, (4,)), 200, probes=["n1", "n2"])
    rates = {"in": x[0].mean(axis=0), "n1": res.probes["n1"][0].mean(axis=0),
             "n2": res.probes["n2"][0].mean(axis=0)}
    ac = analytical_counts(prog, 200, rates)
    sim = res.counts.totals()
    ana = ac.totals()
    for k in ("rows_driven", "cell_reads", "neuron_updates", "spikes", "packets", "packet_hops"):
        assert ana[k] == pytest.approx(sim[k], rel=1e-9), k
    worst = analytical_counts(prog, 200, worst_case=True).totals()
    assert worst["rows_driven"] == 200 * (4 + 4) and worst["reads"] == 200 * 2


# SpikeYOLO's published energy spreadsheet (BICLab/SpikeYOLO power_cal.xlsx), flattened:
# shared/data/spikeyolo_energy_layers.csv, copied here whole.
SPIKEYOLO = """\
row,Cin,Cout,k,stride,Hin,Win,Hout,Wout,groups,fr_mean_int,MACs,E_ANN_pJ,E_SNN_pJ
1,3,64,7,4,640,640,160,160,1,4.6,240844800,1107886080,997097472
2,64,128,1,1,160,160,160,160,1,1.1872,209715200,964689920,224076496.896
3,128,128,7,1,160,160,160,160,128,1.1496,160563200,738590720,166125109.248
4,128,64,3,1,160,160,160,160,1,0.9281,1887436800,8682209280,1576557084.672
5,64,256,3,1,160,160,160,160,1,1.4604,3774873600,17364418560,4961542864.896
6,256,64,3,1,160,160,160,160,1,0.2468,3774873600,17364418560,838474924.032
7,64,128,3,2,160,160,80,80,1,1.0302,471859200,2170552320,437498413.056
8,128,256,1,1,80,80,80,80,1,0.742,209715200,964689920,140047810.56
9,256,256,7,1,80,80,80,80,256,0.7202,80281600,369295360,52036927.488
10,256,128,3,1,80,80,80,80,1,0.4002,1887436800,8682209280,679816986.624
11,128,512,3,1,80,80,80,80,1,0.8431,3774873600,17364418560,2864336338.944
12,512,128,3,1,80,80,80,80,1,0.0976,3774873600,17364418560,331584897.024
13,128,256,1,1,80,80,80,80,1,0.7333,209715200,964689920,138405740.544
14,256,256,7,1,80,80,80,80,256,0.4106,80281600,369295360,29667262.464
15,256,128,3,1,80,80,80,80,1,0.2564,1887436800,8682209280,435544915.968
16,128,512,3,1,80,80,80,80,1,0.6367,3774873600,17364418560,2163115819.008
17,512,128,3,1,80,80,80,80,1,0.0495,3774873600,17364418560,168170618.88
18,128,256,3,2,80,80,40,40,1,0.8545,471859200,2170552320,362883317.76
19,256,512,1,1,40,40,40,40,1,0.3,209715200,964689920,56623104
20,512,512,7,1,40,40,40,40,512,0.3479,40140800,184647680,12568485.888
21,512,256,3,1,40,40,40,40,1,0.2153,1887436800,8682209280,365728628.736
22,256,768,3,1,40,40,40,40,1,0.3108,2831155200,13023313920,791930732.544
23,768,256,3,1,40,40,40,40,1,0.1159,2831155200,13023313920,295317798.912
24,256,512,1,1,40,40,40,40,1,0.2372,209715200,964689920,44770000.896
25,512,512,7,1,40,40,40,40,512,0.2255,40140800,184647680,8146575.36
26,512,256,3,1,40,40,40,40,1,0.183,1887436800,8682209280,310860840.96
27,256,768,3,1,40,40,40,40,1,0.2488,2831155200,13023313920,633952272.384
28,768,256,3,1,40,40,40,40,1,0.1033,2831155200,13023313920,263212498.944
29,256,512,1,1,40,40,40,40,1,0.2242,209715200,964689920,42316333.056
30,512,512,7,1,40,40,40,40,512,0.2233,40140800,184647680,8067096.576
31,512,256,3,1,40,40,40,40,1,0.1901,1887436800,8682209280,322921562.112
32,256,768,3,1,40,40,40,40,1,0.2555,2831155200,13023313920,651024138.24
33,768,256,3,1,40,40,40,40,1,0.1512,2831155200,13023313920,385263599.616
34,256,512,3,2,40,40,20,20,1,0.3155,471859200,2170552320,133984419.84
35,512,1024,1,1,20,20,20,20,1,0.1015,209715200,964689920,19157483.52
36,1024,1024,7,1,20,20,20,20,1024,0.2441,20070400,92323840,4409266.176
37,1024,512,3,1,20,20,20,20,1,0.2726,1887436800,8682209280,463063744.512
38,512,1024,3,1,20,20,20,20,1,0.1591,1887436800,8682209280,270262075.392
39,1024,512,3,1,20,20,20,20,1,0.335,1887436800,8682209280,569062195.2
40,512,256,1,1,20,20,20,20,1,0.1419,52428800,241172480,6695682.048
41,1024,512,1,1,20,20,20,20,1,1.6909,209715200,964689920,319146688.512
42,512,256,1,1,20,20,20,20,1,0.2992,52428800,241172480,14118027.264
43,256,512,1,1,40,40,40,40,1,0.2248,209715200,964689920,42429579.264
44,512,512,7,1,40,40,40,40,512,0.3897,40140800,184647680,14078582.784
45,512,256,3,1,20,20,20,20,1,0.2713,471859200,2170552320,115213860.864
46,256,768,3,1,40,40,40,40,1,0.3117,2831155200,13023313920,794223968.256
47,768,256,3,1,40,40,40,40,1,0.3054,2831155200,13023313920,778171318.272
48,512,128,1,1,40,40,40,40,1,0.3096,104857600,482344960,29217521.664
49,128,256,1,1,80,80,80,80,1,0.4535,209715200,964689920,85595258.88
50,256,256,7,1,80,80,80,80,256,0.4827,80281600,369295360,34876735.488
51,256,128,3,1,80,80,80,80,1,0.2481,1887436800,8682209280,421445763.072
52,128,512,3,1,80,80,80,80,1,0.4912,3774873600,17364418560,1668796121.088
53,512,128,3,1,80,80,80,80,1,0.0728,3774873600,17364418560,247329718.272
54,256,128,1,1,80,80,80,80,1,0.7579,209715200,964689920,143048835.072
55,128,256,1,1,80,80,80,80,1,0.5353,209715200,964689920,101034491.904
56,256,256,7,1,80,80,80,80,256,0.4246,80281600,369295360,30678810.624
57,256,128,3,1,80,80,80,80,1,0.3166,1887436800,8682209280,537806241.792
58,128,512,3,1,80,80,80,80,1,0.6301,3774873600,17364418560,2140693069.824
59,512,128,3,1,80,80,80,80,1,0.0611,3774873600,17364418560,207580299.264
60,128,128,3,2,80,80,40,40,1,0.819,235929600,1085276160,173903708.16
61,256,512,1,1,40,40,40,40,1,0.389,209715200,964689920,73421291.52
62,512,512,7,1,40,40,40,40,512,0.2637,40140800,184647680,9526616.064
63,512,256,3,1,40,40,40,40,1,0.2373,1887436800,8682209280,403099877.376
64,256,512,3,1,40,40,40,40,1,0.3466,1887436800,8682209280,588767035.392
65,512,256,3,1,40,40,40,40,1,0.1607,1887436800,8682209280,272979984.384
66,256,256,3,2,40,40,20,20,1,0.393,235929600,1085276160,83448299.52
67,512,1024,1,1,20,20,20,20,1,0.2098,209715200,964689920,39598424.064
68,1024,1024,7,1,20,20,20,20,1024,0.2639,20070400,92323840,4766920.704
69,1024,512,3,1,20,20,20,20,1,0.2175,1887436800,8682209280,369465753.6
70,512,512,3,1,20,20,20,20,1,0.2035,943718400,4341104640,172842024.96
71,512,512,3,1,20,20,20,20,1,0.2818,943718400,4341104640,239345860.608
72,128,64,3,1,80,80,80,80,1,0.819,471859200,2170552320,347807416.32
73,64,64,3,1,80,80,80,80,1,0.762,235929600,1085276160,161800519.68
74,64,64,1,1,80,80,80,80,1,1.38,26214400,120586240,32558284.8
75,128,128,3,1,80,80,80,80,1,0.819,943718400,4341104640,695614832.64
76,128,128,3,1,80,80,80,80,1,0.3376,943718400,4341104640,286739398.656
77,128,80,1,1,80,80,80,80,1,1.2316,65536000,301465600,72642723.84
78,256,64,3,1,40,40,40,40,1,0.393,235929600,1085276160,83448299.52
79,64,64,3,1,40,40,40,40,1,0.7907,58982400,271319040,41973645.312
80,64,64,1,1,40,40,40,40,1,1.6714,6553600,30146560,9858318.336
81,256,128,3,1,40,40,40,40,1,0.393,471859200,2170552320,166896599.04
82,128,128,3,1,40,40,40,40,1,0.3375,235929600,1085276160,71663616
83,128,80,1,1,40,40,40,40,1,1.2069,16384000,75366400,17796464.64
84,512,64,3,1,20,20,20,20,1,0.2563,117964800,542638080,27210940.416
85,64,64,3,1,20,20,20,20,1,0.739,14745600,67829760,9807298.56
86,64,64,1,1,20,20,20,20,1,1.8419,1638400,7536640,2715992.064
87,512,128,3,1,20,20,20,20,1,0.2563,235929600,1085276160,54421880.832
88,128,128,3,1,20,20,20,20,1,0.3591,58982400,271319040,19062521.856
89,128,80,1,1,20,20,20,20,1,1.188,4096000,18841600,4379443.2"""


def spikeyolo_rows():
    import csv

    return list(csv.DictReader(io.StringIO(SPIKEYOLO)))


def test_spikeyolo_table_reproduced_exactly():
    """The papers' *convention* (``conv_macs``, ``layer_energy``: E_ANN = E_MAC·MACs,
    E_SNN = E_AC·rate·MACs, Horowitz 45 nm) against SpikeYOLO's spreadsheet, every row
    including row 1. It checks the convention, not the event model: no event counter and
    no per-event energy of :func:`neurocosim.energy.estimate` enters here."""
    rows = spikeyolo_rows()
    assert len(rows) == 89 and rows[0]["row"] == "1"
    total_macs = 0
    total_ann = 0.0
    for r in rows:
        macs = conv_macs(int(r["Cin"]), int(r["Cout"]), int(r["k"]), int(r["Hout"]),
                         int(r["Wout"]), int(r["groups"]))
        assert macs == int(r["MACs"]), r["row"]
        e_snn, e_ann = layer_energy(macs, float(r["fr_mean_int"]), multilevel="ac")
        assert e_ann / PJ == pytest.approx(float(r["E_ANN_pJ"]), rel=1e-9), r["row"]
        assert e_snn / PJ == pytest.approx(float(r["E_SNN_pJ"]), rel=1e-9), r["row"]
        total_macs += macs
        total_ann += e_ann
    assert total_macs == 101_211_340_800
    assert total_ann == pytest.approx(465.572e-3, rel=1e-6)
    # Row 1 (analog image input): the spreadsheet puts 4.6 in its rate column, so it charges
    # E_AC·4.6 = 0.9 × 4.6 pJ per MAC, which is 0.9 × what paper_convention's
    # first_layer_mac (E_MAC = 4.6 pJ per MAC) charges.
    first = rows[0]
    assert float(first["fr_mean_int"]) == 4.6
    assert float(first["E_SNN_pJ"]) == pytest.approx(0.9 * 4.6 * int(first["MACs"]), rel=1e-12)
    assert float(first["E_SNN_pJ"]) == pytest.approx(0.9 * float(first["E_ANN_pJ"]), rel=1e-12)


def test_static_mac_counter_on_ir_convolutions():
    rows = spikeyolo_rows()
    for r in rows[:12]:
        cin, cout, k, s = int(r["Cin"]), int(r["Cout"]), int(r["k"]), int(r["stride"])
        g = int(r["groups"])
        hin, hout = int(r["Hin"]), int(r["Hout"])
        pad = ((hout - 1) * s + k - hin + 1) // 2
        net = chain({"in": ir.Input(shape=(cin, hin, int(r["Win"]))),
                     "conv": ir.Conv2d(weight=np.zeros((cout, cin // g, k, k)), bias=np.zeros(cout),
                                       stride=s, padding=pad, groups=g),
                     "n": ir.IF(r=1.0, v_threshold=1.0), "out": ir.Output()})
        assert net.out_shapes["conv"][1:] == (hout, int(r["Wout"]))
        from neurocosim.energy import count_macs

        assert count_macs(net)["conv"] == int(r["MACs"])


def test_paper_convention_on_a_run():
    """SOPs = driven rows x outputs; first layer charged as MACs when its input is analog."""
    chip = toy_chip()
    net = toy_net()
    prog = program_chip(map_network(net, chip, placement="sequential"), np.random.default_rng(0))
    x = np.array([[[1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]], float)
    res = simulate(prog, make_encoder("spikes", x, (4,)), 3)
    p = paper_convention(net, res.counts, first_layer_mac=False)
    assert p["sops"] == 3 * 4 + 3 * 2  # fc1: 3 input spikes x 4 outputs; fc2: 3 x 2
    assert p["macs"] == 16 + 8
    assert p["E_snn_J"] == pytest.approx(0.9e-12 * 18)
    assert p["E_ann_J"] == pytest.approx(4.6e-12 * 24)
    p = paper_convention(net, res.counts, first_layer_mac=True)
    assert p["E_snn_J"] == pytest.approx(4.6e-12 * 16 * 3 + 0.9e-12 * 6)
    with pytest.raises(ConfigError, match="unknown paper preset"):
        paper_convention(net, res.counts, preset="nope")


def test_adc_energy_scales_with_resolution_when_a_reference_is_given():
    chip = toy_chip()
    d = chip.to_dict()
    d["macro"]["energy"]["adc_reference_bits"] = 8
    d["macro"]["adc_bits"] = 4
    chip4 = chip_from_dict(d)
    prog = program_chip(map_network(toy_net(), chip4, placement="sequential"), np.random.default_rng(0))
    res = simulate(prog, make_encoder("spikes", np.ones((1, 2, 4)), (4,)), 2)
    rep = estimate(res.counts, chip4, tiles=2, cores=2)
    conversions = res.counts.totals()["conversions"]
    assert rep.by_component["adc"] == pytest.approx(conversions * 3 * PJ / 16)
