"""Hostile chip cards: every input gives a ChipCard or one ConfigError line, fast and small.

Each case writes a card (a preset's dict with one hostile edit, or raw text/bytes),
loads it with :func:`neurocosim.devices.load_chip` and asserts a :class:`ConfigError`
whose message is one line starting with the file's path and naming the field, within
2 s. The alias bomb is also held under 200 MB (tracemalloc peak), and two Hypothesis
fuzzers (arbitrary bytes; random edits of a valid card's dict and text) check the
loader is total and bounded. The unit parsers and the device report's budget check,
which cards and ``neurocosim device`` go through, are covered at the end.
"""

from __future__ import annotations

import copy
import math
import os
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocosim.devices import ChipCard, load_chip, preset_path
from neurocosim.errors import BudgetError, ConfigError, NeurocosimError
from tests.hostile import bounded_call, write

LIMIT_S = 2.0
LIMIT_BYTES = 200 << 20
PRESET = "prime-rram-40nm"


_TEXT = preset_path(PRESET).read_text(encoding="utf-8")
_BASE = yaml.load(_TEXT, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def base() -> dict:
    """A fresh copy of the preset's dict (parsed once)."""
    return copy.deepcopy(_BASE)


def base_text() -> str:
    return _TEXT


def edited(path: str, value) -> str:
    """The preset's YAML with ``path`` (dotted) set to ``value``."""
    data = base()
    *parents, last = path.split(".")
    d = data
    for k in parents:
        d = d[k]
    d[last] = value
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)




def refused(p: Path, *fragments: str, memory: bool = False) -> str:
    """Load ``p``; assert one ConfigError line naming the file and every fragment, fast."""
    if memory:
        tracemalloc.start()
    t = time.perf_counter()
    try:
        with pytest.raises(ConfigError) as err:
            load_chip(p)
        elapsed = time.perf_counter() - t
    finally:
        if memory:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    msg = str(err.value)
    assert elapsed < LIMIT_S, f"{elapsed:.2f} s: {msg[:200]}"
    if memory:
        assert peak < LIMIT_BYTES, f"peak {peak / 2**20:.0f} MiB"
    assert "\n" not in msg and "\r" not in msg, msg[:300]
    assert msg.startswith(f"{p}: "), msg[:300]
    assert len(msg) < 1000, msg[:300]
    for f in fragments:
        assert f in msg, msg
    return msg


def test_valid_preset_text_loads(tmp_path):
    card = load_chip(write(tmp_path, "ok.yaml", base_text()))
    assert isinstance(card, ChipCard) and card.name == PRESET


