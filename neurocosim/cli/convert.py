"""``neurocosim convert``: a scikit-learn MLP to an integrate-and-fire network."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError, ModelError, short
from . import _common as C


def run(args) -> int:
    from ..frontends import convert_mlp, load_mlp, save_network

    C.out_file(args.output, args, "-o")
    if Path(args.output).suffix not in (".nir", ".npz"):
        raise ConfigError(f"-o {short(args.output)}: the output model must end in .nir or .npz")
    if not 0 < args.percentile <= 100:
        raise ConfigError(f"--percentile {args.percentile}: must lie in (0, 100]")
    path = Path(args.model)
    mlp = load_mlp(path, trust_pickle=args.trust_pickle)
    x, _ = C.load_data(args.data)
    with C.about(path, ModelError):
        if not hasattr(mlp, "coefs_"):
            raise ModelError(f"holds a {short(type(mlp).__name__, 60)}, not a fitted "
                             "scikit-learn MLPClassifier")
    n_in = np.asarray(mlp.coefs_[0]).shape[0]
    with C.about(args.data):
        xs = x.reshape(len(x), -1)
        if xs.shape[1] != n_in:
            raise DataError(f"'x' has {xs.shape[1]} features per sample; the MLP in {path} "
                            f"takes {n_in}")
    with C.about(path, ModelError):
        net = convert_mlp(mlp, xs, dt=args.dt, percentile=args.percentile, name=path.stem)
    save_network(net, args.output)
    print(f"converted {type(mlp).__name__} -> {net.n_neurons()} IF neurons, "
          f"{net.n_synapses()} synapses; wrote {args.output}")
    return 0
