"""Chip cards: presets load, round trip, and every malformed card fails naming its field."""

import copy

import pytest
import yaml

from neurocosim.devices import chip_from_dict, dump_chip, list_presets, load_chip, preset_path
from neurocosim.errors import ConfigError


def base() -> dict:
    return yaml.safe_load(preset_path("prime-rram-40nm").read_text())


def test_presets_ship_and_load():
    assert {"ideal", "prime-rram-40nm", "pcm-aihwkit", "loihi2"} <= set(list_presets())
    for name in list_presets():
        card = load_chip(name)
        assert card.name == name
        assert card.macro.g_min < card.macro.g_max


@pytest.mark.parametrize("name", ["ideal", "prime-rram-40nm", "pcm-aihwkit", "loihi2"])
def test_card_round_trip_exact(name, tmp_path):
    card = load_chip(name)
    p = tmp_path / "card.yaml"
    p.write_text(dump_chip(card))
    assert load_chip(p) == card


def test_units_parsed_to_si():
    card = load_chip("pcm-aihwkit")
    assert card.macro.g_max == 25e-6
    assert card.macro.energy.adc_conversion.value == pytest.approx(1.56e-12)
    assert card.resolved("programming")["c1"] == 1.9650
    drift = card.resolved("drift")
    assert (drift["t0"], drift["g_max"], drift["mu_slope"]) == (20.0, 25e-6, -0.0155)
    assert card.resolved("read")["t_read"] == pytest.approx(250e-9)
    loihi = load_chip("loihi2")
    assert loihi.synapse_memory_per_core == 128 * 1024


def test_every_cost_cites_a_source():
    for name in list_presets():
        card = load_chip(name).to_dict()
        stack = [card]
        while stack:
            d = stack.pop()
            if isinstance(d, dict):
                if "value" in d and "source" in d:
                    assert len(d["source"]) >= 3
                stack.extend(v for v in d.values() if isinstance(v, dict))


def _set(path, value):
    def edit(d):
        keys = path.split(".")
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return edit


def _rename(path, new):
    def edit(d):
        keys = path.split(".")
        for k in keys[:-1]:
            d = d[k]
        d[new] = d.pop(keys[-1])
    return edit


def _delete(path):
    def edit(d):
        keys = path.split(".")
        for k in keys[:-1]:
            d = d[k]
        del d[keys[-1]]
    return edit


MALFORMED = [
    # (edit, fragment the one-line message must contain)
    (_rename("macro.g_min", "g_mni"), "macro.g_mni: unknown key; did you mean 'g_min'?"),
    (_rename("tiles_per_core", "tile_per_core"), "tile_per_core: unknown key; did you mean 'tiles_per_core'?"),
    (_set("macro.g_min", "5 uJ"), "macro.g_min: '5 uJ' is not in S"),
    (_set("macro.g_max", 100), "macro.g_max: a bare number (100) has no unit"),
    (_set("macro.g_min", "200 uS"), "macro.g_min (0.0002 S) must be below macro.g_max"),
    (_set("macro.rows", 0), "macro.rows: Input should be greater than or equal to 1"),
    (_set("macro.rows", "256"), "macro.rows: Input should be a valid integer"),
    (_set("macro.levels", 1), "macro.levels: Input should be greater than or equal to 2"),
    (_set("macro.technology", "flash"), "macro.technology: Input should be"),
    (_delete("cores"), "cores: required field is missing"),
    (_set("macro.programming_noise", {"model": "gaussian"}), "macro.programming_noise.model: unknown programming model 'gaussian'"),
    (_set("macro.programming_noise", {"model": "multiplicative", "params": {"percent": -2}}),
     "macro.programming_noise.params.percent: -2 is outside the valid range"),
    (_set("macro.programming_noise", {"model": "multiplicative", "params": {"percnt": 2}}),
     "macro.programming_noise.params.percnt: unknown parameter of 'multiplicative'; did you mean 'percent'?"),
    (_set("macro.programming_noise", {"model": "rram_linear"}),
     "macro.programming_noise: model 'rram_linear' is valid for conductances in [50, 225] uS"),
    (_set("macro.drift", {"model": "power_law", "params": {"nu_mean": 0.05, "nu_std": -0.1}}),
     "macro.drift.params.nu_std: -0.1 is outside the valid range"),
    (_set("macro.drift", {"model": "power_law"}), "macro.drift.params.nu_mean: required"),
    (_set("macro.stuck_at.g_max_fraction", 1.5), "macro.stuck_at.g_max_fraction: Input should be less than or equal to 1"),
    (_set("macro.adcs_per_tile", 1024), "macro.adcs_per_tile (1024) exceeds macro.cols (512)"),
    (_set("macro.adc_bits", 40), "macro.adc_bits: Input should be less than or equal to 16"),
    (_delete("macro.energy.adc_conversion.source"), "macro.energy.adc_conversion.source: required field is missing"),
    (_set("macro.energy.cell_read.value", "-1 pJ"), "macro.energy.cell_read.value: Input should be greater than or equal to 0"),
    (_set("noc.hop_latency.value", "3 pJ"), "noc.hop_latency.value: '3 pJ' is not in s"),
    (_set("macro.weight_mapping", "bit_sliced"), "macro.bits_per_cell: required when weight_mapping is bit_sliced"),
    (_set("clock", "100 MHz extra"), "clock: cannot parse '100 MHz extra'"),
    (_set("macro.write.endurance.value", 0), "macro.write.endurance.value: Input should be greater than or equal to 1"),
    (_set("macro.write.endurance.value", True), "macro.write.endurance.value: a number of writes, not a boolean"),
    (_set("macro.write.endurance.value", "many"), "macro.write.endurance.value: a number of writes such as 1e6, got 'many'"),
    (_delete("macro.write.energy_per_cell.source"), "macro.write.energy_per_cell.source: required field is missing"),
    (_set("macro.write.latency_per_row.value", "1 pJ"), "macro.write.latency_per_row.value: '1 pJ' is not in s"),
    (_set("writable_tile", {}), "writable_tile.technology: required field is missing"),
]

