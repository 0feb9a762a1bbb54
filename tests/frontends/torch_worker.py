"""The frameworks' own forward passes, and the import, inside the torch environment.

``python torch_worker.py SPEC.json OUT_DIR`` (run by ``tests/frontends/test_torch_import.py``
in ``.venv-torch``). SPEC holds ``family`` (``spikingjelly`` or ``snntorch``), ``samples``,
``steps`` and ``seed``. For each of the family's models (built here with the framework's
own modules, ``model.double()``, seeded random weights; BatchNorm statistics from one pass
in training mode over a calibration batch), OUT_DIR gets ``{key}.json`` (the imported
network's structure, :meth:`Network.to_dict` without arrays), ``{key}.npz``: the arrays,
``x`` (samples, steps, *S) the input, ``out`` the framework's output summed over the steps,
and ``count/{layer}`` each neuron layer's spikes per sample (recorded by forward hooks on
the framework's neuron modules; the IR layer has the module's name with ``.`` → ``_``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from neurocosim.frontends.torch import from_torch

C, H = 2, 16


# -- SpikingJelly (multi-step) --------------------------------------------------------
def sj_cnn():
    from spikingjelly.activation_based import functional, layer, neuron

    net = nn.Sequential(
        layer.Conv2d(C, 16, 3, padding=1, bias=False), layer.BatchNorm2d(16),
        neuron.IFNode(),
        layer.MaxPool2d(2),
        layer.Conv2d(16, 32, 3, padding=1, bias=False), layer.BatchNorm2d(32),
        neuron.LIFNode(tau=2.0),
        layer.MaxPool2d(2),
        layer.Flatten(), layer.Linear(32 * 4 * 4, 10),
        neuron.LIFNode(tau=3.0, decay_input=False, v_reset=None),
    )
    functional.set_step_mode(net, "m")
    return net


def sj_int():
    """IF layers with weights in quarters on binary spikes: every membrane is exact in
    float64 and lands on the threshold often, where only ``>=`` gives SpikingJelly's
    spikes."""
    from spikingjelly.activation_based import functional, layer, neuron

    net = nn.Sequential(layer.Flatten(), layer.Linear(C * H * H, 64, bias=False),
                        neuron.IFNode(), layer.Linear(64, 10, bias=False),
                        neuron.IFNode(v_reset=None))
    functional.set_step_mode(net, "m")
    return net


def sj_mlp():
    """Hard resets to v_reset ≠ 0 (imported shifted), decay_input=False, a PLIF."""
    from spikingjelly.activation_based import functional, layer, neuron

    net = nn.Sequential(layer.Flatten(), layer.Linear(C * H * H, 96),
                        neuron.IFNode(v_reset=-0.5), layer.Linear(96, 64),
                        neuron.LIFNode(tau=2.0, decay_input=False, v_reset=0.25),
                        layer.Linear(64, 10),
                        neuron.ParametricLIFNode(init_tau=3.0, decay_input=False))
    functional.set_step_mode(net, "m")
    return net


def sj_ilif():
    """SpikingJelly's integer-spike I-LIF (D = 4 and D = 2, soft reset by the count) before
    a binary LIF readout."""
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    net = nn.Sequential(layer.Flatten(), layer.Linear(C * H * H, 96),
                        neuron.ILIFNode(surrogate_function=surrogate.MultiLevelSpikeCount(4)),
                        layer.Linear(96, 64),
                        neuron.ILIFNode(tau=2.0, v_threshold=0.75,
                                        surrogate_function=surrogate.MultiLevelSpikeCount(2)),
                        layer.Linear(64, 10), neuron.LIFNode(tau=2.0))
    functional.set_step_mode(net, "m")
    return net


def sj_ternary():
    """SpikingJelly's signed TernaryLIFNode: hard reset to 0, to v_reset ≠ 0 with
    decay_input=False (Guo et al.'s τ = 4/3), and the signed soft reset."""
    from spikingjelly.activation_based import functional, layer, neuron

    net = nn.Sequential(layer.Flatten(), layer.Linear(C * H * H, 96),
                        neuron.TernaryLIFNode(tau=2.0), layer.Linear(96, 64),
                        neuron.TernaryLIFNode(tau=4.0 / 3.0, decay_input=False, v_reset=0.25),
                        layer.Linear(64, 64), neuron.TernaryLIFNode(tau=3.0, v_reset=None),
                        layer.Linear(64, 10), neuron.IFNode(v_threshold=0.25))
    functional.set_step_mode(net, "m")
    return net


def sj_ternary_if():
    """SpikingJelly's signed TernaryIFNode (no leak): hard reset to 0 and to -0.25, and the
    signed soft reset."""
    from spikingjelly.activation_based import functional, layer, neuron

    net = nn.Sequential(layer.Flatten(), layer.Linear(C * H * H, 96), neuron.TernaryIFNode(),
                        layer.Linear(96, 64), neuron.TernaryIFNode(v_reset=-0.25),
                        layer.Linear(64, 64), neuron.TernaryIFNode(v_reset=None),
                        layer.Linear(64, 10), neuron.IFNode(v_threshold=0.25))
    functional.set_step_mode(net, "m")
    return net


class SEWBlock(nn.Module):
    """SEW-ResNet basic block (Fang et al. 2021), time flattened by SeqToANNContainer."""

    def __init__(self, cin: int, cout: int, stride: int, connect: str):
        super().__init__()
        from spikingjelly.activation_based import layer, neuron

        seq = layer.SeqToANNContainer
        self.conv1 = seq(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))
        self.sn1 = neuron.IFNode(step_mode="m")
        self.conv2 = seq(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.sn2 = neuron.IFNode(step_mode="m")
        self.connect = connect
        self.down = None
        if stride != 1 or cin != cout:
            self.down = seq(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            self.down_sn = neuron.IFNode(step_mode="m")

    def forward(self, x):
        identity = x if self.down is None else self.down_sn(self.down(x))
        out = self.sn2(self.conv2(self.sn1(self.conv1(x))))
        if self.connect == "ADD":
            return out + identity
        return identity * (1.0 - out)  # IAND


class SEWNet(nn.Module):
    def __init__(self):
        super().__init__()
        from spikingjelly.activation_based import layer, neuron

        self.stem = layer.SeqToANNContainer(nn.Conv2d(C, 8, 3, 1, 1, bias=False),
                                            nn.BatchNorm2d(8))
        self.sn = neuron.IFNode(step_mode="m")
        self.block1 = SEWBlock(8, 8, 1, "ADD")
        self.block2 = SEWBlock(8, 16, 2, "IAND")
        self.pool = layer.AdaptiveAvgPool2d((1, 1), step_mode="m")
        self.fc = layer.Linear(16, 10, step_mode="m")

    def forward(self, x):
        x = self.block2(self.block1(self.sn(self.stem(x))))
        return self.fc(self.pool(x).flatten(2)).mean(0)


class MSBlock(nn.Module):
    """MS-ResNet block (Hu et al. 2024): neuron first, membrane shortcut; plain torch.nn
    layers on the time-flattened tensor."""

    def __init__(self, c: int):
        super().__init__()
        from spikingjelly.activation_based import neuron

        self.sn1 = neuron.LIFNode(tau=2.0, step_mode="m")
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)
        self.sn2 = neuron.LIFNode(tau=2.0, step_mode="m", v_reset=None)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        t, b, c, h, w = x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4]
        out = self.bn1(self.conv1(self.sn1(x).flatten(0, 1))).reshape(t, b, c, h, w)
        out = self.bn2(self.conv2(self.sn2(out).flatten(0, 1))).view(t, b, -1, h, w)
        return out + x


