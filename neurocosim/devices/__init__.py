"""Hardware description: chip cards and the physical models of their devices.

Card side (what a chip is; YAML is only the file format):

* :mod:`.schema` — the typed card (``ChipCard``, ``MacroCard``, ...);
* :mod:`.cards` — the strict loader, the presets (``devices/presets/``, ``targets/*/``)
  and dumping;
* :mod:`.overrides` — dotted-path overrides (``--set macro.adc_bits=6``, sweeps).

Physical models (what the devices do), which read cards but never load them:

* :mod:`.noise` — registered programming/read noise and drift models (the schema checks
  card parameters against them);
* :mod:`.layout` — the columns of each output of a weight block on a tile;
* :mod:`.crossbar` — encoding, programming, drift, reads, ADC/DAC of one tile;
* :mod:`.neuron` — analog neuron mismatch; :mod:`.program` — programming a mapped
  network; :mod:`.report` — device characterisation.

Imports inside the package go one way (``tests/devices/test_structure.py`` checks it):
noise < schema < cards < overrides on the card side; the physical models import noise,
schema and each other, never the loader (cards, overrides).
"""

from .cards import chip_from_dict, dump_chip, list_presets, load_chip, preset_path
from .layout import ColumnLayout
from .noise import DRIFT_MODELS, PROGRAMMING_NOISE, READ_NOISE, resolve_params
from .overrides import apply_overrides, parse_set
from .schema import ChipCard, MacroCard, NeuronCircuit, NocCard

__all__ = ["load_chip", "chip_from_dict", "dump_chip", "list_presets", "preset_path",
           "apply_overrides", "parse_set", "ColumnLayout",
           "ChipCard", "MacroCard", "NeuronCircuit", "NocCard", "PROGRAMMING_NOISE",
           "READ_NOISE", "DRIFT_MODELS", "resolve_params"]