# ---- alias bombs and nesting ---------------------------------------------------------------
def billion_laughs(levels: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_alias_bomb_refused_fast_and_small(tmp_path):
    # before: repr() of the expanded bomb in the error message, MemoryError after 20-60 s
    p = write(tmp_path, "bomb.yaml", base_text().replace(
        "  cols: 512", "  cols: " + "[" + ", ".join(
            ["&a0 [" + ", ".join(["lol"] * 9) + "]"]
            + [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]) + "]"))
    refused(p, "alias", memory=True)
    refused(write(tmp_path, "laughs.yaml", billion_laughs()), "alias", memory=True)


def test_string_alias_bomb_refused_fast_and_small(tmp_path):
    # a 500 kB string referenced 8 x 8 times is 32 MB that repr() would build in a message
    text = ("s: &s " + "x" * 500_000 + "\nl1: &l1 [" + ", ".join(["*s"] * 8) + "]\n"
            "name: [" + ", ".join(["*l1"] * 8) + "]\n")
    refused(write(tmp_path, "strbomb.yaml", text), "characters", "alias", memory=True)


@pytest.mark.parametrize("text,fragment", [
    ("name: x\nmacro: " + "[" * 100_000 + "]" * 100_000 + "\n", "nest"),
    ("name: x\nmacro: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n", "nest"),
    ("name: x\nmacro:\n" + "".join("  " * i + "- \n" for i in range(1, 200)), "nested"),
], ids=["brackets-100k", "braces-10k", "block-200"])
def test_deep_nesting_refused(tmp_path, text, fragment):
    refused(write(tmp_path, "deep.yaml", text), fragment, memory=True)


@pytest.mark.parametrize("text,fragment", [
    ("name: &a [x, *a]\n", "cycle"),
    ("macro: &m {rows: *m}\n", "cycle"),
    ("name: 2020-02-30\n", "invalid value"),
    ("name: !!python/object/apply:os.system [echo hi]\n", "malformed YAML"),
    ("name: x\n---\nname: y\n", "malformed YAML"),
    ("name: [x\n", "malformed YAML"),
], ids=["self-alias", "self-alias-map", "bad-date", "python-tag", "two-documents", "unclosed"])
def test_yaml_oddities_refused(tmp_path, text, fragment):
    refused(write(tmp_path, "odd.yaml", text), fragment)


# ---- the file itself ---------------------------------------------------------------------
def test_non_utf8_and_binary_cards_refused(tmp_path):
    latin1 = base_text().encode().replace(b"PRIME", "PRÏME".encode("latin-1"))
    refused(write(tmp_path, "latin1.yaml", latin1), "not UTF-8", "line 1,")
    refused(write(tmp_path, "nul.yaml", base_text().encode() + b"\x00\x01"), "NUL")
    refused(write(tmp_path, "ctrl.yaml", base_text() + "x: \x07\n"), "line", "control")
    refused(write(tmp_path, "big.yaml", "# pad\n" * 300_000), "too large")
    (tmp_path / "folder.yaml").mkdir()
    refused(tmp_path / "folder.yaml", "folder")
    refused(tmp_path / "missing.yaml", "no such")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.yaml")
        refused(tmp_path / "fifo.yaml", "not a regular file")


def test_unknown_preset_name_is_short_and_stays_in_presets():
    for name in ("x" * 100_000, "../presets/ideal", "a\x00b"):
        with pytest.raises(ConfigError) as err:
            load_chip(name)
        assert "\n" not in str(err.value) and len(str(err.value)) < 1000


# ---- values --------------------------------------------------------------------------------
@pytest.mark.parametrize("path,value,fragments", [
    ("clock", "1e400 Hz", ("clock", "finite")),
    ("macro.g_min", "nan uS", ("macro.g_min", "cannot parse")),
    ("macro.g_max", "inf uS", ("macro.g_max", "cannot parse")),
    ("macro.read_voltage", "1e308 kV", ("macro.read_voltage", "overflows")),
    ("macro.stuck_at.g_min_fraction", float("nan"), ("macro.stuck_at.g_min_fraction", "finite")),
    ("macro.stuck_at.g_max_fraction", float("inf"), ("macro.stuck_at.g_max_fraction", "finite")),
    ("synapse_memory_per_core", "1e400 KiB", ("synapse_memory_per_core", "finite")),
    ("macro.drift", {"model": "power_law", "params": {"nu_mean": 0.05, "t0": "1e400 s"}},
     ("macro.drift.params.t0", "finite")),
    ("macro.programming_noise", {"model": "multiplicative", "params": {"percent": float("nan")}},
     ("macro.programming_noise.params.percent", "outside the valid range")),
], ids=lambda v: v if isinstance(v, str) else None)
def test_non_finite_quantities_refused(tmp_path, path, value, fragments):
    refused(write(tmp_path, "nonfinite.yaml", edited(path, value)), *fragments)


@pytest.mark.parametrize("path,value,fragments", [
    ("macro.rows", 0, ("macro.rows", "greater than or equal to 1", "1-65536")),
    ("macro.cols", 10**12, ("macro.cols", "less than or equal to 65536", "fabricated")),
    ("macro.adc_bits", 0, ("macro.adc_bits", "1-16 bits")),
    ("macro.dac_bits", 1000, ("macro.dac_bits", "1-16 bits")),
    ("weight_bits", 1000, ("weight_bits", "1-32 bits")),
    ("macro.levels", 1, ("macro.levels", "one level cannot store a weight")),
    ("cores", -4, ("cores", "greater than or equal to 1", "2^20")),
    ("tiles_per_core", 10**9, ("tiles_per_core", "1-4096")),
    ("max_fan_in", 10**30, ("max_fan_in", "2^30")),
    ("max_fan_out", 10**9, ("max_fan_out", "2^20")),
    ("macro.adcs_per_tile", 10**9, ("macro.adcs_per_tile",)),
    ("synapse_memory_per_core", "-5 KiB", ("synapse_memory_per_core", "0-1 TiB")),
    ("synapse_memory_per_core", "5000 GiB", ("synapse_memory_per_core", "1 TiB")),
], ids=lambda v: v if isinstance(v, str) else None)
def test_sizes_bounded_with_reason(tmp_path, path, value, fragments):
    refused(write(tmp_path, "size.yaml", edited(path, value)), *fragments)


def test_tile_cells_bounded_with_reason(tmp_path):
    text = base_text().replace("  rows: 512", "  rows: 65536").replace("  cols: 512",
                                                                     "  cols: 65536")
    refused(write(tmp_path, "tile.yaml", text), "macro.rows x macro.cols", "2^26", "512 MiB")


@pytest.mark.parametrize("path,value,fragments", [
    ("macro.g_min", "5 u\u202eS", ("macro.g_min", "cannot parse", "\\u202e")),
    ("macro.g_min", "5 uS\n\nrows: 3", ("macro.g_min", "cannot parse")),
    ("macro.g_max", "100 µ S", ("macro.g_max",)),
    ("clock", "１００ MHz", ("clock", "cannot parse")),
    ("macro.read_voltage", "0.2 V V", ("macro.read_voltage", "cannot parse")),
    ("noc.hop_latency.value", "4.1 ns\x1b[31m", ("noc.hop_latency.value",)),
], ids=["rtl-override", "newline", "space-in-unit", "fullwidth-digits", "two-units", "escape"])
def test_odd_unit_strings_refused(tmp_path, path, value, fragments):
    refused(write(tmp_path, "unit.yaml", edited(path, value)), *fragments)


@pytest.mark.parametrize("text,fragments", [
    (base_text() + "1: 2\n", ("1: keys must be strings",)),
    (base_text() + "null: 2\n", ("keys must be strings",)),
    (base_text().replace("{model: multiplicative, params: {percent: 2.0}}",
                         "{model: multiplicative, params: {1: 2.0}}"),
     ("macro.programming_noise.params: keys must be strings",)),
    (base_text().replace("  rows: 512", "  ? [1, 2]\n  : 512"), ("malformed YAML",)),
    (base_text() + '"a\\nb": 1\n', ("unknown key",)),
], ids=["int-key", "null-key", "int-param-key", "list-key", "newline-key"])
def test_non_string_keys_refused(tmp_path, text, fragments):
    refused(write(tmp_path, "keys.yaml", text), *fragments)


@pytest.mark.parametrize("path,value,fragment", [
    ("macro", [1, 2], "macro: Input should be a dictionary"),
    ("macro.energy", ["row_drive"], "macro.energy"),
    ("macro.programming_noise", ["multiplicative", 2.0], "macro.programming_noise"),
    ("macro.programming_noise.params", [2.0], "macro.programming_noise.params"),
    ("noc.hop_latency", "4 ns", "noc.hop_latency"),
    ("macro.stuck_at", 0.01, "macro.stuck_at"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_lists_where_mappings_expected_refused(tmp_path, path, value, fragment):
    refused(write(tmp_path, "list.yaml", edited(path, value)), fragment)


def test_top_level_not_a_mapping_refused(tmp_path):
    for text in ("- 1\n- 2\n", "42\n", "", "~\n", "'just a string'\n"):
        refused(write(tmp_path, "top.yaml", text), "must be a mapping")


@pytest.mark.parametrize("path,value,fragments", [
    ("name", "n" * 200_000, ("name", "at most 100 characters")),
    ("description", "d" * 200_000, ("description", "at most 4000 characters")),
    ("macro.energy.adc_conversion.source", "s" * 200_000,
     ("macro.energy.adc_conversion.source", "at most 500 characters")),
    ("macro.g_min", "5" * 200_000 + " uS", ("macro.g_min", "too long")),
    ("macro.programming_noise", {"model": "m" * 200_000},
     ("macro.programming_noise.model", "at most 100 characters")),
    ("macro.programming_noise", {"model": "multiplicative", "params": {"p" * 200_000: 1}},
     ("macro.programming_noise.params.",)),
    ("macro.programming_noise",
     {"model": "multiplicative", "params": {f"k{i}": i for i in range(1000)}},
     ("macro.programming_noise.params", "at most 16")),
], ids=["name", "description", "source", "quantity", "model", "param-key", "many-params"])
def test_long_strings_refused(tmp_path, path, value, fragments):
    refused(write(tmp_path, "long.yaml", edited(path, value)), *fragments)


def test_long_unknown_key_is_shortened(tmp_path):
    msg = refused(write(tmp_path, "k.yaml", base_text() + "? " + "k" * 200_000 + "\n: 1\n"),
                  "unknown key")
    assert "(200000 chars)" in msg or "..." in msg


@pytest.mark.parametrize("text,fragments", [
    (base_text().replace("  rows: 512", "  rows: " + "1" * 5000), ("line", "5,000 characters")),
    (base_text().replace("  rows: 512", "  rows: 0x" + "f" * 100_000), ("characters",)),
    (base_text().replace("  rows: 512", "  rows: 1" + ":0" * 50_000), ("characters",)),
    (base_text().replace("{percent: 2.0}", "{percent: " + "9" * 400 + "}"), ("characters",)),
    (base_text().replace("{percent: 2.0}", "{percent: 1.0e+400}"),
     ("macro.programming_noise.params.percent", "inf is outside")),
    (base_text().replace("g_min_fraction: 0.001", "g_min_fraction: -1.0e+400"),
     ("macro.stuck_at.g_min_fraction", "finite")),
    (base_text().replace("  rows: 512", "  rows: 512.0"), ("macro.rows", "valid integer")),
    (base_text().replace("  rows: 512", "  rows: true"), ("macro.rows",)),
], ids=["int-5000-digits", "hex-100k", "sexagesimal", "param-400-digits", "param-inf",
        "fraction-minus-inf", "float-rows", "bool-rows"])
def test_huge_numbers_refused(tmp_path, text, fragments):
    refused(write(tmp_path, "huge.yaml", text), *fragments)


# ---- fuzzing ---------------------------------------------------------------------------------
FUZZ = settings(deadline=2000, max_examples=200, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def total_and_bounded(p: Path) -> None:
    """load_chip(p) → ChipCard or one NeurocosimError line, < 2 s, < 200 MB."""
    out = bounded_call(lambda: load_chip(p), LIMIT_S, LIMIT_BYTES)
    if isinstance(out, NeurocosimError):
        assert str(out).startswith(f"{p}: "), str(out)[:300]
    else:
        assert isinstance(out, ChipCard)


@FUZZ
@given(raw=st.binary(max_size=4096) | st.builds(
    lambda pre, junk, post: pre + junk + post,
    st.sampled_from([b"", base_text().encode()[:500], base_text().encode()]),
    st.binary(max_size=256), st.sampled_from([b"", b"\n", base_text().encode()[500:]])))
def test_fuzz_arbitrary_bytes(fuzz_dir, raw):
    total_and_bounded(write(fuzz_dir, "bytes.yaml", raw))


SCALARS = (st.none() | st.booleans() | st.integers() | st.floats()
           | st.text(max_size=40) | st.sampled_from(
               ["25 uS", "1e400 Hz", "nan", "-1 pJ", "0", "1 S", "1 mm2", "5 KiB", "", "\x00",
                "1e-400 S", "100 MHz", "multiplicative", "power_law", "none", "*a", "&a",
                10**400, -(2**70), float("nan"), float("-inf"), "x" * 5000]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=12) | st.integers(), inner, max_size=4),
                      max_leaves=6)


def _paths(d, prefix=()):
    for k, v in d.items():
        yield prefix + (k,)
        if isinstance(v, dict):
            yield from _paths(v, prefix + (k,))


PATHS = sorted(_paths(base()), key=str)


@st.composite
def mutated_cards(draw):
    data = base()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        d = data
        for k in path[:-1]:
            if not isinstance(d, dict) or not isinstance(d.get(k), dict):
                break
            d = d[k]
        else:
            op = draw(st.sampled_from(["set", "set", "delete", "add", "rename"]))
            key = path[-1]
            if op == "set":
                d[key] = draw(VALUES)
            elif op == "delete":
                d.pop(key, None)
            elif op == "add":
                d[draw(st.text(max_size=12) | st.integers())] = draw(VALUES)
            elif key in d:
                d[draw(st.text(min_size=1, max_size=12))] = d.pop(key)
    return data


@FUZZ
@given(data=mutated_cards())
def test_fuzz_mutated_card_dicts(fuzz_dir, data):
    try:
        text = yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
                         sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:  # a value safe_dump cannot write is not a card anyone has
        return
    total_and_bounded(write(fuzz_dir, "mutated.yaml", text))


SNIPPETS = ["&a ", "*a", "*b", "[", "]", "{", "}", ": ", "- ", "!!binary ", "!!python/name:os ",
            "<<: *a\n", "? ", "|\n", ">-\n", "'", '"', "\t", "%YAML 1.1\n---\n", "---\n",
            "1e400", ".nan", "-.inf", "0x" + "f" * 120, "2020-02-30", "\\u0000", "\ufeff",
            "\u202e", "~", "9" * 200, "9" * 5000, "&a [*a]", " 2020-02-30"]


@FUZZ
@given(cuts=st.lists(st.tuples(st.integers(0, len(base_text())), st.sampled_from(SNIPPETS)),
                     min_size=1, max_size=6))
def test_fuzz_spliced_card_text(fuzz_dir, cuts):
    text = base_text()
    for at, snippet in sorted(cuts, reverse=True):
        text = text[:at] + snippet + text[at:]
    total_and_bounded(write(fuzz_dir, "spliced.yaml", text))


# ---- units and the device report ----------------------------------------------------------
@pytest.mark.parametrize("text,fragment", [
    ("-1d", "negative"), ("1e400s", "finite"), ("nan", "cannot parse"), ("inf", "cannot parse"),
    (float("nan"), "finite"), (float("-inf"), "finite"), (-5, "negative"), (10**400, "too large"),
    ("1e301 y", "overflows"), ("x" * 200_000, "too long"), (True, "bool"), (None, "NoneType"),
    ("1 fortnight", "unknown unit"), ("5 s;", "cannot parse"),
])
def test_parse_duration_refuses_non_finite_and_negative(text, fragment):
    from neurocosim.units import parse_duration

    with pytest.raises(ValueError) as err:
        parse_duration(text)
    msg = str(err.value)
    assert fragment in msg and "\n" not in msg and len(msg) < 300, msg


def test_parse_duration_accepts_zero_and_units():
    from neurocosim.units import parse_duration

    assert parse_duration("-0 s") == 0.0 and math.copysign(1, parse_duration(-0.0)) == 1
    assert parse_duration("2 weeks") == 1209600 and parse_duration("1.5 h") == 5400


@pytest.mark.parametrize("value,fragment", [
    ("1e400 S", "finite"), ("1e308 TS", "overflows"), (10**400, "too large"),
    (float("nan"), "finite"), (float("inf"), "finite"), ("5" * 100, "too long"),
])
def test_parse_quantity_refuses_non_finite(value, fragment):
    from neurocosim.units import parse_quantity

    with pytest.raises(ValueError, match=fragment):
        parse_quantity(value, "S")


def test_dict_api_refuses_non_finite_and_huge_numbers():
    from neurocosim.devices import chip_from_dict

    for field, value in (("clock", float("inf")), ("clock", 10**400), ("clock", float("nan"))):
        d = load_chip(PRESET).to_dict()
        d[field] = value
        with pytest.raises(ConfigError, match=f"<dict>: {field}: "):
            chip_from_dict(d, strict_units=False)


def test_device_report_checks_the_budget_before_allocating():
    from neurocosim.devices.report import characterise

    macro = load_chip("pcm-aihwkit").macro
    t = time.perf_counter()
    with pytest.raises(BudgetError, match="1,000,000,000,000 cells at 3 time"):
        characterise(macro, np.random.default_rng(0), n_cells=10**12)
    with pytest.raises(BudgetError, match="--cells"):
        characterise(macro, np.random.default_rng(0), n_cells=10**8, times=[1.0] * 10_000)
    assert time.perf_counter() - t < LIMIT_S
    for kw, fragment in ((dict(n_cells=0), "n_cells"), (dict(times=[-1.0]), "times"),
                         (dict(times=[math.nan]), "times"), (dict(n_cells=2.5), "n_cells")):
        with pytest.raises(ConfigError, match=fragment):
            characterise(macro, np.random.default_rng(0), **kw)
    rep = characterise(macro, np.random.default_rng(0), n_cells=2000, times=[0.0, 3600.0])
    assert set(rep.drift_ratio_measured) == {0.0, 3600.0}
