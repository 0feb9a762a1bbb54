"""The one path from a network to a costed run on a chip.

``map → program → calibrate → simulate → energy``: every user of the pipeline — the CLI,
sweeps, prune-on-chip and the examples — calls these functions; none re-implements a
step (a test checks that only this module calls the mapping, programming and
simulation functions together)::

    opts = ChipRunOptions(steps=64, early_stop="confidence:0.8:2")
    run = run_on_chip(net, chip, encoder, opts, streams=RunStreams.from_seed(0),
                      calibration=calibration_encoder)   # samples never scored
    run.result.accuracy(y), run.energy.energy_per_inference_J

Calibration (ADC ranges, threshold re-balancing) runs on its own samples: ``run_on_chip``
refuses to calibrate without them (:func:`calibration_steps` says whether a run
calibrates, :func:`calibration_samples` on how many), and never falls back on the
scored encoder.

Random streams: the programming draws, the read noise and the encoder's spikes each have
their own :class:`numpy.random.SeedSequence`, so one of them can change without moving
the others; :class:`RunStreams` holds the first two (the encoder gets its generator
where it is made).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ChipRunOptions", "RunStreams", "RunResult", "map_onto", "program_onto",
           "calibrate", "simulate_and_cost", "run_on_chip", "measure_rates",
           "reference_run", "calibration_steps", "calibration_samples", "THRESHOLD_SAMPLES"]

#: calibration samples that threshold re-balancing measures the layers on
THRESHOLD_SAMPLES = 64


@dataclass(frozen=True, kw_only=True)
class ChipRunOptions:
    """How a network runs on a chip (the options of ``simulate --chip`` and of a study)."""

    steps: int
    encoding: str = "rate"
    early_stop: str = "none"
    read_time: float = 0.0
    adc_calibration: int = 64         # calibration samples fitting the ADC ranges (0: full range)
    recalibrate_thresholds: bool = False
    placement: str = "partition"
    conv_regions: int | str = 1       # "auto": every layer split as it fits a core (mapping.split)
    chips: int | None = 1             # chips to place on; None: the fewest that hold the network
    batch_size: int = 256
    threads: int | None = None
    progress: bool = False
    precision: str = "float64"        # the engine's values: "float64" (reference) or "float32"
    dynamic_products: str = "digital"  # MatMuls of two activations: "digital" units or "crossbar"
    allow_rram_writes: bool = False   # "crossbar" without writable tiles: accept RRAM/PCM writes


@dataclass(frozen=True)
class RunStreams:
    """Seed sequences of the programming draws and of the read noise."""

    program: np.random.SeedSequence
    read: np.random.SeedSequence


@dataclass(frozen=True, kw_only=True, eq=False)
class RunResult:
    """Everything one run on a chip produced."""

    network: Any
    chip: Any
    mapped: Any
    programmed: Any
    result: Any                      # hwsim.SimResult
    energy: Any                      # energy.EnergyReport
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def adc_full_scale(self) -> np.ndarray | None:
        """Per-block ADC ranges the chip ran with (None: full range)."""
        return self.programmed.operating_point.adc_full_scale

    @property
    def read_time(self) -> float:
        """Seconds after programming at which the chip was read."""
        return self.programmed.operating_point.read_time


def map_onto(net, chip, opts: ChipRunOptions, *, seed: int = 0, rates=None, **kw):
    """Map ``net`` onto ``chip`` (soft design-rule warnings go to the report), made
    engine-ready first (:func:`~neurocosim.ir.engine_ready`: a Conv1d as a height-1
    Conv2d, a Delay of d steps as d one-step Delays; exact rewrites)."""
    from .ir.transforms import engine_ready
    from .mapping import MappingWarning, map_network
    from .mapping.dynamic import DynamicPolicy

    net = engine_ready(net)
    dynamic = DynamicPolicy(opts.dynamic_products, opts.allow_rram_writes, opts.steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MappingWarning)  # listed in the report instead
        return map_network(net, chip, rates=rates, placement=opts.placement,
                           conv_regions=opts.conv_regions, chips=opts.chips, seed=seed,
                           dynamic_products=dynamic, **kw)


def program_onto(mapped, seed: np.random.SeedSequence):
    """Program the mapped network's tiles (one draw of the chip's device models)."""
    from .devices.program import program_chip
    from .errors import ConfigError

    try:
        return program_chip(mapped, np.random.default_rng(seed))
    except ConfigError as exc:
        chip = mapped.chip
        if chip.macro.technology != "digital":
            raise
        raise ConfigError(f"chip '{chip.name}' cannot be programmed as a crossbar ({exc}); "
                          "a digital deployment target such as loihi2 runs with 'neurocosim "
                          "deploy MODEL --target lava --run', not on the crossbar engine") from None


def calibration_steps(chip, opts: ChipRunOptions) -> tuple[str, ...]:
    """What a run of ``opts`` on ``chip`` calibrates: ``"adc_ranges"`` (a card with ADCs
    that is not ideal, ``adc_calibration > 0``), ``"thresholds"`` (re-balancing asked)."""
    macro = chip.macro
    adc = (macro.adc_bits is not None and macro.technology != "ideal"
           and opts.adc_calibration > 0)
    return ("adc_ranges",) * adc + ("thresholds",) * bool(opts.recalibrate_thresholds)


def calibration_samples(chip, opts: ChipRunOptions) -> int:
    """Calibration samples a run needs: ``adc_calibration`` for the ADC ranges,
    :data:`THRESHOLD_SAMPLES` for threshold re-balancing (the larger of the two; 0 when
    it calibrates nothing)."""
    steps = calibration_steps(chip, opts)
    return max(opts.adc_calibration if "adc_ranges" in steps else 0,
               THRESHOLD_SAMPLES if "thresholds" in steps else 0)


def calibrate(programmed, encoder, opts: ChipRunOptions, read_seed: np.random.SeedSequence):
    """The chip at the run's operating point: read ``opts.read_time`` after programming,
    ADC ranges calibrated on the first ``opts.adc_calibration`` samples of ``encoder``
    (full range when 0 or without ADCs) and, if asked, thresholds re-balanced on its first
    :data:`THRESHOLD_SAMPLES`. ``encoder`` holds the calibration samples: never the ones
    the run scores."""
    from .calibration import calibrate_adc_ranges, rebalance_thresholds

    programmed = programmed.at(read_time=opts.read_time)
    steps = calibration_steps(programmed.chip, opts)
    if "adc_ranges" in steps:
        programmed = calibrate_adc_ranges(programmed, encoder, opts.steps,
                                          max_samples=opts.adc_calibration)
    if "thresholds" in steps:
        programmed = rebalance_thresholds(programmed, encoder, opts.steps,
                                          rng=np.random.default_rng(read_seed),
                                          max_samples=THRESHOLD_SAMPLES)
    return programmed


def simulate_and_cost(programmed, encoder, opts: ChipRunOptions, read_seed, *,
                      probes: Sequence[str] = (), paper: bool = True, executor=None):
    """Simulate the programmed chip at its operating point (:func:`calibrate`) and
    estimate the run's energy; (SimResult, report). ``paper``: also the papers' SOP/MAC
    convention (:func:`~neurocosim.energy.paper_convention`). ``executor``: a
    ``distributed.Client`` sharding the samples over its cluster (same result)."""
    from .energy import estimate, paper_convention
    from .hwsim import simulate
    from .mapping.dynamic import mapped_writes

    res = simulate(programmed, encoder, opts.steps, early_stop=opts.early_stop,
                   rng=np.random.default_rng(read_seed), batch_size=opts.batch_size,
                   threads=opts.threads, progress=opts.progress, probes=probes,
                   precision=opts.precision, executor=executor)
    mapped = programmed.mapped
    rep = mapped.report
    conv = (paper_convention(mapped.network, res.counts, first_layer_mac=opts.encoding == "current")
            if paper else None)
    energy = estimate(res.counts, mapped.chip, tiles=rep.tiles, cores=rep.cores, paper=conv,
                      writes=mapped_writes(mapped))
    return res, energy


def run_on_chip(net, chip, encoder, opts: ChipRunOptions, *, streams: RunStreams,
                map_seed: int = 0, executor=None, calibration=None) -> RunResult:
    """Map, program, calibrate, simulate and cost ``net`` on ``chip`` (``executor``: see
    :func:`simulate_and_cost`). ``encoder``: the samples scored; ``calibration``: an
    encoder of other samples, required when the run calibrates
    (:func:`calibration_steps`). ``extras["calibrated"]``: what was calibrated."""
    from .errors import ConfigError

    steps = calibration_steps(chip, opts)
    if steps and calibration is None:
        raise ConfigError(f"run_on_chip: this run calibrates the {' and '.join(steps)} "
                          "(ChipRunOptions.adc_calibration, recalibrate_thresholds): pass "
                          "calibration=, an encoder of samples that are not scored, or set "
                          "adc_calibration=0")
    mapped = map_onto(net, chip, opts, seed=map_seed)
    programmed = program_onto(mapped, streams.program)
    programmed = calibrate(programmed, calibration, opts, streams.read)
    res, energy = simulate_and_cost(programmed, encoder, opts, streams.read, executor=executor)
    return RunResult(network=net, chip=chip, mapped=mapped, programmed=programmed,
                     result=res, energy=energy, extras={"calibrated": steps})


def sample_probes(run: RunResult, encoder, opts: ChipRunOptions, read_seed) -> dict:
    """Spikes of every spiking layer for the first sample (the raster of a run folder)."""
    from .hwsim import simulate

    net = run.network
    spiking = [n for n in net.layers() if net.nodes[n].spiking]
    if not spiking:
        return {}
    one = simulate(run.programmed, encoder.head(1), opts.steps, early_stop="none",
                   rng=np.random.default_rng(read_seed), probes=spiking,
                   precision=opts.precision)
    return {k: one.probes[k][0] for k in spiking}


def measure_rates(net, x: np.ndarray, steps: int, encoding: str, seed: int,
                  max_samples: int = 256) -> dict[str, np.ndarray]:
    """Mean spikes per step of every neuron (and the input) from a reference run."""
    from .hwsim import make_encoder
    from .hwsim.reference import simulate

    x = x[:max_samples]
    enc = make_encoder(encoding, x, net.input_shape, np.random.default_rng(seed))
    layers = [n for n in net.layers() if net.nodes[n].spiking]
    res = simulate(net, enc, steps, probes=layers)
    rates = {k: res.probes[k].mean(axis=(0, 1)).ravel() for k in layers}
    rates[net.input_name] = enc.block(0, len(x), steps).mean(axis=(0, 1)).ravel()
    return rates


def reference_run(net, encoder, steps: int, *, batch_size: int = 256, progress: bool = False,
                  probes: Sequence[str] = ()):
    """The float reference engine (what the chip is compared with)."""
    from .hwsim.reference import simulate

    return simulate(net, encoder, steps, batch_size=batch_size, progress=progress,
                    probes=probes)
