"""``neurocosim convert``: a scikit-learn MLP to an integrate-and-fire network."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, short
from . import _common as C


def run(args) -> int:
    from ..frontends import load_mlp, save_network
    from ..frontends.ann import convert_mlp_file
    from ..hwsim.encoders import load_data

    C.out_file(args.output, args, "-o")
    if Path(args.output).suffix not in (".nir", ".npz"):
        raise ConfigError(f"-o {short(args.output)}: the output model must end in .nir or .npz")
    mlp = load_mlp(args.model, trust_pickle=args.trust_pickle)  # an untrusted file: refused first
    x, _ = load_data(args.data)
    net = convert_mlp_file(args.model, mlp, x, args.data, dt=args.dt, percentile=args.percentile)
    save_network(net, args.output)
    print(f"converted MLPClassifier -> {net.n_neurons()} IF neurons, {net.n_synapses()} "
          f"synapses; wrote {args.output}")
    return 0