class MSNet(nn.Module):
    def __init__(self):
        super().__init__()
        from spikingjelly.activation_based import neuron

        self.conv, self.bn = nn.Conv2d(C, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8)
        self.block1, self.block2 = MSBlock(8), MSBlock(8)
        self.sn = neuron.ParametricLIFNode(init_tau=2.0, step_mode="m")
        self.pool = nn.AvgPool2d(4)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        t, b = x.shape[0], x.shape[1]
        y = self.bn(self.conv(x.flatten(0, 1))).view(t, b, 8, H, H)
        y = self.sn(self.block2(self.block1(y)))
        y = self.fc(torch.flatten(self.pool(y.flatten(0, 1)), 1))
        return y.reshape(t, b, 10).mean(dim=0)


class Stem(nn.Module):
    """Conv → BatchNorm → (LIF) → max pool: (T, B, 2, 16, 16) → (T, B, 16, 8, 8)."""

    def __init__(self, spiking: bool):
        super().__init__()
        from spikingjelly.activation_based import layer, neuron

        self.conv = layer.Conv2d(C, 16, 3, padding=1, bias=False, step_mode="m")
        self.bn = layer.BatchNorm2d(16, step_mode="m")
        self.lif = neuron.LIFNode(tau=2.0, step_mode="m") if spiking else None
        self.pool = layer.MaxPool2d(2, step_mode="m")

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.pool(self.lif(x) if self.lif is not None else x)


