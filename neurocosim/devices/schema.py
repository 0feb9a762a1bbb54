"""Typed schema of chip and crossbar-macro cards (YAML is only the file format).

Every field states its meaning, unit and valid range in its ``description``. Dimensional
values are written with their unit in YAML (``"25 uS"``, ``"1.56 pJ"``) and held in SI.
Every per-event cost carries the ``source`` it comes from; figures no source gives are
marked ``assumption: true``.

Validation is done by pydantic (strict types, unknown keys refused); the loader in
:mod:`neurocosim.devices.cards` turns its errors into one :class:`ConfigError` line that
names the file and the dotted path, with a "did you mean" for misspelt keys.

Every quantity is finite, every count and string bounded; a bound's reason is in the
field's ``description``, which the loader quotes when a value falls outside it.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Annotated, Any, Literal

from pydantic import AllowInfNan, BeforeValidator, ConfigDict, Field, Strict, ValidationInfo
from pydantic.dataclasses import dataclass

from ..errors import ConfigError
from ..units import parse_quantity
from .noise import registry, resolve_params

__all__ = [
    "EnergyCost", "TimeCost", "AreaCost", "PowerCost", "NoiseSpec", "DriftSpec",
    "StuckAtSpec", "MacroEnergy", "MacroLatency", "MacroArea", "MacroCard", "NeuronCircuit",
    "NocCard", "DigitalUnits", "CellWrites", "Endurance", "WritableTile", "ChipCard", "Unit",
]

_CFG = ConfigDict(extra="forbid", frozen=True)


@dataclasses.dataclass(frozen=True)
class Unit:
    """Marker in a field's annotation: the base unit its YAML string is parsed in."""

    unit: str


def _parser(unit: str):
    def parse(v: Any, info: ValidationInfo) -> Any:
        # Inside Python, quantities are SI floats (DESIGN §4.3); a card read from a file
        # (validated with context {"file": True}) must spell its units.
        from_file = bool(info.context and info.context.get("file"))
        if not from_file and isinstance(v, (int, float)) and not isinstance(v, bool):
            try:
                x = float(v)
            except OverflowError:
                x = math.inf
            if not math.isfinite(x):  # pydantic reports ValueError as a validation error
                raise ValueError(f"{'too large' if x == x else 'not a number'}: a quantity "
                                 f"in {unit} must be finite")
            return x
        return parse_quantity(v, unit)

    return BeforeValidator(parse)


def Q(unit: str, **kw: Any) -> Any:  # noqa: N802 - reads as a type
    """Annotated SI float parsed from a unit string."""
    return Annotated[float, Unit(unit), _parser(unit), Field(allow_inf_nan=False, **kw)]


Int = Annotated[int, Strict()]
Float = Annotated[float, Strict(), AllowInfNan(False)]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]

#: most characters of a name, a description and a citation (a card is a short file)
NAME_CHARS, TEXT_CHARS, SOURCE_CHARS = 100, 4000, 500
#: most parameters a noise model takes (the largest has four)
PARAMS = 16
#: cells in one tile (rows x cols): 2^26 keeps one tile's float64 conductance array at
#: 512 MiB, above every fabricated macro (the largest preset, 4096 x 8192, is 2^25)
MAX_TILE_CELLS = 1 << 26


# -- costs with sources --------------------------------------------------------------
@dataclass(config=_CFG, kw_only=True)
class _Cost:
    source: Annotated[Str, Field(min_length=3, max_length=SOURCE_CHARS,
                                 description="Citation for the figure (3-500 characters).")]
    assumption: Bool = Field(
        default=False, description="True when no source gives this figure for this device."
    )


@dataclass(config=_CFG, kw_only=True)
class EnergyCost(_Cost):
    value: Q("J", ge=0, le=1e-3, description="Energy per event, joules (0–1 mJ).")


@dataclass(config=_CFG, kw_only=True)
class TimeCost(_Cost):
    value: Q("s", ge=0, le=1.0, description="Latency per event, seconds (0–1 s).")


@dataclass(config=_CFG, kw_only=True)
class AreaCost(_Cost):
    value: Q("m2", ge=0, le=1e-2, description="Area, m² (written mm2/um2 in YAML).")


@dataclass(config=_CFG, kw_only=True)
class PowerCost(_Cost):
    value: Q("W", ge=0, le=100.0, description="Static (leakage) power, watts.")


