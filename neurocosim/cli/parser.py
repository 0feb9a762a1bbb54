"""The argument parser of every command (each command's module holds its ``run``)."""

from __future__ import annotations

import argparse

from .. import __version__
from . import _common as C

MODEL = "model file (.nir or .npz)"
CHIP = "chip preset name or path to a .yaml card"
SET = ("change a card field, e.g. --set macro.adc_bits=6 (dotted path, repeatable; "
       "'a+b=V' sets both)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _opts(s, *specs) -> None:
    """Add options given as (flags..., {keyword arguments})."""
    for spec in specs:
        *flags, kw = spec if isinstance(spec[-1], dict) else (*spec, {})
        s.add_argument(*flags, **kw)


def _writes(s) -> None:
    s.add_argument("--force", action="store_true", help=C.FORCE_HELP)


def _chip_opts(s, required: bool) -> None:
    s.add_argument("--chip", required=required, help=CHIP)
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help=SET)


def _simulate(sub) -> None:
    s = sub.add_parser("simulate", help="simulate a model on data (float reference engine)")
    _opts(s, ("model", {"help": MODEL}),
          ("--dt", {"type": C.positive_float, "help": "time step in seconds"}),
          ("--steps", {"type": C.positive_int, "required": True, "help": "time steps per sample"}),
          ("--data", {"required": True, "help": "DATA.npz with x (n, *input) or (n, steps, "
                                                "*input) for spikes, optional y"}),
          ("--encoding", {"choices": ("current", "rate", "spikes"), "default": "current",
                          "help": "how x drives the input (default: current)"}),
          ("--seed", {"type": C.seed, "default": 0, "help": "seed of stochastic encodings"}),
          ("--batch-size", {"type": C.positive_int, "default": 256, "help": "samples per batch"}),
          ("--json", {"metavar": "OUT.json", "help": "write the results as JSON (reference)"}),
          ("-q", "--quiet", {"action": "store_true", "help": "no progress bar"}))
    _chip_opts(s, required=False)
    _opts(s, ("-o", "--output", {"help": "run directory (with --chip)"}),
          ("--early-stop", {"default": "none", "help": "none | confidence:THETA[:T][@MIN] | "
                                                       "margin:M[@MIN] (with --chip)"}),
          ("--placement", {"choices": ("partition", "sequential"), "default": "partition"}),
          ("--conv-regions", {"type": C.positive_int, "default": 1}),
          ("--read-time", {"default": "0", "help": "time after programming, e.g. 1d (drift)"}),
          ("--adc-calibration", {"type": C.non_negative_int, "default": 64,
                                 "help": "samples of DATA used to calibrate ADC ranges (0: full "
                                         "range)"}),
          ("--threads", {"type": C.threads, "help": "Numba threads (at most the cores here)"}))
    _writes(s)