def _qkv(dim: int, th: float = 1.0):
    """A 1×1 convolution, BatchNorm and LIF of the token maps (time flattened)."""
    from spikingjelly.activation_based import neuron

    return (nn.Conv2d(dim, dim, 1, bias=False), nn.BatchNorm2d(dim),
            neuron.LIFNode(tau=2.0, v_threshold=th, step_mode="m"))


class Attention(nn.Module):
    """SDSA (Spike-driven Transformer, Yao et al. 2023: ``q ⊙ LIF(Σ_tokens k ⊙ v)``,
    membrane shortcut), SSA (Spikformer, Zhou et al. 2023: ``LIF(q·kᵀ·v·0.125)``, spike
    shortcut) or QKTA (QKFormer, Zhou et al. 2024, ``Token_QK_Attention``: ``LIF(Σ_head
    channels q) ⊙ k``, its 1×1 Conv1d as a 1×1 Conv2d; spike shortcut), on 16 channels ×
    64 tokens in 2 heads, then a readout."""

    def __init__(self, kind: str):
        super().__init__()
        from spikingjelly.activation_based import layer, neuron

        self.kind, self.heads, self.dim = kind, 2, 16
        self.stem = Stem(spiking=kind != "sdsa")
        self.pre = neuron.LIFNode(tau=2.0, step_mode="m") if kind == "sdsa" else None
        th = {"sdsa": 1.0, "ssa": 0.45, "qkta": 1.2}[kind]  # SSA: denser q, k, v
        self.q_conv, self.q_bn, self.q_lif = _qkv(16, th)
        self.k_conv, self.k_bn, self.k_lif = _qkv(16, th)
        if kind != "qkta":  # QKTA has no v
            self.v_conv, self.v_bn, self.v_lif = _qkv(16, th)
        self.mid_lif = neuron.LIFNode(tau=2.0, v_threshold=0.5, step_mode="m")
        self.proj_conv, self.proj_bn = nn.Conv2d(16, 16, 1), nn.BatchNorm2d(16)
        self.proj_lif = neuron.LIFNode(tau=2.0, step_mode="m") if kind != "sdsa" else None
        self.out_lif = neuron.LIFNode(tau=2.0, step_mode="m")
        self.pool = layer.AdaptiveAvgPool2d(1, step_mode="m")
        self.fc = layer.Linear(16, 10, step_mode="m")

    def _branch(self, x, conv, bn, lif, t, b):
        y = bn(conv(x.flatten(0, 1))).reshape(t, b, self.dim, 8, 8)
        return lif(y).flatten(3).reshape(t, b, self.heads, self.dim // self.heads, 64)

    def forward(self, x):
        x = self.stem(x)
        t, b = x.shape[0], x.shape[1]
        s = self.pre(x) if self.pre is not None else x
        q, k = (self._branch(s, c, n, f, t, b) for c, n, f in (
            (self.q_conv, self.q_bn, self.q_lif), (self.k_conv, self.k_bn, self.k_lif)))
        if self.kind != "qkta":
            v = self._branch(s, self.v_conv, self.v_bn, self.v_lif, t, b)
        if self.kind == "sdsa":  # (T, B, h, d, N): tokens last
            y = q * self.mid_lif((k * v).sum(dim=-1, keepdim=True))
        elif self.kind == "qkta":  # a token mask (T, B, h, 1, N) times k (T, B, h, d, N)
            y = self.mid_lif(q.sum(dim=3, keepdim=True)) * k
        else:  # tokens × head dims: (T, B, h, N, d)
            q, k, v = (z.transpose(3, 4) for z in (q, k, v))
            attn = q @ k.transpose(-2, -1) * 0.125
            y = self.mid_lif((attn @ v).transpose(3, 4))
        y = self.proj_bn(self.proj_conv(y.reshape(t * b, self.dim, 8, 8)))
        y = y.reshape(t, b, self.dim, 8, 8)
        y = x + (self.proj_lif(y) if self.proj_lif is not None else y)
        return self.fc(self.pool(self.out_lif(y)).flatten(2)).mean(0)


def sj_run(model, x: torch.Tensor, hooks: dict):
    from spikingjelly.activation_based import functional

    functional.reset_net(model)
    with torch.no_grad():
        out = model(x)
    functional.reset_net(model)
    if out.dim() == 3:  # (T, B, classes): spikes per step
        out = out.sum(0)
    return out, {k: torch.stack(v).sum(0) for k, v in hooks.items()}


# -- snnTorch (single-step, init_hidden) ------------------------------------------------
def step64(x):
    """snnTorch's spike forward ``(x > 0)`` kept in x's dtype: its own surrogates return
    float32 (``.float()``), which the next float64 layer refuses."""
    return (x > 0).to(x.dtype)


def snn_cnn():
    import snntorch as snn

    return nn.Sequential(
        nn.Conv2d(C, 12, 5, padding=2), nn.MaxPool2d(2),
        snn.Leaky(beta=0.9, reset_mechanism="zero", init_hidden=True, spike_grad=step64),
        nn.Conv2d(12, 32, 5, padding=2), nn.MaxPool2d(2),
        snn.Leaky(beta=0.75, reset_mechanism="zero", init_hidden=True, spike_grad=step64),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 10),
        snn.Leaky(beta=0.9, reset_mechanism="zero", init_hidden=True, spike_grad=step64, output=True),
    )