def _writes(v: Any) -> Any:
    """A number of writes: an int, a float or a string such as ``"1e6"`` (YAML 1.1 reads
    ``1e6`` without a dot as a string), never a boolean."""
    if isinstance(v, bool):
        raise ValueError("a number of writes, not a boolean")
    if isinstance(v, str):
        try:
            return float(v.replace("_", ""))
        except ValueError:
            raise ValueError(f"a number of writes such as 1e6, got {v[:40]!r}") from None
    return float(v) if isinstance(v, int) else v


@dataclass(config=_CFG, kw_only=True)
class Endurance(_Cost):
    """Writes a cell survives before it wears out (the source and the assumption flag as
    for a cost)."""

    value: Annotated[float, BeforeValidator(_writes),
                     Field(ge=1, le=1e18, allow_inf_nan=False)] | None = Field(
        description="Writes per cell before wear-out, 1-1e18; null: no "
        "wear-out (SRAM, gain cells: an unlimited endurance).")


@dataclass(config=_CFG, kw_only=True)
class CellWrites:
    """Writing cells: what holding an operand that changes every step costs (a product of
    two activations stored in a tile, :mod:`neurocosim.mapping.dynamic`)."""

    energy_per_cell: EnergyCost = Field(description="Energy to write one cell (a SET/RESET "
                                        "or program-and-verify of an NVM cell; one bit of "
                                        "SRAM).")
    latency_per_row: TimeCost = Field(description="Time to write one row of a tile (its "
                                      "cells in parallel); a tile writes its rows one after "
                                      "another, tiles in parallel.")
    endurance: Endurance = Field(description="Writes per cell before wear-out.")


# -- device non-idealities -----------------------------------------------------------
@dataclass(config=_CFG, kw_only=True)
class NoiseSpec:
    model: Str = Field(default="none", max_length=NAME_CHARS,
                       description="Registered model name (devices.noise).")
    params: dict[str, Any] = Field(
        default_factory=dict, max_length=PARAMS,
        description="Model parameters; units as the model states (at most 16).",
    )
    redraw: Literal["per_read", "per_inference"] = Field(
        default="per_read",
        description="Read noise only: 'per_read' draws a new σ(g) at every read; "
        "'per_inference' draws it once per inference (per operating point) into the "
        "conductances, as aihwkit's PCMLikeNoiseModel (pcm_aihwkit adds its time factor).",
    )


@dataclass(config=_CFG, kw_only=True)
class DriftSpec:
    model: Literal["none", "power_law", "pcm_aihwkit"] = Field(
        default="none", description="Drift model: power_law (ν ~ N(nu_mean, nu_std) clipped "
        "at 0) or pcm_aihwkit (ν ~ |N(μ_ν(g_T), σ_ν(g_T))|, aihwkit's PCM fit).")
    params: dict[str, Any] = Field(default_factory=dict, max_length=PARAMS,
                                   description="Model parameters (devices.noise), e.g. t0.")
    compensation: Bool = Field(
        default=False, description="Global drift compensation: one scale per tile."
    )


@dataclass(config=_CFG, kw_only=True)
class StuckAtSpec:
    g_min_fraction: Float = Field(default=0.0, ge=0, le=1, description="Cells stuck at g_min.")
    g_max_fraction: Float = Field(default=0.0, ge=0, le=1, description="Cells stuck at g_max.")


@dataclass(config=_CFG, kw_only=True)
class MacroEnergy:
    """Per-event energies. Each may be left out; the energy estimate then refuses a run
    that counted such events (never a silent zero)."""

    row_drive: EnergyCost | None = Field(default=None, description="DAC + driver energy per driven row per read.")
    cell_read: EnergyCost | None = Field(default=None, description="Energy per cell read (V²·G·t).")
    adc_conversion: EnergyCost | None = Field(default=None, description="Energy per ADC conversion.")
    accumulate: EnergyCost | None = Field(default=None, description="Digital partial-sum add per output.")
    adc_reference_bits: Int | None = Field(
        default=None, ge=1, le=16,
        description="Resolution at which adc_conversion is quoted; when set, the energy per "
        "conversion scales by 2^(adc_bits - adc_reference_bits) (Walden figure of merit: "
        "energy per conversion step constant), so ADC-resolution sweeps cost what they should.",
    )


@dataclass(config=_CFG, kw_only=True)
class MacroLatency:
    row_drive: TimeCost = Field(description="Row driver settling per read.")
    array_read: TimeCost = Field(description="Array integration time per read.")
    adc_conversion: TimeCost = Field(description="One conversion cycle.")
    accumulate: TimeCost = Field(description="One digital add cycle.")


