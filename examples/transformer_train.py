"""Train a tiny Spike-driven Transformer and a tiny Spikformer on the digits, in PyTorch.

Runs in the PyTorch environment (``.venv-torch``: CPython 3.11, torch 2.13.0 CPU,
SpikingJelly 2.0.0, neurocosim; ``bash tests/frontends/torch_env.sh`` builds it);
``examples/transformer_study.py`` runs it and takes over its outputs. Both models are
written with SpikingJelly's multi-step ``LIFNode`` (τ = 2, θ = 1, hard reset to 0,
``detach_reset=True``; the attention LIF θ = 0.5), as the papers' code, on
scikit-learn's digits as 1×8×8 images fed directly (the same analog image every step,
the papers' direct encoding), T steps:

* ``sdt`` — Spike-driven Transformer (Yao et al., NeurIPS 2023, ``sdt/model.py``):
  a spiking patch stem (conv 3×3 → BN → LIF → max pool 2 → conv 3×3 → BN: membrane
  tokens, 4×4 = 16 of dim 32), one encoder block with membrane shortcuts —
  ``x + SDSA(LIF(x))``, SDSA = ``q ⊙ LIF₀.₅(Σ_tokens k ⊙ v)`` then a 1×1 conv and BN,
  2 heads — and ``x + MLP(x)`` (LIF → 1×1 conv → BN → LIF → 1×1 conv → BN), then the head
  (mean over tokens → LIF → linear).
* ``spikformer`` — Spikformer (Zhou et al., ICLR 2023, ``model.py``): a stem that ends
  in spikes plus a relative position embedding (``x + LIF(BN(conv(x)))``: multi-level
  spikes), one block with spike shortcuts — ``x + SSA(x)``, SSA =
  ``LIF(BN(conv₁ₓ₁(LIF₀.₅(q·kᵀ·v·0.125))))`` with q, k, v = LIF(BN(conv₁ₓ₁(x))) in 2 heads —
  and ``x + MLP(x)`` (conv → BN → LIF, twice), then the head (mean over tokens → linear).

Training (float32, seeded, 1 thread by default): Adam, cross-entropy on the output averaged over
the T steps, SpikingJelly's sigmoid surrogate gradient; the training split is
``neurocosim.datasets.digits(seed)`` (75/25, stratified). Afterwards each model is cast to
float64 (``model.double()``), its ``state_dict`` saved (``{key}.pt``) and imported the
way a user imports it — ``neurocosim.frontends.torch.convert_file`` of this file's
factory (``transformer_train.py:sdt``, ``:spikformer``, float64 models) with those
weights, as ``neurocosim convert`` does — and written as a network file; the
framework's own float64 predictions on the test set go to ``{key}_framework.npz``
(``out``: the output averaged over the steps, ``pred``: its argmax).

    .venv-torch/bin/python examples/transformer_train.py --out build/transformer
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from spikingjelly.activation_based import functional, neuron

DIM, HEADS, TOKENS, CLASSES = 32, 2, 16, 10  # channels, heads, 4×4 tokens, digits
DT = 1e-3  # s per step: τ = 2 steps is 2 ms in the imported network
INPUT_SHAPE = (1, 8, 8)


def lif(th: float = 1.0):
    """SpikingJelly's multi-step LIF as the papers use it (τ = 2, hard reset to 0)."""
    return neuron.LIFNode(tau=2.0, v_threshold=th, detach_reset=True, step_mode="m")


def conv_bn(cin: int, cout: int, k: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False),
                         nn.BatchNorm2d(cout))


class TimeFlat(nn.Module):
    """Plain ``torch.nn`` layers on the time-flattened ``(T·B, C, H, W)`` tensor, as the
    papers' code applies them."""

    def __init__(self, *layers: nn.Module):
        super().__init__()
        self.f = nn.Sequential(*layers)

    def forward(self, x):
        t, b = x.shape[0], x.shape[1]
        y = self.f(x.flatten(0, 1))
        return y.reshape(t, b, y.shape[1], y.shape[2], y.shape[3])