SRAM = {"technology": "sram", "rows": 128, "cols": 64, "tiles_per_core": 4,
        "write": {"energy_per_cell": {"value": "0.16 pJ", "source": "Horowitz ISSCC 2014"},
                  "latency_per_row": {"value": "10 ns", "source": "one cycle", "assumption": True},
                  "endurance": {"value": None, "source": "SRAM does not wear out"}}}


@pytest.mark.parametrize("edit,fragment", MALFORMED, ids=[m[1].split(":")[0] for m in MALFORMED])
def test_malformed_card_names_file_and_field(tmp_path, edit, fragment):
    data = copy.deepcopy(base())
    edit(data)
    p = tmp_path / "bad_chip.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    with pytest.raises(ConfigError) as err:
        load_chip(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}: "), msg
    assert fragment in msg, msg
    assert "\n" not in msg


def test_malformed_yaml_syntax_names_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("name: x\nmacro: {rows: 3\ncols: 4\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: line \d+, column \d+: malformed YAML"):
        load_chip(p)


def test_not_a_mapping_and_unknown_preset(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_chip(p)
    with pytest.raises(ConfigError, match="no chip preset named 'prime-rram'; did you mean 'prime-rram-40nm'"):
        load_chip("prime-rram")


def test_dict_api_validates_too():
    with pytest.raises(ConfigError, match="<dict>: macro.g_mni"):
        d = base()
        d["macro"]["g_mni"] = d["macro"].pop("g_min")
        chip_from_dict(d)


def test_typo_is_one_problem_not_two(tmp_path):
    data = base()
    data["macro"]["g_mni"] = data["macro"].pop("g_min")
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ConfigError) as err:
        load_chip(p)
    assert str(err.value) == f"{p}: macro.g_mni: unknown key; did you mean 'g_min'?"


def test_write_costs_of_the_presets():
    prime, pcm = load_chip("prime-rram-40nm").macro.write, load_chip("pcm-aihwkit").macro.write
    assert (prime.energy_per_cell.value, prime.latency_per_row.value, prime.endurance.value) \
        == pytest.approx((10e-12, 1e-6, 1e6))
    assert pcm.endurance.value == 1e8 and pcm.energy_per_cell.value == pytest.approx(10e-12)
    assert prime.endurance.assumption and "Wong" in prime.endurance.source
    assert load_chip("ideal").macro.write is None
    assert all(load_chip(n).writable_tile is None for n in list_presets())


@pytest.mark.parametrize("given,value", [("1e6", 1e6), (1000000, 1e6), (2.5e9, 2.5e9),
                                         ("1_000", 1e3), (None, None)])
def test_endurance_is_a_number_of_writes_or_unlimited(given, value):
    data = base()
    data["macro"]["write"]["endurance"]["value"] = given
    assert chip_from_dict(data).macro.write.endurance.value == value


def test_writable_tile_loads_round_trips_and_is_described(tmp_path):
    from neurocosim.devices.describe import describe_card

    data = base() | {"writable_tile": SRAM}
    card = chip_from_dict(data)
    wt = card.writable_tile
    assert (wt.technology, wt.rows, wt.cols, wt.tiles_per_core, wt.count_bits) == \
        ("sram", 128, 64, 4, 8)
    assert wt.write.energy_per_cell.value == pytest.approx(0.16e-12)
    assert wt.write.endurance.value is None and wt.read_energy_per_mac is None
    p = tmp_path / "card.yaml"
    p.write_text(dump_chip(card))
    assert load_chip(p) == card
    text = describe_card(card)
    assert "writable tiles: 4 per core, 128 x 64 sram" in text
    assert "writable_tile.write.endurance" in text and "unlimited" in text
    assert "macro.write.endurance       1e+06" in text
    big = base() | {"writable_tile": SRAM | {"rows": 65536, "cols": 65536}}
    with pytest.raises(ConfigError, match=r"writable_tile.rows x writable_tile.cols "
                                          r"\(65536 x 65536\) exceeds 67,108,864"):
        chip_from_dict(big)
