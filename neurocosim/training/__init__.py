"""PRIME's prune-on-chip: learn a topology mask over a chip's random programmed weights."""

from .chip import chip_weights, parse_random_spec, prime_network, program_random, prune_chip
from .prune import MaskResult, encode_rate, evaluate, learn_mask, topk_mask, train_weights

__all__ = ["learn_mask", "train_weights", "MaskResult", "topk_mask", "evaluate", "encode_rate",
           "prime_network", "program_random", "chip_weights", "prune_chip", "parse_random_spec"]
