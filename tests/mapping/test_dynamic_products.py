"""Products of two activations (issue 16, "Operators"): Spikformer's SSA (both
associations) at N = 64 tokens, d = 32 features per head, 2 heads, T = 4 steps, on
prime-rram-40nm and on a card with writable SRAM tiles. By default every MatMul runs on
the digital units; held in RRAM tiles it is refused with its writes; forced, the report's
writes per inference, write energy and lifetime equal the hand calculation written here
(every cell of the held operand, the MatMul's second operand, rewritten every step)."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from neurocosim import ir, make_encoder, map_network
from neurocosim.devices import chip_from_dict, load_chip
from neurocosim.errors import MappingError
from neurocosim.hwsim.digital_table import digital_nodes
from neurocosim.mapping.dynamic import DynamicPolicy, WriteReport, mapped_writes
from neurocosim.mapping.mapped import MappingReport
from neurocosim.pipeline import ChipRunOptions, RunStreams, run_on_chip

H, D, HH, WW, T = 2, 32, 8, 8, 4
N = HH * WW  # 64 tokens
C_IN = 3
PRIME = load_chip("prime-rram-40nm")
REGIONS = 8  # the 64-channel 8x8 maps of q, k and v fit 1024 neurons per core

# a card with writable SRAM tiles beside prime's RRAM crossbars (YAML, units spelled)
SRAM_TILE = """
writable_tile:
  technology: sram
  rows: 256
  cols: 256
  tiles_per_core: 2
  write:
    energy_per_cell: {value: 0.16 pJ, source: "one bit of a 64-bit 8 KB SRAM access, 10 pJ at 45 nm (Horowitz ISSCC 2014)", assumption: true}
    latency_per_row: {value: 10 ns, source: one SRAM row per 100 MHz cycle, assumption: true}
    endurance: {value: null, source: SRAM cells do not wear out}
  read_energy_per_mac: {value: 22 fJ, source: "89 TOPS/W, 2 ops per MAC (Chih et al. ISSCC 2021)", assumption: true}
