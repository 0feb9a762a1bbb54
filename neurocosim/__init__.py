"""neurocosim: neuromorphic hardware co-simulation and deployment.

The curated public API; each stage lives in its subpackage (DESIGN §2)::

    net = neurocosim.load_network("model.nir", dt=1e-3)
    chip = neurocosim.load_chip("prime-rram-40nm")
    enc = neurocosim.make_encoder("current", x, net.input_shape)
    res = neurocosim.simulate_reference(net, enc, steps=64)
"""

__version__ = "0.1.0"

from .devices import ChipCard, list_presets, load_chip  # noqa: E402
from .errors import (  # noqa: E402
    ConfigError,
    DataError,
    MappingError,
    ModelError,
    NeurocosimError,
    SimulationError,
)
from .frontends import convert_mlp, load_network, network_from_weights, save_network  # noqa: E402
from .hwsim import make_encoder  # noqa: E402
from .hwsim.reference import ReferenceResult  # noqa: E402
from .hwsim.reference import simulate as simulate_reference  # noqa: E402
from .ir import Network  # noqa: E402

__all__ = [
    "__version__", "Network", "load_network", "save_network", "network_from_weights",
    "convert_mlp", "load_chip", "list_presets", "ChipCard", "make_encoder",
    "simulate_reference", "ReferenceResult", "NeurocosimError", "ConfigError", "ModelError",
    "MappingError", "DataError", "SimulationError",
]
