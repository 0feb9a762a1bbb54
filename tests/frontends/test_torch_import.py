"""PyTorch networks imported by ``neurocosim.frontends.torch`` against the frameworks
themselves: SpikingJelly 2.0.0 (a CNN with BatchNorm and max pooling, a SEW-ResNet with
ADD and IAND blocks, I-LIF, TernaryLIF and TernaryIF MLPs, an MS-ResNet with membrane
shortcuts written on time-flattened tensors, a Spike-driven Transformer SDSA block, a
Spikformer SSA block and a QKFormer QKTA block) and snnTorch 1.0.0 (a Leaky CNN and MLP;
Lapicque, RLeaky with recurrent Conv2d, Linear and one-to-one weights, and Synaptic
networks, each with both resets), with IF networks whose membranes land exactly on the
threshold for both, all ``model.double()`` with seeded random weights scaled for
moderate firing, on 200 samples of 8 steps of random input spikes.

The frameworks run in their own environment (``.venv-torch``: CPython 3.11, torch 2.13.0
CPU, SpikingJelly, snnTorch and neurocosim; built by ``tests/frontends/torch_env.sh``
when missing: a failed build fails this test, it never skips; ``TORCH_PYTHON`` names
another interpreter) as a subprocess (``torch_worker.py``, one call per framework), which
also imports each model (``from_torch``). Here, in neurocosim's own environment, the
imported network runs on the reference engine (:mod:`neurocosim.hwsim.reference`) and must
give the framework's prediction on ≥ 99 % of the samples and every neuron layer's spike
count within 0.5 %; a sample whose prediction differs must hold a membrane within 1e-9 of
its threshold (recomputed here from the engine's probes: the pre-reset membrane
``v + α(v_leak − v) + α·r·I``), the one way float64 rounding can change a spike.

The worker also runs ``neurocosim convert`` on the CNN, the SEW-ResNet and the SDSA model
(NIR with ``neurocosim.<Kind>`` extension nodes); here those files go through ``info``,
``map``, ``simulate --chip`` (ideal and prime-rram-40nm), ``energy RUN`` and ``deploy``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from neurocosim import make_encoder
from neurocosim.frontends import load_network
from neurocosim.hwsim.reference import simulate as simulate_reference
from neurocosim.ir import nodes as N
from neurocosim.ir.graph import Network
from neurocosim.ir.ternary import TernaryLIF

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SAMPLES, STEPS, SEED = 200, 8, 1
FAMILIES = {"spikingjelly": ("sj_cnn", "sj_mlp", "sew", "ms", "sj_int", "sj_ilif", "sj_ternary",
                             "sj_ternary_if", "sdsa", "ssa", "qkta"),
            "snntorch": ("snn_cnn", "snn_mlp", "snn_int", "snn_explicit", "snn_late",
                         "snn_lapicque", "snn_rleaky", "snn_synaptic")}
NEAR = 1e-9


def torch_python() -> Path:
    """The torch environment's interpreter; built (once, ``.ready``) when missing."""
    given = os.environ.get("TORCH_PYTHON")
    if given:
        return Path(given)
    venv = ROOT / os.environ.get("TORCH_VENV", ".venv-torch")
    ready, script = venv / ".ready", HERE / "torch_env.sh"
    if not ready.exists() or ready.stat().st_mtime < script.stat().st_mtime:  # new packages
        proc = subprocess.run(["bash", str(HERE / "torch_env.sh")], capture_output=True,
                              text=True, timeout=1800, cwd=ROOT)
        assert proc.returncode == 0, f"building {venv.name} failed: {proc.stderr[-3000:]}"
    return venv / "bin" / "python"


