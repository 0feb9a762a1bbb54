"""``neurocosim prune``: PRIME's prune-on-chip (mask, RESET list, curve, summary)."""

from __future__ import annotations

import csv
import json

import numpy as np

from ..errors import ConfigError, DataError
from . import _common as C


def _check(args) -> None:
    for flag, v, lo, hi in (("--sparsity", args.sparsity, 0.0, 0.999), ("--beta", args.beta, 0.0, 1.0),
                            ("--read-noise", args.read_noise, 0.0, 10.0)):
        if not lo <= v <= hi:
            raise ConfigError(f"{flag} {v}: must lie in [{lo:g}, {hi:g}]")
    from ..hwsim.early_stop import parse_early_stop

    parse_early_stop(args.early_stop)


def _data(args, net):
    from ..flows import split_for_pruning

    x, y = C.load_data(args.data)
    if y is None:
        raise DataError(f"{args.data}: labels 'y' are needed to learn a mask")
    y = C.labels(y, net, len(x), args.data)
    if not args.test:
        x, xte, y, yte = split_for_pruning(x, y, args.seed, args.data)
        return (x, y), (xte, yte)
    xte, yte = C.load_data(args.test)
    if yte is None:
        raise DataError(f"{args.test}: labels 'y' are needed to score the pruned chip")
    C.encoder("rate", xte, net, np.random.default_rng(0), args.test, args.steps)
    return (x, y), (xte, C.labels(yte, net, len(xte), args.test))


def run(args) -> int:
    from .._atomic import output_dir
    from ..flows import PruneOptions, check_prunable, prune_on_chip
    from ..frontends import load_network
    from ..plots import training_figure
    from ..training import parse_random_spec, prime_network

    C.out_dir(args.output, args)
    _check(args)
    chip = C.chip(args)
    random_weights = str(args.model).startswith("random:")
    if random_weights:
        rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(5)[0])
        net = prime_network(parse_random_spec(args.model), rng=rng)
    else:
        net = load_network(args.model, dt=args.dt)
    check_prunable(net, str(args.model))
    train, test = _data(args, net)
    opts = PruneOptions(sparsity=args.sparsity, epochs=args.epochs, lr=args.lr, steps=args.steps,
                        beta=args.beta, theta=args.theta, read_noise=args.read_noise,
                        early_stop=args.early_stop, progress=C.progress(args))
    with C.about(args.test or args.data):
        out = prune_on_chip(net, chip, train, test, opts, seed=args.seed,
                            random_weights=random_weights, label=str(args.model))
    res, runs, reset_list = out["learned"], out["runs"], out["reset_list"]
    ops = list(out["mapped"].ops)
    summary = {"model": str(args.model), "chip": chip.name, "seed": args.seed,
               "sparsity": args.sparsity, "density_per_layer": res.density,
               "reset_pairs": len(reset_list), "reset_operations": out["reset_operations"],
               "pruned_rows": out["pruned_rows"], "accuracy_before": runs["before"]["accuracy"],
               "accuracy_after": runs["after"]["accuracy"], "runs": runs,
               "early_stop": args.early_stop, "history": res.history}
    with output_dir(args.output, force=args.force, command="prune") as tmp:
        np.savez(tmp / "mask.npz", **{f"mask_{op}": m for op, m in zip(ops, res.masks, strict=True)},
                 **{f"scores_{op}": s for op, s in zip(ops, res.scores, strict=True)})
        with open(tmp / "reset_list.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["layer", "tile", "row", "col_pos", "col_neg",
                                               "input", "output"])
            w.writeheader()
            w.writerows(reset_list)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        training_figure(res.history, tmp / "training_curve.png",
                        f"mask learning on {chip.name} ({args.sparsity:.0%} pruned)")
    es = runs["after_early_stop"]
    print(f"mask: density {', '.join(f'{d:.3f}' for d in res.density)}; {len(reset_list)} pairs "
          f"to RESET ({out['reset_operations']} RESET operations, write-once)")
    print(f"hwsim accuracy before pruning {runs['before']['accuracy']:.4f}, after "
          f"{runs['after']['accuracy']:.4f}; with early stop {args.early_stop}: "
          f"{es['accuracy']:.4f} at {es['mean_steps']:.1f} of {args.steps} steps")
    print(f"wrote {args.output}/ (mask.npz, reset_list.csv, training_curve.png, summary.json)")
    return 0