"""


def ssa_net(assoc, seed=0):
    """Input (3, 8, 8) → three 1×1 convolutions → LIF q, k, v (64 channels = 2 heads × 32)
    → SSA (``associate``) → output."""
    rng = np.random.default_rng(seed)
    c = H * D
    nodes, edges = {"in": ir.Input(shape=(C_IN, HH, WW))}, []
    for s in "qkv":
        nodes[f"fc_{s}"] = ir.Conv2d(weight=rng.integers(-2, 9, (c, C_IN, 1, 1)) / 4,
                                     bias=np.zeros(c))
        nodes[s] = ir.LIF(tau=2e-3, r=1.0, v_leak=0.0, v_threshold=1.0, reset="zero",
                          compare=">=")
        edges += [("in", f"fc_{s}"), (f"fc_{s}", s)]
    b = ir.blocks.ssa("q", "k", "v", shape=(c, HH, WW), heads=H, associate=assoc)
    return ir.Network(nodes={**nodes, **b.nodes, "out": ir.Output()},
                      edges=tuple(edges + b.edges + [(b.output, "out")]), dt=1e-3)


# -- the hand calculation ------------------------------------------------------------------
# (q·kᵀ)·v ("left"): q·kᵀ holds kᵀ (d × N per head), (q kᵀ)·v holds v (N × d per head);
# q·(kᵀ·v) ("right"): kᵀ·v holds v (N × d), q·(kᵀ v) holds kᵀ v (d × d).
ELEMENTS = {"left": {"ssa_qk": H * D * N, "ssa_qkv": H * N * D},
            "right": {"ssa_kv": H * N * D, "ssa_qkv": H * D * D}}
PAIR = 2  # prime's differential pairs: 2 RRAM cells per element
E_CELL, T_ROW, ENDURANCE = 10e-12, 1e-6, 1e6  # prime's macro.write (J, s, writes)


def forced(assoc, **kw):
    return map_network(ssa_net(assoc), kw.pop("chip", PRIME), conv_regions=REGIONS,
                       dynamic_products=DynamicPolicy("crossbar", steps=T, **kw))


def sram_card(tmp_path):
    """prime-rram-40nm with :data:`SRAM_TILE`, loaded from a YAML file."""
    path = tmp_path / "prime-sram.yaml"
    card = PRIME.to_dict() | {"name": "prime-sram"}
    path.write_text(yaml.safe_dump(card, sort_keys=False, allow_unicode=True) + SRAM_TILE)
    return load_chip(path)


def test_the_card_gives_the_write_costs_of_the_hand_calculation():
    w = PRIME.macro.write
    assert (w.energy_per_cell.value, w.latency_per_row.value, w.endurance.value) == \
        pytest.approx((E_CELL, T_ROW, ENDURANCE))
    assert PRIME.macro.weight_mapping == "differential" and PRIME.writable_tile is None


@pytest.mark.parametrize("assoc", ["left", "right"])
def test_default_runs_every_matmul_on_the_digital_units(assoc):
    net = ssa_net(assoc)
    mapped = map_network(net, PRIME, conv_regions=REGIONS)
    matmuls = [n for n in net.order if isinstance(net.nodes[n], ir.tensors.MatMul)]
    assert sorted(matmuls) == sorted(ELEMENTS[assoc])
    assert set(mapped.ops) == {"fc_q", "fc_k", "fc_v"}
    assert set(matmuls) <= set(digital_nodes(mapped))
    assert mapped.report.dynamic_products is None and mapped_writes(mapped) is None
    assert "dynamic_products" not in mapped.report.to_dict()


def test_held_in_rram_it_is_refused_with_the_writes_of_the_hand_calculation():
    with pytest.raises(MappingError) as err:
        forced("right")
    msg = str(err.value)
    # q·(kᵀ·v): v is 2·64·32 = 4096 elements, kᵀv 2·32·32 = 2048; 2 cells each
    # → 8192 + 4096 = 12288 cells per step, × 10 pJ = 122.88 nJ per step, × 4 steps
    # = 491.52 nJ per inference; each cell written 4 times per inference: 1e6 / 4 =
    # 250,000 inferences; a tile writes its 64 (32) rows at 1 us: 64 us (32 us) per step
    for part in ("design rule 'dynamic_product': chip 'prime-rram-40nm' has no writable "
                 "tiles", "12,288 cells, 122.9 nJ per step, 491.5 nJ per inference of 4 steps",
                 "each cell is written 4 times per inference",
                 "an endurance of 1e+06 writes lasts 250,000 inferences",
                 "'ssa_kv' 8,192 cells, 81.92 nJ and 64 us per step (step 1 ms)",
                 "'ssa_qkv' 4,096 cells, 40.96 nJ and 32 us per step (step 1 ms)",
                 "--allow-rram-writes", "--dynamic-products digital"):
        assert part in msg, msg
    assert "\n" not in msg and len(msg) < 600  # one CLI line, not cut
    with pytest.raises(MappingError, match="16,384 cells, 163.8 nJ per step, 655.4 nJ per "
                                           "inference of 4 steps"):
        forced("left")  # kᵀ and v: (4096 + 4096) × 2 cells


@pytest.mark.parametrize("assoc", ["left", "right"])
def test_forced_ssa_on_rram_reports_the_hand_calculation(assoc):
    mapped = forced(assoc, allow_rram_writes=True)
    rep = mapped.report.to_dict()["dynamic_products"]
    per_step = {k: PAIR * v for k, v in ELEMENTS[assoc].items()}
    cells = T * sum(per_step.values())
    assert rep["cells_per_inference"] == cells
    assert rep["write_energy_per_inference_J"] == pytest.approx(cells * E_CELL)
    assert rep["writes_per_cell_per_inference"] == T
    assert rep["lifetime_inferences"] == pytest.approx(ENDURANCE / T)
    rows = {r["node"]: r for r in rep["products"]}
    assert {k: r["cells_per_step"] for k, r in rows.items()} == per_step
    stored = {"left": {"ssa_qk": "ssa_k_heads", "ssa_qkv": "ssa_v_tokens"},
              "right": {"ssa_kv": "ssa_v_tokens", "ssa_qkv": "ssa_kv"}}[assoc]
    assert {k: r["stored"] for k, r in rows.items()} == stored
    rows_held = {"ssa_qk": D, "ssa_kv": N, "ssa_qkv": N if assoc == "left" else D}
    for k, r in rows.items():  # rows of the held operand written one after another
        assert r["write_latency_per_step_s"] == pytest.approx(rows_held[k] * T_ROW)
        assert r["place"] == "crossbar" and r["tiles"] == H  # 64 rows, 32 pairs: 1 tile/head
    text = mapped.report.text()
    assert f"writes per inference ({T} steps): {cells:,} cells" in text
    assert "lifetime 250,000 inferences" in text
    assert rep["policy"] == {"mode": "crossbar", "allow_rram_writes": True, "steps": T}
    assert WriteReport.from_dict(rep).to_dict() == rep


def test_the_writes_survive_the_report_as_strict_json():
    """What mapping.json / report.json and a run folder keep (an SSA network itself has no
    NIR form, so the report is round-tripped through JSON text)."""
    mapped = forced("left", allow_rram_writes=True)
    text = json.dumps(mapped.report.to_dict(), allow_nan=False)
    back = dataclasses.replace(mapped, report=MappingReport.from_dict(json.loads(text)))
    assert back.report.dynamic_products == mapped.report.dynamic_products
    assert mapped_writes(back).to_dict() == mapped_writes(mapped).to_dict()
    assert back.report.text() == mapped.report.text()


def _run(net, chip, policy, allow=False):
    x = np.random.default_rng(1).random((3, C_IN, HH, WW))
    enc = make_encoder("rate", x, net.input_shape, np.random.default_rng(2))
    opts = ChipRunOptions(steps=T, adc_calibration=0, conv_regions=REGIONS,
                          dynamic_products=policy, allow_rram_writes=allow)
    streams = RunStreams(np.random.SeedSequence(0), np.random.SeedSequence(1))
    return run_on_chip(net, chip, enc, opts, streams=streams)


def test_forced_run_costs_the_writes_on_top_of_the_digital_run():
    net = ssa_net("left")
    base = _run(net, PRIME, "digital")
    held = _run(net, PRIME, "crossbar", allow=True)
    cells = T * PAIR * sum(ELEMENTS["left"].values())  # every sample runs T steps
    assert held.result.counts.steps.tolist() == [T] * 3
    e = held.energy
    assert e.by_component["writes"] == pytest.approx(cells * E_CELL)
    assert e.writes_by_kind == {"MatMul": pytest.approx({"cells_per_inference": cells,
                                                         "energy_J": cells * E_CELL})}
    assert e.by_layer_component["ssa_qk"]["writes"] == pytest.approx(T * PAIR * H * D * N * E_CELL)
    assert e.energy_per_inference_J - base.energy.energy_per_inference_J == \
        pytest.approx(cells * E_CELL)  # same counts: only the writes added
    assert "writes (MatMul): 65,536 cells per inference, 655.4 nJ" in e.text()
    assert "writes" not in base.energy.by_component and not base.energy.writes_by_kind


@pytest.mark.parametrize("assoc", ["left", "right"])
def test_a_card_with_writable_sram_tiles_holds_them_without_refusal(assoc, tmp_path):
    chip = sram_card(tmp_path)
    mapped = forced(assoc, chip=chip)  # no acknowledgement needed
    rep = mapped.report.to_dict()["dynamic_products"]
    # one cell per binary spike (kᵀ, v), 8 per count (kᵀ·v holds counts up to N)
    bits = {"ssa_qk": 1, "ssa_kv": 1, "ssa_qkv": 1 if assoc == "left" else 8}
    per_step = {k: v * bits[k] for k, v in ELEMENTS[assoc].items()}
    assert {r["node"]: r["cells_per_step"] for r in rep["products"]} == per_step
    assert all(r["place"] == "writable_tile" for r in rep["products"])
    cells = T * sum(per_step.values())
    assert rep["cells_per_inference"] == cells
    assert rep["write_energy_per_inference_J"] == pytest.approx(cells * 0.16e-12)
    assert rep["lifetime_inferences"] is None  # SRAM: no wear-out
    assert "lifetime unlimited (no wear-out)" in mapped.report.text()


def test_writable_tile_macs_are_priced_at_the_in_memory_mac(tmp_path):
    """Same counts as on the digital units: the MatMuls' MACs (h·N·d·N for q·kᵀ, h·N·N·d
    for (q kᵀ)·v per step) move from digital.mac (0.23 pJ) to 22 fJ; the writes add."""
    net = ssa_net("left")
    base = _run(net, PRIME, "digital")
    held = _run(net, sram_card(tmp_path), "crossbar")
    for node in ("ssa_qk", "ssa_qkv"):
        macs = T * H * N * D * N
        diff = (held.energy.by_layer_component[node]["digital"]
                - base.energy.by_layer_component[node]["digital"])
        assert diff == pytest.approx(macs * (22e-15 - 0.23e-12))
        assert held.energy.by_layer_component[node]["writes"] == \
            pytest.approx(T * ELEMENTS["left"][node] * 0.16e-12)


def test_too_few_writable_tiles_are_refused(tmp_path):
    d = sram_card(tmp_path).to_dict()
    d["writable_tile"]["tiles_per_core"] = 1
    chip = chip_from_dict(d)
    mapped = forced("left", chip=chip)  # 4 tiles (1 per head per product) of 16: fits
    assert sum(r["tiles"] for r in mapped.report.dynamic_products["products"]) == 4
    # 16 x 16 tiles: kᵀ (32 x 64) takes 2·4 tiles per head, v (64 x 32) 4·2: 2·8 + 2·8 = 32
    d["writable_tile"]["rows"] = d["writable_tile"]["cols"] = 16
    with pytest.raises(MappingError, match=r"needs 32 writable tiles, chip 'prime-sram' "
                                           r"has 16 \(16 cores x 1\): choose "
                                           r"writable_tile.tiles_per_core >= 2"):
        forced("left", chip=chip_from_dict(d))


def test_cli_refuses_with_one_line_and_exit_2(tmp_path):
    data = tmp_path / "x.npz"
    np.savez(data, x=np.random.default_rng(0).random((2, 3, 32, 32)))
    proc = subprocess.run(
        [sys.executable, "-m", "neurocosim.cli", "simulate", "zoo:spikformer-4-384-cifar",
         "--chip", "prime-rram-40nm", "--data", str(data), "--steps", "4", "--encoding",
         "rate", "--adc-calibration", "0", "--dynamic-products", "crossbar",
         "-o", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "neurocosim: error: design rule 'dynamic_product': chip 'prime-rram-40nm' has no "
        "writable tiles; holding 8 product(s)")
    # 4 blocks, 12 heads of 32, 64 tokens: 8 products of 12·32·64 elements, 2 cells each
    assert f"{8 * 12 * 32 * 64 * 2:,} cells" in lines[0]
    assert not (tmp_path / "run").exists()


def test_policy_is_checked():
    with pytest.raises(MappingError, match="dynamic_products must be one of digital, crossbar"):
        DynamicPolicy("sram")
    with pytest.raises(MappingError, match="steps per inference"):
        DynamicPolicy("crossbar", steps=0)
    assert dataclasses.asdict(DynamicPolicy()) == {"mode": "digital", "allow_rram_writes": False,
                                                   "steps": 1}