def heads(x):
    """``(T, B, C, 4, 4)`` → ``(T, B, heads, C/heads, tokens)``."""
    t, b = x.shape[0], x.shape[1]
    return x.flatten(3).reshape(t, b, HEADS, DIM // HEADS, TOKENS)


def merge(y):
    """``(T, B, heads, C/heads, tokens)`` → ``(T, B, C, 4, 4)``."""
    t, b = y.shape[0], y.shape[1]
    return y.reshape(t, b, DIM, 4, 4)


class MLP(nn.Module):
    """The block's MLP: SDT's neuron-first form (LIF → conv → BN, twice: membrane out),
    Spikformer's conv-first form (conv → BN → LIF, twice: spikes out); hidden 2·DIM."""

    def __init__(self, neuron_first: bool):
        super().__init__()
        self.neuron_first = neuron_first
        self.lif1, self.fc1 = lif(), TimeFlat(*conv_bn(DIM, 2 * DIM))
        self.lif2, self.fc2 = lif(), TimeFlat(*conv_bn(2 * DIM, DIM))

    def forward(self, x):
        if self.neuron_first:
            return self.fc2(self.lif2(self.fc1(self.lif1(x))))
        return self.lif2(self.fc2(self.lif1(self.fc1(x))))


class SDT(nn.Module):
    """A tiny Spike-driven Transformer (one encoder block)."""

    def __init__(self):
        super().__init__()
        self.stem1, self.stem_lif = TimeFlat(*conv_bn(1, DIM // 2, 3)), lif()
        self.stem2 = TimeFlat(nn.MaxPool2d(2), *conv_bn(DIM // 2, DIM, 3))
        self.attn_in = lif()
        self.q, self.k, self.v = (TimeFlat(*conv_bn(DIM, DIM)) for _ in range(3))
        self.q_lif, self.k_lif, self.v_lif = lif(), lif(), lif()
        self.talking_heads_lif = lif(0.5)
        self.proj = TimeFlat(*conv_bn(DIM, DIM))
        self.mlp = MLP(neuron_first=True)
        self.head_lif, self.head = lif(), nn.Linear(DIM, CLASSES)

    def forward(self, x):
        x = self.stem2(self.stem_lif(self.stem1(x)))          # membrane tokens
        s = self.attn_in(x)
        q, k, v = (heads(f(c(s))) for c, f in ((self.q, self.q_lif), (self.k, self.k_lif),
                                                (self.v, self.v_lif)))
        kv = self.talking_heads_lif((k * v).sum(dim=-1, keepdim=True))  # over the tokens
        x = x + self.proj(merge(q * kv))                       # membrane shortcut
        x = x + self.mlp(x)
        y = self.head(self.head_lif(x.flatten(3).mean(3)))     # (T, B, classes)
        return y.mean(0)


class Spikformer(nn.Module):
    """A tiny Spikformer (one encoder block)."""

    def __init__(self):
        super().__init__()
        self.stem1, self.stem_lif1 = TimeFlat(*conv_bn(1, DIM // 2, 3)), lif()
        self.stem2, self.stem_lif2 = TimeFlat(nn.MaxPool2d(2), *conv_bn(DIM // 2, DIM, 3)), lif()
        self.rpe, self.rpe_lif = TimeFlat(*conv_bn(DIM, DIM, 3)), lif()
        self.q, self.k, self.v = (TimeFlat(*conv_bn(DIM, DIM)) for _ in range(3))
        self.q_lif, self.k_lif, self.v_lif = lif(), lif(), lif()
        self.attn_lif = lif(0.5)
        self.proj, self.proj_lif = TimeFlat(*conv_bn(DIM, DIM)), lif()
        self.mlp = MLP(neuron_first=False)
        self.head = nn.Linear(DIM, CLASSES)

    def forward(self, x):
        x = self.stem_lif2(self.stem2(self.stem_lif1(self.stem1(x))))
        x = x + self.rpe_lif(self.rpe(x))                      # multi-level spikes
        q, k, v = (heads(f(c(x))).transpose(3, 4) for c, f in (
            (self.q, self.q_lif), (self.k, self.k_lif), (self.v, self.v_lif)))  # (.., N, d)
        attn = q @ k.transpose(-2, -1)
        y = self.attn_lif((attn @ v * 0.125).transpose(3, 4))
        x = x + self.proj_lif(self.proj(merge(y)))             # spike shortcut
        x = x + self.mlp(x)
        return self.head(x.flatten(3).mean(3)).mean(0)


MODELS = {"sdt": SDT, "spikformer": Spikformer}


def sdt() -> nn.Module:
    """Factory for ``neurocosim convert transformer_train.py:sdt`` (float64)."""
    return SDT().double()


def spikformer() -> nn.Module:
    """Factory for ``neurocosim convert transformer_train.py:spikformer`` (float64)."""
    return Spikformer().double()


def direct(x: torch.Tensor, steps: int) -> torch.Tensor:
    """Direct encoding: ``(B, 1, 8, 8)`` → ``(T, B, 1, 8, 8)``, the image every step."""
    return x.unsqueeze(0).expand(steps, *x.shape)


def forward(model: nn.Module, x: torch.Tensor, steps: int) -> torch.Tensor:
    functional.reset_net(model)
    y = model(direct(x, steps))
    functional.reset_net(model)
    return y


def train(key: str, data: dict, *, epochs: int, steps: int, seed: int, lr: float,
          batch: int) -> tuple[nn.Module, dict]:
    """Train model ``key`` (float32); the model and its training record."""
    torch.manual_seed(seed)
    model = MODELS[key]()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs, 1))
    xtr = torch.tensor(data["x_train"], dtype=torch.float32)
    ytr = torch.tensor(data["y_train"], dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    t0, losses = time.perf_counter(), []
    for _ in range(epochs):
        model.train()
        perm, total = torch.randperm(len(xtr), generator=gen), 0.0
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            loss = nn.functional.cross_entropy(forward(model, xtr[idx], steps), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        losses.append(total / len(xtr))
    model.eval()
    with torch.no_grad():
        y32 = forward(model, torch.tensor(data["x_test"], dtype=torch.float32), steps)
    acc32 = float((y32.argmax(1).numpy() == data["y_test"]).mean())
    return model, {"train_s": time.perf_counter() - t0, "epochs": epochs, "loss": losses,
                   "test_accuracy_float32": acc32}


def predict64(model: nn.Module, x: np.ndarray, steps: int, batch: int = 256) -> np.ndarray:
    """The float64 model's output (averaged over the steps) on ``x``."""
    model = model.double().eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            outs.append(forward(model, torch.tensor(x[i:i + batch], dtype=torch.float64), steps))
    return torch.cat(outs).numpy()


def export(key: str, model: nn.Module, out: Path, steps: int) -> str:
    """Save the float64 ``state_dict`` and import it from this file's factory as
    ``neurocosim convert`` does; the network file written."""
    from neurocosim.frontends import save_network
    from neurocosim.frontends.torch import convert_file

    weights = out / f"{key}.pt"
    torch.save(model.double().state_dict(), weights)
    net = convert_file(f"{Path(__file__).resolve()}:{key}", weights,
                       ",".join(map(str, INPUT_SHAPE)), steps, DT)
    path = out / f"{key}.nir"
    save_network(net, path, extensions=True)  # NIR 1.0 lacks attention: neurocosim.<Kind>
    return path.name


def digits_data(seed: int, samples: int | None) -> dict:
    from neurocosim.datasets import digits

    xtr, xte, ytr, yte = digits(seed)
    n = samples or len(xtr)
    return {"x_train": xtr[:n].reshape(-1, *INPUT_SHAPE), "y_train": ytr[:n],
            "x_test": xte[:n].reshape(-1, *INPUT_SHAPE), "y_test": yte[:n]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder (created)")
    ap.add_argument("--models", default="sdt,spikformer")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--samples", type=int, default=None,
                    help="at most this many training and test digits (a quick run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (results depend on it; 2 threads on 2 busy cores are slower)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    a.out.mkdir(parents=True, exist_ok=True)
    data = digits_data(a.seed, a.samples)
    np.savez(a.out / "train.npz", x=data["x_train"], y=data["y_train"])
    np.savez(a.out / "test.npz", x=data["x_test"], y=data["y_test"])
    record = {"steps": a.steps, "dt": DT, "seed": a.seed, "threads": a.threads,
              "n_train": len(data["y_train"]), "n_test": len(data["y_test"]), "models": {}}
    for key in a.models.split(","):
        model, rec = train(key, data, epochs=a.epochs, steps=a.steps, seed=a.seed, lr=a.lr,
                           batch=a.batch)
        out = predict64(model, data["x_test"], a.steps)
        pred = out.argmax(1)
        np.savez(a.out / f"{key}_framework.npz", out=out, pred=pred)
        rec |= {"test_accuracy": float((pred == data["y_test"]).mean()),
                "parameters": sum(p.numel() for p in model.parameters()),
                "network": export(key, model, a.out, a.steps),
                "factory": f"{Path(__file__).name}:{key}", "weights": f"{key}.pt"}
        record["models"][key] = rec
        print(f"{key}: {rec['epochs']} epochs in {rec['train_s']:.1f} s, test accuracy "
              f"{rec['test_accuracy']:.4f} (float64), loss {rec['loss'][-1]:.3f}", flush=True)
    (a.out / "train.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