def snn_mlp():
    import snntorch as snn

    return nn.Sequential(
        nn.Flatten(), nn.Linear(C * H * H, 128),
        snn.Leaky(beta=1.0, reset_mechanism="subtract", init_hidden=True, spike_grad=step64),
        nn.Linear(128, 64), snn.Leaky(beta=0.5, reset_mechanism="zero", init_hidden=True, spike_grad=step64),
        nn.Linear(64, 10),
        snn.Leaky(beta=0.95, reset_mechanism="zero", init_hidden=True, spike_grad=step64, output=True),
    )


def snn_reset(model) -> None:
    from snntorch import utils
    from snntorch._neurons.neurons import SpikingNeuron

    utils.reset(model)  # the init_hidden neurons
    for m in model.modules():
        if isinstance(m, SpikingNeuron) and not m.init_hidden:
            m.reset_mem()


def snn_run(model, x: torch.Tensor, hooks: dict):
    snn_reset(model)
    outs = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            outs.append(model(x[t])[0])  # (spk, mem) or Synaptic's (spk, syn, mem)
    snn_reset(model)
    return torch.stack(outs).sum(0), {k: torch.stack(v).sum(0) for k, v in hooks.items()}


def snn_late():
    """snnTorch's defaults: ``reset_mechanism="subtract"`` with β < 1, θ one step late."""
    import snntorch as snn

    return nn.Sequential(
        nn.Flatten(), nn.Linear(C * H * H, 96),
        snn.Leaky(beta=0.9, init_hidden=True, spike_grad=step64),
        nn.Linear(96, 10), snn.Leaky(beta=0.8, init_hidden=True, spike_grad=step64, output=True),
    )


def snn_int():
    """``sj_int`` in snnTorch (``>``; subtract and zero reset with beta = 1)."""
    import snntorch as snn

    return nn.Sequential(
        nn.Flatten(), nn.Linear(C * H * H, 64, bias=False),
        snn.Leaky(beta=1.0, reset_mechanism="subtract", init_hidden=True, spike_grad=step64),
        nn.Linear(64, 10, bias=False),
        snn.Leaky(beta=1.0, reset_mechanism="zero", init_hidden=True, output=True,
                  spike_grad=step64),
    )


