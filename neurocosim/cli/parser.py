"""The argument parser of every command (each command's module holds its ``run``)."""

from __future__ import annotations

import argparse

from .. import inputs as I
from .._version import __version__
from . import _common as C

MODEL, CHIP = "model file (.nir or .npz) or zoo:NAME", "chip preset name or path to a .yaml card"
ENC, PLACE, B = ("current", "rate", "spikes"), ("partition", "sequential"), {"action": "store_true"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _o(flags: str, h: str | None = None, **kw):
    return flags.split(), ({"help": h} if h else {}) | kw


DT, QUIET = _o("--dt", "time step in seconds", type=I.positive_float), _o("-q --quiet", "no progress bar", **B)
SEED = _o("--seed", type=I.seed, default=0)
SET = _o("--set", "change a card field, e.g. --set macro.adc_bits=6 (dotted path, repeatable; "
                  "'a+b=V' sets both)", action="append", metavar="KEY=VALUE")
OUT = _o("-o --output", "output directory", required=True)
PREC = _o("--precision", "cycle-level engine values (default float64: the reference)", choices=("float32", "float64"))
DYN = (_o("--dynamic-products", "where activation x activation MatMuls run (crossbar: held in writable tiles)", choices=("digital", "crossbar")),
       _o("--allow-rram-writes", "with --dynamic-products crossbar on RRAM/PCM tiles: accept rewriting cells every step", **B))
DASK = _o("--dask", "a dask.distributed scheduler ADDRESS, or 'local' for a LocalCluster", metavar="ADDRESS")


def _add(sub, name: str, help_: str, *opts, force: bool = True):
    s = sub.add_parser(name, help=help_)
    for flags, kw in opts + ((_o("--force", C.FORCE_HELP, **B),) if force else ()):
        s.add_argument(*flags, **kw)
    return s


def _commands(sub, commands: dict) -> None:
    _add(sub, "info", "show a model's layers, shapes and parameter ranges", _o("model", MODEL),
         _o("--dt", "time step in seconds (NIR stores none)", type=I.positive_float), force=False)
    _add(sub, "simulate", "simulate a model on data (float reference engine)", _o("model", MODEL), DT,
         _o("--steps", "time steps per sample", type=I.positive_int, required=True),
         _o("--data", "DATA.npz with x (n, *input) or (n, steps, *input) for spikes, optional y",
            required=True),
         _o("--encoding", "how x drives the input (default: current)", choices=ENC, default="current"),
         _o("--seed", "seed of stochastic encodings", type=I.seed, default=0),
         _o("--batch-size", "samples per batch", type=I.positive_int, default=256),
         _o("--json", "write the results as JSON (reference)", metavar="OUT.json"), QUIET,
         _o("--chip", "simulate on this chip with the cycle-level engine instead"), SET,
         _o("-o --output", "run directory (with --chip)"),
         _o("--early-stop", "none | confidence:THETA[:T][@MIN] | margin:M[@MIN]", default="none"),
         _o("--placement", choices=PLACE, default="partition"), _o("--conv-regions", "auto or N", type=lambda t: t if t == "auto" else I.positive_int(t), default=1),
         _o("--read-time", "time after programming, e.g. 1d (drift)", default="0"),
         _o("--adc-calibration", "calibration samples fitting the ADC ranges (0: full range)",
            type=I.non_negative_int, default=64),
         _o("--calibration-data", "CAL.npz (x) calibrating the chip (default: the first --adc-calibration "
            "samples of DATA, held out: not scored)", metavar="CAL.npz"),
         _o("--threads", "Numba threads (at most the cores here)", type=I.threads), PREC, DASK, *DYN)
    _add(sub, "convert", "convert a scikit-learn MLPClassifier (ReLU) or a PyTorch SNN to a network",
         _o("model", "fitted MLPClassifier: MLP.skops (safe), or .joblib/.pkl with --trust-pickle; or MODEL.py:FACTORY (a function returning the nn.Module: SpikingJelly, snnTorch)"),
         _o("--weights", "STATE.pt, the module's state_dict (torch.load, weights_only)"), _o("--input-shape", "C,H,W of one sample (PyTorch)"), _o("--steps", "time steps T to trace (PyTorch)", type=I.positive_int),
         _o("--trust-pickle", "allow loading a pickle/joblib file: it can run any code it holds, "
                              "so only for files you made yourself", **B),
         _o("--data", "TRAIN.npz with x for threshold balancing (MLP)"),
         _o("-o --output", "output model (.nir or .npz)", required=True),
         _o("--percentile", "activation percentile per layer (default 99.9)", type=I.within(1e-9, 100), default=99.9),
         _o("--dt", "time step (default 1e-3 s)", type=I.positive_float, default=1e-3))
    _add(sub, "chips", "list the shipped chip presets", force=False)
    show = sub.add_parser("chip", help="chip cards").add_subparsers(
        dest="chip_command", required=True, parser_class=_Parser)
    _add(show, "show", "show a preset or a YAML card", _o("name", CHIP), SET,
         _o("--yaml", "print the full card as YAML", **B), force=False
         ).set_defaults(func=commands["chip show"])
    zoo = sub.add_parser("zoo", help="the model zoo: MODEL zoo:NAME").add_subparsers(
        dest="zoo_command", required=True, parser_class=_Parser)
    _add(zoo, "list", "list the zoo's models", force=False).set_defaults(func=commands["zoo"])
    _add(zoo, "show", "a zoo model's parameters, MACs per step, layers and paper", _o("name"),
         _o("--json", "write it as JSON", metavar="OUT.json")).set_defaults(func=commands["zoo"])
    _add(sub, "map", "map a model onto a chip: tiles, cores, traffic report", _o("model", MODEL),
         _o("--chip", CHIP, required=True), SET, DT, OUT,
         _o("--data", "DATA.npz to measure firing rates by a reference run (else uniform rates)"),
         _o("--steps", "steps of that run", type=I.positive_int, default=32),
         _o("--encoding", choices=ENC, default="current"), _o("--placement", choices=PLACE, default="partition"),
         _o("--conv-regions", "auto (default: each layer split over cores as it fits) or N "
            "spatial bands (kernel replicas) per convolution, no other split",
            type=lambda t: t if t == "auto" else I.positive_int(t), default="auto"),
         _o("--chips", "chips to place on (default: the fewest that hold the network)",
            type=I.positive_int),
         _o("--bias", choices=("digital", "row"), default="digital"),
         _o("--no-tile-sharing", "one tile per block (no packing of small blocks)", **B),
         _o("--seed", "seed of the partitioner", type=I.seed, default=0), *DYN)
    _add(sub, "energy", "energy, latency and area of a run (or analytically)",
         _o("source", "a run folder (simulate --chip -o DIR), or a model file or zoo:NAME (analytical estimate)"),
         _o("--chip", "chip preset or card (model: required; run folder: override)"), SET,
         _o("-o --output", "output directory (default: the run folder)"), DT,
         _o("--steps", "steps (analytical)", type=I.positive_int, default=64),
         _o("--rate", "spikes per step of every neuron and input (analytical; default: worst "
                      "case, 1)", type=I.within(0, 1)),
         _o("--rates", "RATES.csv: header layer,rate; a rate per neuron layer (analytical)"),
         _o("--paper-preset", "E_MAC/E_AC preset", default="horowitz45"),
         _o("--multilevel", "multi-level spikes count as s ACs or one MAC (papers' convention)",
            choices=("ac", "mac"), default="ac"))


def _more_commands(sub) -> None:
    _add(sub, "deploy", "quantise to Loihi 2, export NIR + netx, run in Lava", _o("model", MODEL),
         _o("--target", choices=("lava",), default="lava"), OUT, DT,
         _o("--num-weight-bits", "weight bits (1-8)", type=I.within(1, 8, int), default=8),
         _o("--run", "run Lava and compare with hwsim loihi2", **B), _o("--data", "DATA.npz for --run"),
         _o("--steps", type=I.positive_int, default=64),
         _o("--encoding", choices=("rate", "spikes", "current"), default="rate"),
         _o("--samples", "samples run in Lava", type=I.positive_int, default=50), SEED)
    _add(sub, "sweep", "run a robustness / design-space study (YAML)", _o("study", "STUDY.yaml"),
         _o("-o --output", "output directory (results.csv)", required=True),
         DASK,
         _o("--workers", "local processes / LocalCluster workers", type=I.positive_int),
         _o("--resume", "continue an interrupted sweep", **B),
         _o("--max-runs", "run at most this many new runs", type=I.positive_int),
         _o("--plot", "write the study's figures when complete", **B), QUIET)
    _add(sub, "calibrate", "fit device models to measurements, write a card",
         _o("data", "DATA.csv: cell, g_target_S, g_measured_S, t_s, read (see --columns)"),
         _o("--model", "programming-noise family (auto: chosen by held-out likelihood)", default="auto",
            choices=("auto", "constant", "multiplicative", "rram_linear", "pcm_aihwkit")),
         _o("-o --output", "card.yaml to write", required=True),
         _o("--base", "card whose other fields are kept", default="pcm-aihwkit"),
         _o("--name", "name of the new card (default: file stem)"),
         _o("--t0", "drift reference time, s", type=I.within(1e-300, 1e300), default=20.0),
         _o("--columns", "your column names, e.g. cell=id,g_target=G_T,g_measured=G,t=time,read=rep"),
         _o("--units", "units of your columns: uS, or g=uS,t=h (default S and s)"),
         _o("--bootstrap", "resamples of the cells for 95%% intervals (0: none)", type=I.within(0, 10000, int), default=100),
         SEED, QUIET)
    _add(sub, "prune", "PRIME prune-on-chip: learn a mask over the chip's weights",
         _o("model", "random:IN-HIDDEN-OUT (random electroforming weights) or a two-layer model"),
         _o("--chip", CHIP, required=True), SET, _o("--data", "TRAIN.npz with x and y", required=True),
         _o("--test", "TEST.npz (default: 25 %% of --data)"),
         _o("--sparsity", "fraction of synapses pruned", type=I.within(0, 0.999), default=0.5),
         _o("--epochs", type=I.positive_int, default=20), _o("--lr", type=I.positive_float, default=0.1),
         _o("--steps", type=I.positive_int, default=16),
         _o("--beta", "membrane leak kept per step", type=I.within(0, 1), default=0.2),
         _o("--theta", "hidden threshold", type=I.positive_float, default=0.5),
         _o("--read-noise", "weight noise while training", type=I.within(0, 10), default=0.0),
         _o("--early-stop", default="confidence:0.8:2"), _o("--dt", type=I.positive_float), SEED,
         OUT, QUIET, PREC)
    _add(sub, "device", "characterise a chip's device models (text + plot)", _o("preset", CHIP), SET,
         _o("--plot", "conductance histograms and sigma(g) curve", metavar="OUT.png"),
         _o("--json", "write the measured statistics", metavar="OUT.json"),
         _o("--times", "times after programming for the drift histograms", default="1h,1d,30d"),
         _o("--cells", "cells programmed", type=I.positive_int, default=100_000),
         _o("--seed", "seed of the programming draws", type=I.seed, default=0))


def build_parser(commands: dict) -> argparse.ArgumentParser:
    """The parser; ``commands`` maps each command name to its ``run(args)``."""
    p = _Parser(prog="neurocosim", description="Neuromorphic hardware co-simulation and deployment.")
    p.add_argument("--version", action="version", version=f"neurocosim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _commands(sub, commands)
    _more_commands(sub)
    for name, parser in sub.choices.items():
        if name in commands:
            parser.set_defaults(func=commands[name])
    return p