def _convert_map_energy(sub, commands: dict) -> None:
    s = sub.add_parser("convert", help="convert a scikit-learn MLPClassifier (ReLU) to an SNN")
    _opts(s, ("model", {"help": "fitted MLPClassifier: MLP.skops (safe), or .joblib/.pkl with "
                                "--trust-pickle"}),
          ("--trust-pickle", {"action": "store_true",
                              "help": "allow loading a pickle/joblib file: it can run any code "
                                      "it holds, so only for files you made yourself"}),
          ("--data", {"required": True, "help": "TRAIN.npz with x for threshold balancing"}),
          ("-o", "--output", {"required": True, "help": "output model (.nir or .npz)"}),
          ("--percentile", {"type": float, "default": 99.9,
                            "help": "activation percentile per layer (default 99.9)"}),
          ("--dt", {"type": C.positive_float, "default": 1e-3,
                    "help": "time step (default 1e-3 s)"}))
    _writes(s)
    sub.add_parser("chips", help="list the shipped chip presets")
    s = sub.add_parser("chip", help="chip cards")
    chip_sub = s.add_subparsers(dest="chip_command", required=True, parser_class=_Parser)
    c = chip_sub.add_parser("show", help="show a preset or a YAML card")
    c.add_argument("name", help="preset name or path to a .yaml card")
    c.add_argument("--set", action="append", metavar="KEY=VALUE", help=SET)
    c.add_argument("--yaml", action="store_true", help="print the full card as YAML")
    c.set_defaults(func=commands["chip show"])
    s = sub.add_parser("map", help="map a model onto a chip: tiles, cores, traffic report")
    s.add_argument("model", help=MODEL)
    _chip_opts(s, required=True)
    _opts(s, ("--dt", {"type": C.positive_float, "help": "time step in seconds"}),
          ("-o", "--output", {"required": True, "help": "output directory"}),
          ("--data", {"help": "DATA.npz to measure firing rates by a reference run (else "
                              "uniform rates)"}),
          ("--steps", {"type": C.positive_int, "default": 32, "help": "steps of that run"}),
          ("--encoding", {"choices": ("current", "rate", "spikes"), "default": "current"}),
          ("--placement", {"choices": ("partition", "sequential"), "default": "partition"}),
          ("--conv-regions", {"type": C.positive_int, "default": 1,
                              "help": "spatial bands (kernel replicas) per convolution"}),
          ("--bias", {"choices": ("digital", "row"), "default": "digital"}),
          ("--no-tile-sharing", {"action": "store_true",
                                 "help": "one tile per block (no packing of small blocks)"}),
          ("--seed", {"type": C.seed, "default": 0, "help": "seed of the partitioner"}))
    _writes(s)
    s = sub.add_parser("energy", help="energy, latency and area of a run (or analytically)")
    _opts(s, ("source", {"help": "a simulation directory (simulate --chip -o DIR), or a model "
                                 "file for the analytical estimate"}),
          ("--chip", {"help": "chip preset or card (model: required; directory: override)"}),
          ("--set", {"action": "append", "metavar": "KEY=VALUE", "help": SET}),
          ("-o", "--output", {"help": "output directory (default: the simulation directory)"}),
          ("--dt", {"type": C.positive_float, "help": "time step (model files)"}),
          ("--steps", {"type": C.positive_int, "default": 64, "help": "steps (analytical)"}),
          ("--rate", {"type": float, "help": "spikes per step of every neuron and input "
                                             "(analytical; default: worst case, 1)"}),
          ("--paper-preset", {"default": "horowitz45", "help": "E_MAC/E_AC preset"}),
          ("--multilevel", {"choices": ("ac", "mac"), "default": "ac",
                            "help": "multi-level spikes count as s ACs or one MAC (papers' "
                                    "convention)"}))
    _writes(s)


def _deploy_sweep_calibrate(sub) -> None:
    s = sub.add_parser("deploy", help="quantise to Loihi 2, export NIR + netx, run in Lava")
    _opts(s, ("model", {"help": MODEL}), ("--target", {"choices": ("lava",), "default": "lava"}),
          ("-o", "--output", {"required": True, "help": "output directory"}),
          ("--dt", {"type": C.positive_float, "help": "time step in seconds"}),
          ("--num-weight-bits", {"type": int, "default": 8, "help": "weight bits (1-8)"}),
          ("--run", {"action": "store_true", "help": "run Lava and compare with hwsim loihi2"}),
          ("--data", {"help": "DATA.npz for --run"}),
          ("--steps", {"type": C.positive_int, "default": 64}),
          ("--encoding", {"choices": ("rate", "spikes", "current"), "default": "rate"}),
          ("--samples", {"type": C.positive_int, "default": 50, "help": "samples run in Lava"}),
          ("--seed", {"type": C.seed, "default": 0}))
    _writes(s)
    s = sub.add_parser("sweep", help="run a robustness / design-space study (YAML)")
    _opts(s, ("study", {"help": "STUDY.yaml"}),
          ("-o", "--output", {"required": True, "help": "output directory (results.csv)"}),
          ("--dask", {"metavar": "ADDRESS", "help": "run on a dask.distributed scheduler at "
                                                    "ADDRESS, or 'local' for a LocalCluster"}),
          ("--workers", {"type": C.positive_int, "help": "local processes / LocalCluster workers"}),
          ("--resume", {"action": "store_true", "help": "continue an interrupted sweep"}),
          ("--max-runs", {"type": C.positive_int, "help": "run at most this many new runs"}),
          ("--plot", {"action": "store_true", "help": "write the study's figures when complete"}),
          ("--force", {"action": "store_true", "help": C.FORCE_HELP + "; a sweep never "
                                                      "overwrites a user's results.csv or study.json"}),
          ("-q", "--quiet", {"action": "store_true", "help": "no progress bar"}))
    s = sub.add_parser("calibrate", help="fit device models to measurements, write a card")
    _opts(s, ("data", {"help": "DATA.csv: cell, g_target_S, g_measured_S, t_s, read"}),
          ("--model", {"required": True, "help": "programming-noise model to fit",
                       "choices": ("constant", "multiplicative", "rram_linear", "pcm_aihwkit")}),
          ("-o", "--output", {"required": True, "help": "card.yaml to write"}),
          ("--base", {"default": "pcm-aihwkit", "help": "card whose other fields are kept"}),
          ("--name", {"help": "name of the new card (default: file stem)"}),
          ("--t0", {"type": C.positive_float, "default": 20.0, "help": "drift reference time, s"}))
    _writes(s)


