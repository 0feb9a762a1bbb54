"""``neurocosim deploy``: quantise for Loihi 2, export NIR + netx, check against Lava."""

from __future__ import annotations

import numpy as np

from .. import inputs
from ..errors import ConfigError
from . import _common as C


def run(args) -> int:
    from ..flows import deploy_loihi2
    from ..frontends import load_network
    from ..outputs import deploy_text, write_deploy_folder
    from ..targets.loihi2 import require_lava

    require_lava()
    C.out_dir(args.output, args)
    if args.run and not args.data:
        raise ConfigError("deploy --run needs --data DATA.npz")
    net = load_network(args.model, dt=args.dt)
    spikes = y = None
    if args.run:
        x, y = inputs.labelled_data(args.data, net)
        x, y = x[: args.samples], None if y is None else y[: args.samples]
        C.check_run(net, len(x), args)
        enc = inputs.encoder_for(args.encoding, x, net, np.random.default_rng(args.seed), args.data,
                        args.steps)
        spikes = enc.block(0, len(x), args.steps).reshape(len(x), args.steps, -1)
    qnet, report, check = deploy_loihi2(net, num_weight_bits=args.num_weight_bits, spikes=spikes,
                                        y=y, about_input={"encoding": args.encoding, "seed": args.seed},
                                        encoding=args.encoding)
    write_deploy_folder(args.output, net, qnet, report, check, force=args.force)
    print(deploy_text(qnet, check, y is not None, args.output))
    return 0 if check is None or check["spikes_mismatched"] == 0 else 1