@dataclass(config=_CFG, kw_only=True)
class MacroArea:
    array: AreaCost = Field(description="Cell array of one tile.")
    adc: AreaCost = Field(description="One ADC.")
    periphery: AreaCost = Field(description="Drivers, DACs, buffers of one tile.")


@dataclass(config=_CFG, kw_only=True)
class MacroCard:
    """A crossbar tile (or, for ``technology: digital``, a digital synapse array)."""

    technology: Literal["ideal", "rram", "pcm", "digital"] = Field(
        description="Cell technology; 'digital' stores exact integer weights (SRAM)."
    )
    rows: Int = Field(ge=1, le=1 << 16, description="Word lines (inputs) per tile, 1-65536 "
                      "(fabricated tiles have at most a few thousand; rows x cols <= 2^26).")
    cols: Int = Field(ge=1, le=1 << 16, description="Bit lines (cell columns) per tile, "
                      "1-65536 (fabricated tiles have at most a few thousand; rows x cols "
                      "<= 2^26).")
    g_min: Q("S", ge=0, le=1.0, description="Lowest programmable conductance, S (HRS).")
    g_max: Q("S", gt=0, le=1.0, description="Highest programmable conductance, S (LRS).")
    levels: Int | None = Field(
        default=None, ge=2, le=1 << 16,
        description="Programmable levels per cell, 2-65536 (one level cannot store a weight; "
        "more than 16 bits is continuous: write null). Uniform in [g_min, g_max].",
    )
    weight_mapping: Literal["differential", "offset", "bit_sliced"] = Field(
        default="differential",
        description="differential: W ∝ G+ − G− (2 columns/output); offset: one column plus "
        "a shared reference column; bit_sliced: `slices` cells of `bits_per_cell` bits.",
    )
    bits_per_cell: Int | None = Field(default=None, ge=1, le=8,
                                      description="For bit slicing, 1-8 bits per cell.")
    slices: Int = Field(default=1, ge=1, le=16,
                        description="Cells per weight (bit slicing), 1-16.")
    read_voltage: Q("V", gt=0, le=5.0, description="Read voltage per driven row, volts.")
    programming_noise: NoiseSpec = Field(default_factory=NoiseSpec)
    read_noise: NoiseSpec = Field(default_factory=NoiseSpec)
    drift: DriftSpec = Field(default_factory=DriftSpec)
    stuck_at: StuckAtSpec = Field(default_factory=StuckAtSpec)
    dac_bits: Int = Field(default=1, ge=1, le=16,
                          description="Input (row) DAC resolution, 1-16 bits.")
    input: str = Field(
        default="dac", pattern=r"^(dac|bit_serial:([1-9]|1[0-6]))$",
        description="How analog inputs (values in [0, 1]) drive the rows: 'dac' (one read "
        "through the dac_bits DAC) or 'bit_serial:B' (the input quantised to B bits, one "
        "binary read per bit, the ADC outputs shifted and added; as ISAAC and NeuroSim).")
    adc_bits: Int | None = Field(
        default=None, ge=1, le=16,
        description="ADC resolution, 1-16 bits (null: ideal, no ADC; converters of more "
        "than 16 bits are not built for crossbar readout).",
    )
    adcs_per_tile: Int = Field(default=1, ge=1, le=1 << 16,
                               description="ADCs shared by a tile's columns (1 to cols).")
    energy: MacroEnergy
    latency: MacroLatency
    area: MacroArea
    write: CellWrites | None = Field(
        default=None, description="Cost of writing the tile's cells at run time (null: "
        "not given; a product of activations forced onto these tiles is then refused).")

    def __post_init__(self) -> None:
        m = self
        if m.rows * m.cols > MAX_TILE_CELLS:
            raise ConfigError(
                f"macro.rows x macro.cols ({m.rows} x {m.cols} = {m.rows * m.cols:,} cells) "
                f"exceeds {MAX_TILE_CELLS:,} (2^26) cells per tile, which keeps one tile's "
                "conductance array at 512 MiB; use smaller tiles and more of them"
            )
        if m.g_min >= m.g_max:
            raise ConfigError(
                f"macro.g_min ({m.g_min:g} S) must be below macro.g_max ({m.g_max:g} S)"
            )
        if m.adcs_per_tile > m.cols:
            raise ConfigError(
                f"macro.adcs_per_tile ({m.adcs_per_tile}) exceeds macro.cols ({m.cols}); "
                "at most one ADC per column"
            )
        if m.weight_mapping == "bit_sliced" and m.bits_per_cell is None:
            raise ConfigError("macro.bits_per_cell: required when weight_mapping is bit_sliced")
        if m.stuck_at.g_min_fraction + m.stuck_at.g_max_fraction > 1:
            raise ConfigError("macro.stuck_at: g_min_fraction + g_max_fraction exceed 1")
        for kind, spec, path in (("programming", m.programming_noise, "macro.programming_noise"),
                                 ("read", m.read_noise, "macro.read_noise"),
                                 ("drift", m.drift, "macro.drift")):
            resolve_params(kind, spec.model, spec.params, path)
            registry(kind)[spec.model].check_range(m.g_min, m.g_max, path)
        if m.programming_noise.redraw != "per_read":
            raise ConfigError("macro.programming_noise.redraw: programming noise is drawn "
                              "once at programming; remove 'redraw'")

    def resolved(self, kind: Literal["programming", "read", "drift"]) -> dict[str, float]:
        """Parameters of the ``kind`` noise model with defaults filled in, SI floats."""
        spec = {"programming": self.programming_noise, "read": self.read_noise,
                "drift": self.drift}[kind]
        out = resolve_params(kind, spec.model, spec.params, f"macro.{kind}")
        if kind == "read" and self.read_noise.redraw == "per_inference":
            out["per_read"] = 0.0  # drawn once per inference into the tiles; no per-read σ
        return out

    @property
    def serial_bits(self) -> int:
        """Bits of a bit-serial input drive (0: analog inputs go through the DAC)."""
        return int(self.input.split(":")[1]) if self.input.startswith("bit_serial:") else 0

    @property
    def g_range(self) -> float:
        """Programmable window ``g_max − g_min`` in siemens."""
        return self.g_max - self.g_min