def run_worker(name: str, tmp_path_factory) -> Path:
    """Run the worker for framework ``name``; the folder of its outputs."""
    py = torch_python()
    d = tmp_path_factory.mktemp(name)
    (d / "spec.json").write_text(json.dumps({"family": name, "samples": SAMPLES,
                                             "steps": STEPS, "seed": SEED}))
    proc = subprocess.run([str(py), str(HERE / "torch_worker.py"), str(d / "spec.json"),
                           str(d)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    print(proc.stdout)
    return d


@pytest.fixture(scope="module")
def sj(tmp_path_factory) -> Path:
    return run_worker("spikingjelly", tmp_path_factory)


@pytest.fixture(scope="module")
def snn(tmp_path_factory) -> Path:
    return run_worker("snntorch", tmp_path_factory)


def load(d: Path, key: str) -> tuple[Network, dict]:
    """The worker's imported network (structure JSON + arrays) and its arrays."""
    with np.load(d / f"{key}.npz") as z:
        arrays = {k: z[k] for k in z.files}
    structure = json.loads((d / f"{key}.json").read_text())
    for fields in structure["nodes"].values():
        for f, v in fields.items():
            if isinstance(v, dict) and "array" in v:
                fields[f] = arrays[v["array"]]
    return Network.from_dict(structure), arrays


def pre_reset_membranes(net: Network, probes: dict, layer: str) -> np.ndarray:
    """``(samples, steps, *shape)``: the membrane each step before the spike test, from the
    recorded post-reset membrane of the step before and the layer's input current."""
    node, d = net.nodes[layer], net.discretised(layer)
    current = sum(probes[src] for src, _ in net.predecessors(layer))
    v_post = probes[f"{layer}.v"]
    prev = np.concatenate([np.zeros_like(v_post[:, :1]), v_post[:, :-1]], axis=1)
    if isinstance(node, N.IF):
        return prev + d.gain * current
    return prev + d.alpha * (node.v_leak - prev) + d.gain * current


def threshold_gap(node: N.Neuron, v: np.ndarray) -> float:
    """How near membranes ``v`` come to where the layer's output changes: the threshold;
    a TernaryLIF's two (θ⁺, −θ⁻); an ILIF's level boundaries (k + ½)·θ, k < D."""
    if isinstance(node, N.ILIF):
        edges = (np.arange(node.max_level) + 0.5)[:, None] * node.v_threshold.reshape(-1)
        return float(np.abs(v.reshape(v.shape[0], 1, -1) - edges).min())
    gap = np.abs(v - node.v_threshold).min()
    if isinstance(node, TernaryLIF):
        gap = min(gap, np.abs(v + node.v_threshold_neg).min())
    return float(gap)


def check_against_framework(net: Network, arrays: dict, key: str) -> None:
    layers = net.layers()
    assert sorted(layers) == sorted(k[len("count/"):] for k in arrays if k.startswith("count/"))
    enc = make_encoder("spikes", arrays["x"], net.input_shape, np.random.default_rng(0))
    ref = simulate_reference(net, enc, STEPS, probes=layers)
    want = np.argmax(arrays["out"], axis=1)
    got = ref.predictions()
    assert len(set(want.tolist())) >= 4, (key, "degenerate predictions", np.bincount(want))
    for lay in layers:
        ours = np.abs(ref.probes[lay]).sum(axis=tuple(range(1, ref.probes[lay].ndim)))
        theirs = arrays[f"count/{lay}"]
        rate = ours.sum() / (SAMPLES * STEPS * np.prod(net.out_shapes[lay]))
        print(f"{key} {lay}: {int(theirs.sum())} spikes (framework), {int(ours.sum())} "
              f"(reference), rate {rate:.3f}, {int((ours != theirs).sum())} samples differ")
        assert 0.005 < rate < 0.6, (key, lay, rate)  # neither silent nor saturated
        assert abs(ours.sum() - theirs.sum()) <= 0.005 * theirs.sum(), (key, lay)
    agree = float((want == got).mean())
    print(f"{key}: predictions agree on {agree:.1%} of {SAMPLES}")
    assert agree >= 0.99, (key, agree)
    differ = np.flatnonzero(want != got)
    if differ.size:  # again on those samples, with every membrane and input current
        sources = sorted({s for lay in layers for s, _ in net.predecessors(lay)})
        enc = make_encoder("spikes", arrays["x"][differ], net.input_shape,
                           np.random.default_rng(0))
        probes = simulate_reference(net, enc, STEPS, probes=layers + sources + [
            f"{lay}.v" for lay in layers]).probes
        for j, i in enumerate(differ):
            gaps = [threshold_gap(net.nodes[lay], pre_reset_membranes(net, probes, lay)[j])
                    for lay in layers]
            assert min(gaps) <= NEAR, (key, int(i), "disagreement without a near-threshold "
                                       "membrane", min(gaps))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("key", FAMILIES["spikingjelly"])
def test_spikingjelly_models_match(sj, key):
    check_against_framework(*load(sj, key), key)


@pytest.mark.parametrize("key", FAMILIES["snntorch"])
def test_snntorch_models_match(snn, key):
    check_against_framework(*load(snn, key), key)


@pytest.mark.parametrize("key", ["sj_int", "snn_int"])
def test_exact_ties_fall_as_in_the_framework(sj, snn, key):
    """Weights in quarters on binary spikes: membranes land exactly on the threshold
    thousands of times; the counts above matched spike for spike, so the comparison
    (SpikingJelly ``>=``, snnTorch ``>``) is the framework's."""
    net, arrays = load(sj if key == "sj_int" else snn, key)
    layers = net.layers()
    sources = sorted({s for lay in layers for s, _ in net.predecessors(lay)})
    enc = make_encoder("spikes", arrays["x"], net.input_shape, np.random.default_rng(0))
    probes = simulate_reference(net, enc, STEPS, probes=layers + sources + [
        f"{lay}.v" for lay in layers]).probes
    ties = sum(int((pre_reset_membranes(net, probes, lay) == net.nodes[lay].v_threshold).sum())
               for lay in layers)
    print(f"{key}: {ties} membranes exactly on the threshold")
    assert ties >= 1000
    for lay in layers:
        np.testing.assert_array_equal(probes[lay].sum(axis=(1, 2)), arrays[f"count/{lay}"])


def test_what_the_spikingjelly_imports_hold(sj):
    """BatchNorm folded, SEW's IAND and ADD, MS's membrane shortcut (the last one: a
    neuron summing two edges) and the time-flattened reshapes folded away."""
    nets = {key: load(sj, key)[0] for key in FAMILIES["spikingjelly"]}
    kinds = {key: {type(n).__name__ for n in net.nodes.values()} for key, net in nets.items()}
    assert len(nets["sj_cnn"].folded) == 2 and "BatchNorm" not in kinds["sj_cnn"]
    assert {"IAnd", "Add"} <= kinds["sew"] and "MaxPool2d" in kinds["sj_cnn"]
    assert "Reshape" not in kinds["ms"] and len(nets["ms"].folded) == 5
    assert len(nets["ms"].predecessors("sn")) == 2
    assert {"Mul", "ReduceSum"} <= kinds["sdsa"] and len(nets["sdsa"].predecessors("out_lif")) == 2
    assert [n.scale for n in nets["ssa"].nodes.values() if type(n).__name__ == "MatMul"] == [
        0.125, 1.0]
    # QKTA: the token mask LIF(Σ_channels q) (h, 1, N) broadcast over k (h, d, N)
    assert {"Mul", "ReduceSum"} <= kinds["qkta"] and "MatMul" not in kinds["qkta"]
    mul = next(n for n, v in nets["qkta"].nodes.items() if type(v).__name__ == "Mul")
    assert sorted(nets["qkta"].out_shapes[s] for s in nets["qkta"].nodes[mul].operands) == [
        (2, 1, 64), (2, 8, 64)]
    assert all(net.nodes[lay].compare == ">=" for net in nets.values() for lay in net.layers()
               if not isinstance(net.nodes[lay], N.ILIF))


def test_cli_converts_and_refuses(snn):
    """``neurocosim convert MODEL.py:FACTORY --weights STATE.pt`` (run in the torch
    environment) writes the network ``from_torch`` builds; an unsupported module exits 2
    with one line naming it and its source line."""
    runs = json.loads((snn / "cli.json").read_text())
    assert runs["ok"]["rc"] == 0, runs["ok"]["stderr"]
    net = load(snn, "snn_mlp")[0]
    assert load_network(snn / "cli_ok.nir") == net
    assert all(net.nodes[lay].compare == ">" for lay in net.layers())
    bad = runs["bad"]
    assert bad["rc"] == 2 and bad["stderr"].count("\n") == 1, bad
    assert "ReLU" in bad["stderr"] and "badmodel.py:13" in bad["stderr"], bad["stderr"]
    assert not (snn / "cli_bad.nir").exists()


def test_what_cannot_be_imported_exactly_is_refused(snn):
    got = json.loads((snn / "refusals.json").read_text())
    want = {"snn_none": ["Leaky", "reset_mechanism='none'", "reset_mechanism='zero'"],
            "snn_alpha": ["Alpha", "not supported", "Leaky", "Synaptic"],
            "snn_inhibit": ["RLeaky", "inhibition=True", "reset_delay=True"],
            "sj_mixed": ["mixes neurons in step_mode 's' and 'm'"],
            "sub": ["subtraction", "torch_worker.py:"],
            "batch_mean": ["mean over the batch axis", "torch_worker.py:"]}
    for key, parts in want.items():
        assert all(p in got[key] for p in parts), (key, got[key])
        assert "\n" not in got[key], got[key]


def test_without_torch_convert_says_what_to_install(tmp_path, capsys):
    """Where torch is missing (Lava's Python 3.10 environment), ``convert`` of a PyTorch
    model exits 2 with one line naming the extra and the Python it needs."""
    import sys

    from neurocosim.cli import main

    saved = sys.modules.get("torch")
    sys.modules["torch"] = None  # import torch → ImportError, as where it is not installed
    try:
        rc = main(["convert", str(tmp_path / "model.py") + ":make", "--input-shape", "2,16,16",
                   "--steps", "4", "-o", str(tmp_path / "out.nir")])
    finally:
        if saved is None:
            del sys.modules["torch"]
        else:
            sys.modules["torch"] = saved
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert "pip install 'neurocosim[torch]'" in err and "3.11" in err, err


def test_neurocosim_never_imports_torch():
    py = torch_python()
    code = ("import sys, neurocosim, neurocosim.cli, neurocosim.frontends.torch; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    proc = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


CLI_MODELS = ("sj_cnn", "sew", "sdsa")


@pytest.mark.parametrize("key", CLI_MODELS)
def test_cli_writes_nir_with_extension_nodes(sj, key):
    """``neurocosim convert`` of SpikingJelly models with max pooling, SEW's IAND/ADD and
    SDSA's products writes NIR with ``neurocosim.<Kind>`` extension nodes; the file is the
    network ``from_torch`` built (its BatchNorm folds kept), node for node."""
    import h5py

    runs = json.loads((sj / "cli.json").read_text())
    assert runs[key]["rc"] == 0, runs[key]["stderr"]
    net = load(sj, key)[0]
    path = sj / f"cli_{key}.nir"
    with h5py.File(path, "r") as f:
        types = {g["type"][()].decode() for g in f["node/nodes"].values()}
    want = {"sj_cnn": {"neurocosim.MaxPool2d"}, "sew": {"neurocosim.IAnd", "neurocosim.Add"},
            "sdsa": {"neurocosim.Mul", "neurocosim.ReduceSum", "neurocosim.Reshape"}}[key]
    assert want <= types, types
    back = load_network(path)  # the network checked against the framework above
    assert back == net and back.folded == net.folded


def cli_capture(capsys, *argv: str) -> tuple[int, str, str]:
    from neurocosim.cli import main

    rc = main(list(argv))
    got = capsys.readouterr()
    return rc, got.out, got.err


#: the chain's models: SpikingJelly's CNN (BatchNorm, max pooling) and SDSA transformer
CHAIN = {"sj_cnn": ("MaxPool2d",), "sdsa": ("'stem_conv' must feed one IF, LIF or CubaLIF",)}


@pytest.mark.parametrize("key", list(CHAIN))
def test_imported_model_maps_simulates_costs_and_deploys(sj, key, tmp_path, capsys):
    """convert (torch env) → info → map → simulate --chip (ideal: the framework's
    predictions on every sample; prime-rram-40nm with its programming and read noise and
    early stop) → energy RUN → deploy (Loihi 2 refuses both: one line naming the node)."""
    net, arrays = load(sj, key)
    model = str(sj / f"cli_{key}.nir")
    want = np.argmax(arrays["out"], axis=1)
    np.savez(tmp_path / "data.npz", x=arrays["x"][:40], y=want[:40])
    np.savez(tmp_path / "cal.npz", x=arrays["x"][100:116], y=want[100:116])
    rc, out, err = cli_capture(capsys, "info", model)
    assert rc == 0, err
    assert f"neurons: {net.n_neurons()}" in out and "folded BatchNorm" in out
    rc, out, err = cli_capture(capsys, "map", model, "--chip", "prime-rram-40nm",
                               "-o", str(tmp_path / "map"))
    assert rc == 0, err
    report = json.loads((tmp_path / "map" / "report.json").read_text())
    synaptic = [v for v in net.nodes.values() if isinstance(v, (N.Conv2d, N.Affine))]
    products = [v for v in net.nodes.values() if type(v).__name__ in ("Mul", "ReduceSum")]
    assert report["static_matrices_on_crossbars"] == len(synaptic) > 0
    assert report["spike_spike_ops_digital"] == report["spike_spike_ops"] == len(products)
    common = ("--data", str(tmp_path / "data.npz"), "--steps", str(STEPS), "--encoding",
              "spikes", "--threads", "2", "-q")
    rc, out, err = cli_capture(capsys, "simulate", model, "--chip", "ideal", *common,
                               "-o", str(tmp_path / "ideal"))
    assert rc == 0, err
    with np.load(tmp_path / "ideal" / "results.npz") as z:
        np.testing.assert_array_equal(z["predictions"], want[:40])  # the framework's
    # SDSA's readout takes average-pooled (non-binary) values: bit-serial inputs
    extra = ("--set", "macro.input=bit_serial:8") if key == "sdsa" else ()
    run = tmp_path / "run"
    rc, out, err = cli_capture(capsys, "simulate", model, "--chip", "prime-rram-40nm", *extra,
                               "--conv-regions", "4", "--calibration-data",
                               str(tmp_path / "cal.npz"), "--adc-calibration", "16",
                               "--early-stop", "confidence:0.8:2", "--seed", "3", *common,
                               "-o", str(run))
    assert rc == 0, err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["n_samples"] == 40 and summary["early_stop"] == "confidence:0.8:2"
    assert 0.1 <= summary["accuracy"] <= 1.0
    rc, out, err = cli_capture(capsys, "energy", str(run))
    assert rc == 0, err
    energy = json.loads((run / "energy.json").read_text())
    parts = energy["by_component"]
    crossbar = parts["array_read"] + parts["adc"]
    assert energy["energy_per_inference_J"] > 0 and crossbar > 0 and parts["digital"] > 0
    assert abs(sum(parts.values()) - energy["energy_per_inference_J"]) <= \
        1e-9 * energy["energy_per_inference_J"]
    print(f"{key} on prime-rram-40nm: {energy['energy_per_inference_J'] * 1e9:.1f} nJ, "
          f"crossbar {crossbar / energy['energy_per_inference_J']:.0%}, digital "
          f"{parts['digital'] / energy['energy_per_inference_J']:.1%}, accuracy "
          f"{summary['accuracy']:.2f} (vs the framework)")
    rc, out, err = cli_capture(capsys, "deploy", model, "--target", "lava",
                               "-o", str(tmp_path / "deploy"))
    assert rc == 2 and err.count("\n") == 1, err
    assert "Loihi 2 deployment" in err and all(p in err for p in CHAIN[key]), err
    assert not (tmp_path / "deploy").exists()


def test_snntorch_late_subtraction_is_a_delayed_feedback(snn):
    """snnTorch's default subtract reset (β < 1) imports as the IR's subtraction plus the
    layer's spikes, one step later, times −(1 − β)θ, back into its input."""
    net = load(snn, "snn_late")[0]
    for layer, beta in (("2", 0.9), ("4", 0.8)):
        assert net.nodes[layer].reset == "subtract"
        delay, scale = f"{layer}_late", f"{layer}_late_scale"
        assert type(net.nodes[delay]).__name__ == "Delay" and net.nodes[delay].steps == 1
        beta32 = float(np.float32(beta))  # snnTorch holds β as a float32 buffer
        np.testing.assert_allclose(net.nodes[scale].scale, -(1 - beta32) * 1.0, rtol=1e-12)
        assert {(layer, delay), (delay, scale), (scale, layer)} <= set(net.edges)


def test_snntorch_recurrence_gates_and_synapses_are_wired(snn):
    """RLeaky's V on the layer's own spikes one step late (a Delay closing the cycle),
    the zero reset of Lapicque/RLeaky/Synaptic as the input gated by ``1 − s_{t−1}``
    (IAnd), Synaptic's current as a Scale(1) fed by itself through a Delay and Scale(α),
    Lapicque's decay ``1 − Δ/(RC)``."""
    kind = lambda net, name: type(net.nodes[name]).__name__  # noqa: E731
    rl = load(snn, "snn_rleaky")[0]
    for layer, rec in (("2", "Conv2d"), ("5", "Affine"), ("7", "Scale")):
        assert kind(rl, f"{layer}_rec") == rec and kind(rl, f"{layer}_late") == "Delay"
        assert (f"{layer}_late", f"{layer}_rec") in rl.edges
    np.testing.assert_allclose(rl.nodes["7_rec"].scale, np.linspace(-0.6, 0.4, 10), atol=1e-7)
    assert {"2_gate", "7_gate"} <= set(rl.nodes) and "5_gate" not in rl.nodes
    assert rl.nodes["2_gate"].operands == ("2_late", "2_in")  # (1 − s_{t−1})·(x + V s_{t−1})
    assert {("2_rec", "2_in"), ("2_gate", "2")} <= set(rl.edges)
    syn = load(snn, "snn_synaptic")[0]
    for layer, alpha in (("2", 0.7), ("4", 0.5), ("6", 0.6)):
        s = f"{layer}_syn"
        assert {(s, f"{s}_prev"), (f"{s}_prev", f"{s}_decay"), (f"{s}_decay", s)} <= \
            set(syn.edges)
        assert np.all(syn.nodes[f"{s}_decay"].scale == float(np.float32(alpha)))
    assert kind(syn, "4") == "IF" and "4_gate" in syn.nodes and "2_gate" not in syn.nodes
    lap = load(snn, "snn_lapicque")[0]
    assert np.allclose(lap.discretised("4").alpha, 1.0 / (2.0 * 2.5))  # Δ/(RC)
    assert np.allclose(lap.discretised("4").gain, 2.0 / (2.0 * 2.5))  # R·Δ/(RC)
    beta = float(np.float32(0.8))
    assert np.allclose(lap.discretised("2").alpha, np.log(1 / beta), rtol=1e-6)


def test_integer_and_ternary_spikingjelly_neurons(sj):
    """SpikingJelly's I-LIF as the IR's ILIF (its D, ``decay_input=False``: r = τ) and
    TernaryLIFNode as a TernaryLIF whose thresholds, in the shifted membrane
    ``v − v_reset``, are ``θ − v_reset`` and ``θ + v_reset``."""
    ilif = load(sj, "sj_ilif")[0]
    assert [(type(ilif.nodes[k]).__name__, getattr(ilif.nodes[k], "max_level", None))
            for k in ilif.layers()] == [("ILIF", 4), ("ILIF", 2), ("LIF", None)]
    np.testing.assert_allclose(ilif.discretised("2").alpha, 0.75)  # 1/τ, τ = 4/3
    np.testing.assert_allclose(ilif.discretised("2").gain, 1.0)
    assert np.all(ilif.nodes["4"].v_threshold == 0.75)
    ter = load(sj, "sj_ternary")[0]
    got = [(ter.nodes[k].reset, float(ter.nodes[k].v_threshold.flat[0]),
            float(ter.nodes[k].v_threshold_neg.flat[0])) for k in ("2", "4", "6")]
    assert got == [("zero", 1.0, 1.0), ("zero", 0.75, 1.25), ("subtract", 1.0, 1.0)]
    assert all(isinstance(ter.nodes[k], TernaryLIF) for k in ("2", "4", "6"))


def test_ternary_if_is_a_memoryless_ternary_lif_on_an_accumulator(sj):
    """TernaryIFNode (no leak): a TernaryLIF with α = 1 fed by ``A`` = Scale(1), which
    adds its own previous value (a Delay) and −θ·s_{t−1} (soft reset) or takes
    ``(1 − s_{t−1}²)·A_{t−1}`` (hard reset: IAnd of the product of two Delays)."""
    net = load(sj, "sj_ternary_if")[0]
    for k in ("2", "4", "6"):
        np.testing.assert_array_equal(net.discretised(k).alpha, 1.0)
        assert [s for s, _ in net.predecessors(k)] == [f"{k}_acc"]
        assert (f"{k}_acc_prev", f"{k}_acc") in net.edges or (f"{k}_gate", f"{k}_acc") in net.edges
    assert {("2_late", "2_fired"), ("2_late2", "2_fired"), ("2_fired", "2_gate"),
            ("2_acc_prev", "2_gate"), ("2_gate", "2_acc")} <= set(net.edges)
    got = [(net.nodes[k].reset, float(net.nodes[k].v_threshold.flat[0]),
            float(net.nodes[k].v_threshold_neg.flat[0])) for k in ("2", "4", "6")]
    assert got == [("zero", 1.0, 1.0), ("zero", 1.25, 0.75), ("subtract", 1.0, 1.0)]
    assert {("6_acc_prev", "6_acc"), ("6_late_scale", "6_acc")} <= set(net.edges)
    np.testing.assert_array_equal(net.nodes["6_late_scale"].scale, -1.0)
