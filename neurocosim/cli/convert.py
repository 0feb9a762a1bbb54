"""``neurocosim convert``: a scikit-learn MLP or a PyTorch SNN (``MODEL.py:FACTORY``) to a network."""

from __future__ import annotations

from ..errors import ConfigError, short
from . import _common as C


def run(args) -> int:
    from ..frontends import ann, load_mlp, save_network
    from ..frontends import torch as pt  # imports torch only to convert a PyTorch model
    from ..hwsim.encoders import load_data

    C.out_file(args.output, args, "-o")
    if not str(args.output).endswith((".nir", ".npz")):
        raise ConfigError(f"-o {short(args.output)}: the output model must end in .nir or .npz")
    if pt.is_torch_model(args.model):  # MODEL.py:FACTORY: a PyTorch network
        net = pt.convert_file(args.model, args.weights, args.input_shape, args.steps, args.dt)
    elif args.data is None:
        raise ConfigError("convert: an MLP needs --data TRAIN.npz (threshold balancing)")
    else:
        mlp = load_mlp(args.model, trust_pickle=args.trust_pickle)  # an untrusted file: refused first
        x, _ = load_data(args.data)
        net = ann.convert_mlp_file(args.model, mlp, x, args.data, dt=args.dt, percentile=args.percentile)
    save_network(net, args.output, extensions=True)  # NIR's missing nodes: neurocosim.<Kind>
    print(f"converted {net.name} -> {net.n_neurons()} neurons, {net.n_synapses()} synapses; wrote {args.output}")
    return 0
