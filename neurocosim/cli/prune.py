"""``neurocosim prune``: PRIME's prune-on-chip (mask, RESET list, curve, summary)."""

from __future__ import annotations

from .. import inputs
from . import _common as C


def run(args) -> int:
    from ..flows import PruneOptions, check_prunable, prune_on_chip
    from ..hwsim.early_stop import parse_early_stop
    from ..outputs import prune_summary, prune_text, write_prune_folder
    from ..training.prune import MaskTraining

    C.out_dir(args.output, args)
    parse_early_stop(args.early_stop)
    chip = C.chip(args)
    net, random_weights = inputs.prune_network(args.model, seed=args.seed, dt=args.dt)
    check_prunable(net, str(args.model))
    train, test = inputs.prune_sets(net, args.data, args.test, seed=args.seed, steps=args.steps)
    training = MaskTraining(sparsity=args.sparsity, epochs=args.epochs, lr=args.lr, rate=True,
                            steps=args.steps, beta=args.beta, beta_out=args.beta, theta=args.theta,
                            read_noise=args.read_noise)
    opts = PruneOptions(training=training, early_stop=args.early_stop, progress=C.progress(args),
                        precision=args.precision or "float64")
    with inputs.about(args.test or args.data):
        out = prune_on_chip(net, chip, train, test, opts, seed=args.seed,
                            random_weights=random_weights, label=str(args.model))
    summary = prune_summary(out, model=str(args.model), chip=chip.name, seed=args.seed,
                            sparsity=args.sparsity, early_stop=args.early_stop)
    write_prune_folder(args.output, out, summary, force=args.force)
    print(prune_text(out, args.early_stop, args.steps, args.output))
    return 0