@dataclass(config=_CFG, kw_only=True)
class NeuronCircuit:
    update_energy: EnergyCost | None = Field(default=None,
                                             description="Energy per neuron update per step.")
    spike_energy: EnergyCost | None = Field(default=None, description="Energy per emitted spike.")
    update_latency: TimeCost = Field(description="Neuron update time per step (per core).")
    area: AreaCost = Field(description="Area of one neuron circuit.")
    threshold_mismatch: Float = Field(
        default=0.0, ge=0, lt=0.25,
        description="Relative σ of the threshold per neuron (analog), [0, 0.25): larger σ "
        "would make Gaussian factors negative.",
    )
    leak_mismatch: Float = Field(
        default=0.0, ge=0, lt=0.25, description="Relative σ of the leak per neuron, [0, 0.25)."
    )


@dataclass(config=_CFG, kw_only=True)
class NocCard:
    topology: Literal["mesh2d"] = Field(default="mesh2d", description="Core interconnect.")
    hop_energy: EnergyCost | None = Field(default=None,
                                          description="Energy per spike packet per router hop.")
    hop_latency: TimeCost = Field(description="Latency per router hop.")
    router_area: AreaCost = Field(description="Area of one router.")


@dataclass(config=_CFG, kw_only=True)
class DigitalUnits:
    """Digital spike units beside the tiles: the operations that are not a crossbar read
    (max-pool comparisons, BatchNorm scale-and-shift, residual adds, spike-spike ANDs and
    popcounts, attention buffers). Each energy may be left out; the estimate then refuses
    a run that counted such operations (never a silent zero)."""

    add: EnergyCost | None = Field(
        default=None, description="One 8-bit integer add (accumulate, popcount step, "
        "residual add); a w-bit add costs w/8 of it (ripple-carry adders scale linearly).")
    compare: EnergyCost | None = Field(
        default=None, description="One comparison of two 8-bit values (max-pool, threshold).")
    mac: EnergyCost | None = Field(
        default=None, description="One 8-bit integer multiply-accumulate (BatchNorm "
        "scale-and-shift, attention counts).")
    logic: EnergyCost | None = Field(
        default=None, description="One 1-bit logic operation (spike AND, AND-NOT).")
    buffer_read_bit: EnergyCost | None = Field(
        default=None, description="Reading one bit of the unit's SRAM buffer (Q/K/V tokens).")
    buffer_write_bit: EnergyCost | None = Field(
        default=None, description="Writing one bit of the unit's SRAM buffer.")