class SnnExplicit(nn.Module):
    """snnTorch's other style: neurons keep their state inside (init_hidden=False) and
    return ``(spk, mem)``, unpacked in ``forward``; one call per step."""

    def __init__(self):
        super().__init__()
        import snntorch as snn

        self.fc1 = nn.Linear(C * H * H, 96)
        self.lif1 = snn.Leaky(beta=0.8, reset_mechanism="zero", spike_grad=step64)
        self.fc2 = nn.Linear(96, 10)
        self.lif2 = snn.Leaky(beta=0.9, reset_mechanism="zero", spike_grad=step64)

    def forward(self, x):
        spk1, mem1 = self.lif1(self.fc1(x.flatten(1)))
        spk2, mem2 = self.lif2(self.fc2(spk1))
        return spk2, mem2


def snn_lapicque():
    """snnTorch Lapicque: β given (R = 1, C from β) with the late subtraction; R and C
    given (decay 1 − Δ/(RC)) with the zero reset that drops the next step's input."""
    import snntorch as snn

    kw = {"init_hidden": True, "spike_grad": step64}
    return nn.Sequential(
        nn.Flatten(), nn.Linear(C * H * H, 96), snn.Lapicque(beta=0.8, threshold=0.2, **kw),
        nn.Linear(96, 64), snn.Lapicque(R=2.0, C=2.5, time_step=1.0, threshold=0.4,
                                        reset_mechanism="zero", **kw),
        nn.Linear(64, 10), snn.Lapicque(beta=0.9, threshold=0.1, reset_mechanism="zero",
                                        output=True, **kw),
    )


def snn_rleaky():
    """snnTorch RLeaky: a recurrent Conv2d (zero reset), a recurrent Linear with its bias
    (late subtraction), per-neuron one-to-one weights V (zero reset)."""
    import snntorch as snn

    kw = {"init_hidden": True, "spike_grad": step64}
    v = torch.linspace(-0.6, 0.4, 10)
    return nn.Sequential(
        nn.Conv2d(C, 8, 3, padding=1), nn.MaxPool2d(2),
        snn.RLeaky(beta=0.8, conv2d_channels=8, kernel_size=3, reset_mechanism="zero", **kw),
        nn.Flatten(), nn.Linear(8 * 8 * 8, 64), snn.RLeaky(beta=0.85, linear_features=64, **kw),
        nn.Linear(64, 10),
        snn.RLeaky(beta=0.9, all_to_all=False, V=v, reset_mechanism="zero", output=True, **kw),
    )


def snn_synaptic():
    """snnTorch Synaptic: late subtraction; β = 1 with the zero reset; α·syn kept through
    the zero reset."""
    import snntorch as snn

    kw = {"init_hidden": True, "spike_grad": step64}
    return nn.Sequential(
        nn.Flatten(), nn.Linear(C * H * H, 96), snn.Synaptic(alpha=0.7, beta=0.85, **kw),
        nn.Linear(96, 64), snn.Synaptic(alpha=0.5, beta=1.0, reset_mechanism="zero", **kw),
        nn.Linear(64, 10),
        snn.Synaptic(alpha=0.6, beta=0.9, reset_mechanism="zero", output=True, **kw),
    )


def snn_mlp64():
    """``snn_mlp`` in float64: the factory ``neurocosim convert`` runs in the test."""
    return snn_mlp().double()


BAD_MODEL = """import torch.nn as nn
from spikingjelly.activation_based import neuron


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(512, 10)
        self.act = nn.ReLU()
        self.sn = neuron.IFNode()

    def forward(self, x):
        return self.sn(self.act(self.fc(x.flatten(1))))


def make():
    return Net()
"""


def cli_runs(out: Path, model) -> dict:
    """``neurocosim convert`` (its ``main``, as the console script calls it) on the MLP
    with its weights, and on a model with an unsupported module (``BAD_MODEL``)."""
    import contextlib
    import io

    from neurocosim.cli import main

    torch.save(model.state_dict(), out / "snn_mlp.pt")
    (out / "badmodel.py").write_text(BAD_MODEL)
    runs = {}
    for key, spec, weights in (("ok", f"{__file__}:snn_mlp64", ["--weights", str(out / "snn_mlp.pt")]),
                               ("bad", f"{out / 'badmodel.py'}:make", [])):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["convert", spec, *weights, "--input-shape", f"{C},{H},{H}", "--steps",
                       "8", "--dt", "1e-3", "-o", str(out / f"cli_{key}.nir")])
        runs[key] = {"rc": rc, "stderr": err.getvalue()}
    return runs


