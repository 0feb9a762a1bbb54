"""Hardware models: chip/macro cards (schema, strict loader, presets) and noise models."""

from .cards import chip_from_dict, dump_chip, list_presets, load_chip, preset_path
from .noise import DRIFT_MODELS, PROGRAMMING_NOISE, READ_NOISE, resolve_params
from .schema import ChipCard, MacroCard, NeuronCircuit, NocCard

__all__ = ["load_chip", "chip_from_dict", "dump_chip", "list_presets", "preset_path",
           "ChipCard", "MacroCard", "NeuronCircuit", "NocCard", "PROGRAMMING_NOISE",
           "READ_NOISE", "DRIFT_MODELS", "resolve_params"]