@dataclass(config=_CFG, kw_only=True)
class WritableTile:
    """Tiles written at run time (SRAM or gain-cell compute-in-memory) beside the crossbar
    tiles: where a product of two activations (MatMul) may be placed when the run asks for
    it (``dynamic_products: crossbar``); one operand is rewritten every step."""

    technology: Literal["sram", "gain_cell"] = Field(description="Cell technology.")
    rows: Int = Field(ge=1, le=1 << 16, description="Rows per writable tile, 1-65536.")
    cols: Int = Field(ge=1, le=1 << 16, description="Cells per row, 1-65536.")
    tiles_per_core: Int = Field(ge=1, le=1 << 12, description="Writable tiles per core, "
                                "1-4096.")
    count_bits: Int = Field(default=8, ge=1, le=32, description="Cells (bits) holding one "
                            "element of a stored operand that is not binary (a count), 1-32; "
                            "a binary spike takes one cell.")
    write: CellWrites = Field(description="Write energy, latency and endurance.")
    read_energy_per_mac: EnergyCost | None = Field(
        default=None, description="Energy of one in-memory multiply-accumulate; null: the "
        "product's MACs are priced at digital.mac.")

    def __post_init__(self) -> None:
        if self.rows * self.cols > MAX_TILE_CELLS:
            raise ConfigError(f"writable_tile.rows x writable_tile.cols ({self.rows} x "
                              f"{self.cols}) exceeds {MAX_TILE_CELLS:,} (2^26) cells per tile")


@dataclass(config=_CFG, kw_only=True)
class ChipCard:
    """A chip: cores of crossbar tiles and neurons on a network-on-chip."""

    name: Str = Field(min_length=1, max_length=NAME_CHARS,
                      description="Preset/card name, 1-100 characters.")
    description: Str = Field(default="", max_length=TEXT_CHARS,
                             description="What the card models, with sources (at most "
                             "4000 characters).")
    clock: Q("Hz", gt=0, le=1e11, description="Core clock, Hz.")
    cores: Int = Field(ge=1, le=1 << 20, description="Cores per chip, 1-2^20 (about a "
                       "thousand times the largest neuromorphic systems built).")
    tiles_per_core: Int = Field(ge=1, le=1 << 12, description="Crossbar tiles per core, "
                                "1-4096.")
    neurons_per_core: Int = Field(ge=1, le=1 << 24, description="Neuron circuits per core, "
                                  "1-2^24.")
    max_fan_in: Int = Field(ge=1, le=1 << 30, description="Most synapses into one neuron, "
                            "1-2^30 (no network here has a layer that wide).")
    max_fan_out: Int = Field(ge=1, le=1 << 20, description="Most cores one neuron's spike "
                             "may reach, 1-2^20 (the most cores a card may have).")
    weight_bits: Int | None = Field(
        default=None, ge=1, le=32,
        description="Stored weight precision, 1-32 bits (null: analog cells).",
    )
    synapse_memory_per_core: Q("B", ge=0, le=2.0**40,
                               description="Synapse memory per core, 0-1 TiB (0: n/a).") = 0.0
    leakage_power_per_core: PowerCost | None = None
    macro: MacroCard
    neuron: NeuronCircuit
    noc: NocCard
    digital: DigitalUnits | None = None
    writable_tile: WritableTile | None = None

    # -- data round trip (the way back is devices.chip_from_dict) ----------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the YAML layout (quantities as exact unit strings); read it back
        with :func:`neurocosim.devices.chip_from_dict`."""
        return _to_dict(self)

    def resolved(self, kind: Literal["programming", "read", "drift"]) -> dict[str, float]:
        """Parameters of the macro's ``kind`` model with defaults filled in, SI floats."""
        return self.macro.resolved(kind)


def _to_dict(obj: Any) -> Any:
    if not dataclasses.is_dataclass(obj):
        return obj
    hints = typing.get_type_hints(type(obj), include_extras=True)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        unit = next((m.unit for m in getattr(hints[f.name], "__metadata__", ())
                     if isinstance(m, Unit)), None)
        if unit is not None and v is not None:
            out[f.name] = 0 if v == 0 else f"{v!r} {unit}"
        elif dataclasses.is_dataclass(v):
            out[f.name] = _to_dict(v)
        elif isinstance(v, dict):
            out[f.name] = dict(v)
        else:
            out[f.name] = v
    return out
