"""neurocosim: neuromorphic hardware co-simulation and deployment.

The curated public API; each stage lives in its subpackage (DESIGN §2)::

    net = neurocosim.load_network("model.nir", dt=1e-3)
    chip = neurocosim.load_chip("prime-rram-40nm")
    mapped = neurocosim.map_network(net, chip)
    programmed = neurocosim.program_chip(mapped, np.random.default_rng(0))
    enc = neurocosim.make_encoder("rate", x, net.input_shape, np.random.default_rng(1))
    res = neurocosim.simulate(programmed, enc, 64, early_stop="confidence:0.8:2",
                              rng=np.random.default_rng(2))
    ref = neurocosim.simulate_reference(net, enc, steps=64)
"""

from ._version import __version__  # noqa: E402
from .devices import ChipCard, list_presets, load_chip  # noqa: E402
from .devices.program import ProgrammedChip, program_chip  # noqa: E402
from .errors import (  # noqa: E402
    ConfigError,
    DataError,
    MappingError,
    ModelError,
    NeurocosimError,
    SimulationError,
)
from .frontends import convert_mlp, load_network, network_from_weights, save_network  # noqa: E402
from .hwsim import EventCounts, SimResult, make_encoder, simulate  # noqa: E402
from .hwsim.reference import ReferenceResult  # noqa: E402
from .hwsim.reference import simulate as simulate_reference  # noqa: E402
from .ir import Network  # noqa: E402
from .mapping import MappedNetwork, load_mapped, map_network, save_mapped  # noqa: E402

__all__ = [
    "__version__", "Network", "load_network", "save_network", "network_from_weights",
    "convert_mlp", "load_chip", "list_presets", "ChipCard", "make_encoder",
    "simulate_reference", "ReferenceResult", "map_network", "MappedNetwork", "save_mapped",
    "load_mapped", "program_chip", "ProgrammedChip", "simulate", "SimResult", "EventCounts", "NeurocosimError", "ConfigError", "ModelError",
    "MappingError", "DataError", "SimulationError",
]