def _prune_device(sub) -> None:
    s = sub.add_parser("prune", help="PRIME prune-on-chip: learn a mask over the chip's weights")
    s.add_argument("model", help="random:IN-HIDDEN-OUT (random electroforming weights) or a "
                                 "two-layer model file")
    _chip_opts(s, required=True)
    _opts(s, ("--data", {"required": True, "help": "TRAIN.npz with x and y"}),
          ("--test", {"help": "TEST.npz (default: 25 %% of --data)"}),
          ("--sparsity", {"type": float, "default": 0.5, "help": "fraction of synapses pruned"}),
          ("--epochs", {"type": C.positive_int, "default": 20}),
          ("--lr", {"type": C.positive_float, "default": 0.1}),
          ("--steps", {"type": C.positive_int, "default": 16}),
          ("--beta", {"type": float, "default": 0.2, "help": "membrane leak kept per step"}),
          ("--theta", {"type": C.positive_float, "default": 0.5, "help": "hidden threshold"}),
          ("--read-noise", {"type": float, "default": 0.0, "help": "weight noise while training"}),
          ("--early-stop", {"default": "confidence:0.8:2"}),
          ("--dt", {"type": C.positive_float}), ("--seed", {"type": C.seed, "default": 0}),
          ("-o", "--output", {"required": True}), ("-q", "--quiet", {"action": "store_true"}))
    _writes(s)
    s = sub.add_parser("device", help="characterise a chip's device models (text + plot)")
    _opts(s, ("preset", {"help": "preset name or path to a .yaml card"}),
          ("--set", {"action": "append", "metavar": "KEY=VALUE", "help": SET}),
          ("--plot", {"metavar": "OUT.png", "help": "conductance histograms and sigma(g) curve"}),
          ("--json", {"metavar": "OUT.json", "help": "write the measured statistics"}),
          ("--times", {"default": "1h,1d,30d", "help": "times after programming for the drift "
                                                       "histograms (default 1h,1d,30d)"}),
          ("--cells", {"type": C.positive_int, "default": 100_000, "help": "cells programmed"}),
          ("--seed", {"type": C.seed, "default": 0, "help": "seed of the programming draws"}))
    _writes(s)


def build_parser(commands: dict) -> argparse.ArgumentParser:
    """The parser; ``commands`` maps each command name to its ``run(args)``."""
    p = _Parser(prog="neurocosim", description="Neuromorphic hardware co-simulation and deployment.")
    p.add_argument("--version", action="version", version=f"neurocosim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    s = sub.add_parser("info", help="show a model's layers, shapes and parameter ranges")
    s.add_argument("model", help=MODEL)
    s.add_argument("--dt", type=C.positive_float, help="time step in seconds (NIR stores none)")
    _simulate(sub)
    _convert_map_energy(sub, commands)
    _deploy_sweep_calibrate(sub)
    _prune_device(sub)
    for name, parser in sub.choices.items():
        if name in commands:
            parser.set_defaults(func=commands[name])
    return p
