"""Write energy of products held in tiles: every cell of the held operand at every step a
sample ran (early stop writes less), at the card's write.energy_per_cell; a card without
that cost is refused once writes are counted (never a silent zero)."""

import dataclasses

import numpy as np
import pytest

from neurocosim.devices import load_chip
from neurocosim.energy import estimate
from neurocosim.errors import ConfigError
from neurocosim.mapping.dynamic import mapped_writes
from tests.mapping.test_dynamic_products import PRIME, _run, ssa_net


@pytest.fixture(scope="module")
def forced_run():
    return _run(ssa_net("right"), PRIME, "crossbar", allow=True)


def test_writes_follow_the_steps_each_sample_ran(forced_run):
    run = forced_run
    steps = np.array([1, 3, 4])  # as an early stop would leave them
    counts = dataclasses.replace(run.result.counts, steps=steps)
    writes = mapped_writes(run.mapped)
    kw = dict(tiles=run.mapped.report.tiles, cores=run.mapped.report.cores)
    with_w = estimate(counts, PRIME, writes=writes, **kw)
    without = estimate(counts, PRIME, **kw)
    # q·(kᵀ·v), 2 heads, 64 tokens, 32 features, differential pairs: 2·(2·64·32 + 2·32·32)
    cells_per_step = 2 * (2 * 64 * 32 + 2 * 32 * 32)
    np.testing.assert_allclose(with_w.per_sample_J - without.per_sample_J,
                               cells_per_step * steps * 10e-12, rtol=1e-12)
    assert with_w.writes_by_kind["MatMul"]["cells_per_inference"] == \
        pytest.approx(cells_per_step * steps.mean())
    assert with_w.to_dict()["writes_by_kind"] == {"MatMul": dict(with_w.writes_by_kind["MatMul"])}
    fields = [c["field"] for c in with_w.constants]
    assert "macro.write.energy_per_cell" in fields and "writes_by_kind" not in without.to_dict()


def test_a_card_without_write_costs_is_refused_once_writes_are_counted(forced_run):
    run = forced_run
    ideal = load_chip("ideal")
    # the first product (kᵀ·v holds v: 2·64·32 elements, 2 cells each), 4 steps, 3 samples
    with pytest.raises(ConfigError, match="chip 'ideal': macro.write.energy_per_cell is not "
                                          f"given but the run counted {8192 * 4 * 3} cell writes"):
        estimate(run.result.counts, ideal, tiles=1, cores=1, writes=mapped_writes(run.mapped))