def sj_cnn64():
    """The SpikingJelly factories ``neurocosim convert`` runs in the test (float64)."""
    return sj_cnn().double()


def sew64():
    return SEWNet().double()


def sdsa64():
    return Attention("sdsa").double()


#: SpikingJelly models converted by the CLI to NIR (the chain test maps, simulates, costs
#: and deploys them in neurocosim's own environment)
SJ_CLI = {"sj_cnn": "sj_cnn64", "sew": "sew64", "sdsa": "sdsa64"}


def sj_cli_run(out: Path, key: str, model) -> dict:
    """``neurocosim convert`` of SpikingJelly model ``key`` with its state_dict → NIR
    (extension nodes where NIR has none)."""
    import contextlib
    import io

    from neurocosim.cli import main

    torch.save(model.state_dict(), out / f"{key}.pt")
    err = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["convert", f"{__file__}:{SJ_CLI[key]}", "--weights", str(out / f"{key}.pt"),
                   "--input-shape", f"{C},{H},{H}", "--steps", "8", "--dt", "1e-3",
                   "-o", str(out / f"cli_{key}.nir")])
    return {"rc": rc, "stderr": err.getvalue(), "seconds": time.perf_counter() - t0}


class _Sub(nn.Module):
    def __init__(self):
        super().__init__()
        import snntorch as snn

        self.fc1, self.fc2 = nn.Linear(4, 3), nn.Linear(4, 3)
        self.sn = snn.Leaky(beta=1.0, init_hidden=True)

    def forward(self, x):
        return self.sn(self.fc1(x) - self.fc2(x))


class _BatchMean(nn.Module):
    def __init__(self):
        super().__init__()
        import snntorch as snn

        self.fc, self.sn = nn.Linear(4, 3), snn.Leaky(beta=1.0, init_hidden=True)

    def forward(self, x):
        return self.sn(self.fc(x).mean(0))


def refusals() -> dict:
    """``from_torch``'s one-line refusals of what it cannot import exactly."""
    import snntorch as snn
    from spikingjelly.activation_based import layer, neuron

    from neurocosim.errors import ModelError

    cases = {
        "snn_none": nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.9, init_hidden=True,
                                                             reset_mechanism="none")),
        "snn_alpha": nn.Sequential(nn.Linear(4, 3),
                                   snn.Alpha(alpha=0.9, beta=0.8, init_hidden=True)),
        "snn_inhibit": nn.Sequential(nn.Linear(4, 3), snn.RLeaky(
            beta=0.9, linear_features=3, inhibition=True, init_hidden=True)),
        "sj_mixed": nn.Sequential(layer.Linear(4, 3, step_mode="m"), neuron.IFNode(step_mode="m"),
                                  layer.Linear(3, 2), neuron.IFNode()),
        "sub": _Sub(), "batch_mean": _BatchMean(),
    }
    out = {}
    for key, model in cases.items():
        try:
            from_torch(model, torch.zeros(1, 4), steps=4)
            out[key] = "imported"
        except ModelError as exc:
            out[key] = str(exc)
    return out


# -- common -----------------------------------------------------------------------------
MODELS = {"spikingjelly": {"sj_cnn": sj_cnn, "sj_mlp": sj_mlp, "sew": SEWNet, "ms": MSNet,
                           "sj_int": sj_int, "sj_ilif": sj_ilif, "sj_ternary": sj_ternary,
                           "sj_ternary_if": sj_ternary_if,
                           "sdsa": lambda: Attention("sdsa"), "ssa": lambda: Attention("ssa"),
                           "qkta": lambda: Attention("qkta")},
          "snntorch": {"snn_cnn": snn_cnn, "snn_mlp": snn_mlp, "snn_int": snn_int,
                       "snn_explicit": SnnExplicit, "snn_late": snn_late,
                       "snn_lapicque": snn_lapicque, "snn_rleaky": snn_rleaky,
                       "snn_synaptic": snn_synaptic}}
