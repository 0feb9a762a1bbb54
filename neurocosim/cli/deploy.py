"""``neurocosim deploy``: quantise for Loihi 2, export NIR + netx, check against Lava."""

from __future__ import annotations

import json

import numpy as np

from ..errors import ConfigError
from . import _common as C


def run(args) -> int:
    from .._atomic import output_dir
    from ..flows import deploy_loihi2
    from ..frontends import load_network, save_network
    from ..targets.loihi2 import require_lava, write_netx

    require_lava()
    C.out_dir(args.output, args)
    if not 1 <= args.num_weight_bits <= 8:
        raise ConfigError(f"--num-weight-bits {args.num_weight_bits}: Loihi 2 weights have 1 to "
                          "8 bits")
    if args.run and not args.data:
        raise ConfigError("deploy --run needs --data DATA.npz")
    if args.run and args.encoding == "current":
        raise ConfigError("Loihi 2 takes spikes: use --encoding rate (or spikes) with --run")
    net = load_network(args.model, dt=args.dt)
    spikes = y = None
    if args.run:
        x, y = C.load_data(args.data)
        y = C.labels(y, net, len(x), args.data)
        x, y = x[: args.samples], None if y is None else y[: args.samples]
        C.check_run(net, len(x), args)
        enc = C.encoder(args.encoding, x, net, np.random.default_rng(args.seed), args.data,
                        args.steps)
        spikes = enc.block(0, len(x), args.steps).reshape(len(x), args.steps, -1)
    qnet, report, check = deploy_loihi2(net, num_weight_bits=args.num_weight_bits,
                                        spikes=spikes, y=y)
    if check is not None:
        check = {**check, "encoding": args.encoding, "seed": args.seed}
        order = ("samples", "steps", "encoding", "seed", "spikes_compared", "spikes_mismatched")
        check = {**{k: check[k] for k in order}, **check}
    with output_dir(args.output, force=args.force, command="deploy") as tmp:
        save_network(net, tmp / "model.nir")
        write_netx(qnet, tmp / "model.net")
        (tmp / "quantization.json").write_text(json.dumps(report, indent=2) + "\n")
        if check is not None:
            (tmp / "deploy.json").write_text(json.dumps(check, indent=2) + "\n")
    _print(qnet, check, y, args.output)
    return 0 if check is None or check["spikes_mismatched"] == 0 else 1


def _print(qnet, check, y, output) -> None:
    for ly in qnet.report["layers"]:
        print(f"{ly['neuron']:<10} weight_exp {ly['weight_exp']:>3}  vth {ly['vth']:>6}  du {ly['du']:>4}"
              f"  dv {ly['dv']:>4}  weight error {ly['weight_rel_rms_error']:.2%}")
    for w in qnet.report["warnings"]:
        print(f"warning: {w}")
    if check is not None:
        print(f"Lava fixed_pt vs hwsim loihi2: {check['spikes_mismatched']} of "
              f"{check['spikes_compared']} spikes differ ({check['samples']} samples x "
              f"{check['steps']} steps)")
        if y is not None:
            print(f"accuracy: Lava {check['lava_accuracy']:.4f}, hwsim loihi2 "
                  f"{check['hwsim_loihi2_accuracy']:.4f}, float SNN {check['float_accuracy']:.4f}")
        print(f"wall time: Lava {check['lava_wall_s']:.2f} s, hwsim loihi2 "
              f"{check['hwsim_wall_s']:.3f} s")
    print(f"wrote {output}/ (model.nir, model.net, quantization.json"
          + (", deploy.json)" if check else ")"))