#: factor on the default initialisation of weights, for moderate firing (conv, linear)
GAIN = {"sj_cnn": (1.0, 4.0), "sj_mlp": (1.0, 3.0), "sj_ilif": (1.0, 3.0),
        "sj_ternary": (1.0, 4.0), "sj_ternary_if": (1.0, 2.0), "sew": (1.0, 1.0), "ms": (1.0, 1.0), "sdsa": (1.0, 1.0),
        "ssa": (1.0, 1.0), "qkta": (1.0, 1.0), "snn_cnn": (3.0, 3.0),
        "snn_mlp": (4.0, 4.0), "snn_explicit": (4.0, 4.0), "snn_late": (4.0, 4.0),
        "snn_lapicque": (4.0, 4.0), "snn_rleaky": (3.0, 3.0), "snn_synaptic": (2.0, 2.0)}


def build(key: str, family: str, x: torch.Tensor, seed: int):
    torch.manual_seed(seed)
    model = MODELS[family][key]().double()
    if key.endswith("_int"):
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Linear):
                    m.weight.copy_(torch.randint(-2, 3, m.weight.shape) / 4.0)
        return model.eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(GAIN[key][isinstance(m, nn.Linear)])
        # the readout's rows centred: a class wins by the pattern, not by a larger row sum
        last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        last.weight.sub_(last.weight.mean(1, keepdim=True)).mul_(3.0 / GAIN[key][1])
        last.bias.zero_()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = None  # running statistics: the average over the batch
                m.bias.uniform_(0.0, 0.5)
                m.weight.uniform_(0.8, 1.2)
    if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        model.train()
        run = sj_run if family == "spikingjelly" else snn_run
        run(model, x[:, :32], {})
    model.eval()
    return model


def neuron_hooks(model, family: str) -> dict:
    from neurocosim.frontends.torch.neurons import is_neuron

    rec: dict[str, list] = {}
    for name, m in model.named_modules():
        if not is_neuron(m):
            continue
        key = name.replace(".", "_")
        rec[key] = []

        def hook(_m, _inp, out, key=key):
            s = (out[0] if isinstance(out, tuple) else out).abs()  # a −1 is one spike
            rec[key].append(s.reshape(s.shape[0], -1).sum(1) if family == "snntorch"
                            else s.reshape(*s.shape[:2], -1).sum((0, 2)))

        m.register_forward_hook(hook)
    return rec


def main(spec_path: str, out_dir: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    family, n, steps, seed = spec["family"], spec["samples"], spec["steps"], spec["seed"]
    out = Path(out_dir)
    gen = torch.Generator().manual_seed(seed)
    protos = torch.rand((10, C, H, H), generator=gen, dtype=torch.float64) ** 3 * 0.8
    cls = torch.randint(0, 10, (n,), generator=gen)  # input spikes of 10 random rate maps
    x = (torch.rand((steps, n, C, H, H), generator=gen, dtype=torch.float64) < protos[cls])
    x = x.double()
    sj_cli: dict = {}
    for key in MODELS[family]:
        t0 = time.perf_counter()
        model = build(key, family, x, seed)
        example = x[:, :1] if family == "spikingjelly" else x[0, :1]
        net = from_torch(model, example, dt=1e-3, steps=steps)
        hooks = neuron_hooks(model, family)
        run = sj_run if family == "spikingjelly" else snn_run
        y, counts = run(model, x, hooks)
        arrays = {"x": x.transpose(0, 1).numpy(), "out": y.numpy()}
        arrays |= {f"count/{k}": v.numpy() for k, v in counts.items()}
        structure = net.to_dict()
        for node, fields in structure["nodes"].items():
            for f, v in list(fields.items()):
                if isinstance(v, np.ndarray):
                    arrays[f"node/{node}/{f}"] = v
                    fields[f] = {"array": f"node/{node}/{f}"}
        (out / f"{key}.json").write_text(json.dumps(structure))
        np.savez(out / f"{key}.npz", **arrays)
        rates = {k: float(v.sum() / (n * steps * net.out_shapes[k][0] *
                                     int(np.prod(net.out_shapes[k][1:]))))
                 for k, v in counts.items()}
        print(key, f"{time.perf_counter() - t0:.1f} s, spike rates",
              {k: round(r, 3) for k, r in rates.items()}, flush=True)
        if key in SJ_CLI:
            sj_cli[key] = sj_cli_run(out, key, model)
        if key == "snn_mlp":
            (out / "cli.json").write_text(json.dumps(cli_runs(out, model)))
            (out / "refusals.json").write_text(json.dumps(refusals()))
    if sj_cli:
        (out / "cli.json").write_text(json.dumps(sj_cli))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
