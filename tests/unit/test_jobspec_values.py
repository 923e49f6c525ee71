"""Value parsers: Slurm time, memory, node counts, GRES and GPU specifications."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperion.jobspec import (
    GresItem,
    format_time,
    parse_gpus,
    parse_gres,
    parse_memory,
    parse_nodes,
    parse_time,
    parse_time_limit,
)
from hyperion.jobspec.values import check_value, seconds_to_minutes


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30 * 60),
        ("0", 0),
        ("5:30", 5 * 60 + 30),
        ("1:30:00", 5400),
        ("2-0", 2 * 86400),
        ("2-3", 2 * 86400 + 3 * 3600),
        ("2-3:04", 2 * 86400 + 3 * 3600 + 4 * 60),
        ("2-3:04:05", 2 * 86400 + 3 * 3600 + 4 * 60 + 5),
        ("1:99:99", 3600 + 99 * 60 + 99),  # Slurm does not range-check fields
        ("UNLIMITED", None),
        ("infinite", None),
        ("-1", None),
    ],
)
def test_parse_time(text: str, seconds: int | None) -> None:
    assert parse_time(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "1:99:99:99x", "1:2:3:4", "abc", "1-", "-5", "1.5", "1:", "1--2", " 5"]
)
def test_parse_time_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="minutes:seconds"):
        parse_time(text)


def test_time_limit_zero_means_unlimited() -> None:
    assert parse_time_limit("0") is None
    assert parse_time_limit("UNLIMITED") is None
    assert parse_time_limit("1") == 60


def test_minutes_round_up_like_slurm() -> None:
    assert seconds_to_minutes(1) == 1
    assert seconds_to_minutes(60) == 1
    assert seconds_to_minutes(61) == 2


@given(st.integers(min_value=0, max_value=10**9))
def test_time_round_trip(seconds: int) -> None:
    assert parse_time(format_time(seconds)) == seconds


@given(st.integers(0, 10**4), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_day_formats_agree(d: int, h: int, m: int, s: int) -> None:
    total = ((d * 24 + h) * 60 + m) * 60 + s
    assert parse_time(f"{d}-{h}:{m}:{s}") == total
    assert parse_time(f"{d * 24 + h}:{m}:{s}") == total
    assert parse_time(f"{(d * 24 + h) * 60 + m}:{s}") == total


@pytest.mark.parametrize(
    ("text", "mib"),
    [
        ("4000", 4000),
        ("0", 0),
        ("1K", 1),
        ("1025k", 2),
        ("512M", 512),
        ("16G", 16384),
        ("16gb", 16384),
        ("2T", 2 * 1024 * 1024),
    ],
)
def test_parse_memory(text: str, mib: int) -> None:
    assert parse_memory(text) == mib


@pytest.mark.parametrize("text", ["12XB", "1.5G", "-1", "G", "", "16GiB", "4 G", "16GBB"])
def test_parse_memory_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="MiB"):
        parse_memory(text)


@given(st.integers(0, 10**6), st.sampled_from(["", "M", "G", "T", "m", "g"]))
def test_memory_units(n: int, unit: str) -> None:
    factor = {"": 1, "M": 1, "G": 1024, "T": 1024**2}[unit.upper()]
    assert parse_memory(f"{n}{unit}") == n * factor


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2", (2, None)), ("2-4", (2, 4)), ("1k", (1024, None)), ("3-3", (3, 3))],
)
def test_parse_nodes(text: str, expected: tuple[int, int | None]) -> None:
    assert parse_nodes(text) == expected


@pytest.mark.parametrize("text", ["abc", "4-2", "", "1-", "2,4", "-3"])
def test_parse_nodes_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="node"):
        parse_nodes(text)


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("gpu", (GresItem("gpu", None, 1),)),
        ("gpu:2", (GresItem("gpu", None, 2),)),
        ("gpu:a100:2", (GresItem("gpu", "a100", 2),)),
        ("gpu:a100", (GresItem("gpu", "a100", 1),)),
        ("gres:gpu:3", (GresItem("gpu", None, 3),)),
        ("gpu:1,nvme:2", (GresItem("gpu", None, 1), GresItem("nvme", None, 2))),
        ("none", ()),
    ],
)
def test_parse_gres(text: str, items: tuple[GresItem, ...]) -> None:
    assert parse_gres(text) == items


@pytest.mark.parametrize("text", ["gpu:a100:2:3", "", "gpu:a100:x", ":2", "gpu,,nvme"])
def test_parse_gres_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="name"):
        parse_gres(text)


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("2", (GresItem("gpu", None, 2),)),
        ("a100:2", (GresItem("gpu", "a100", 2),)),
        ("a100:1,v100:2", (GresItem("gpu", "a100", 1), GresItem("gpu", "v100", 2))),
    ],
)
def test_parse_gpus(text: str, items: tuple[GresItem, ...]) -> None:
    assert parse_gpus(text) == items


@pytest.mark.parametrize("text", ["a100", "", "a100:", "two"])
def test_parse_gpus_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="count"):
        parse_gpus(text)


@pytest.mark.parametrize(
    ("type_name", "good", "bad"),
    [
        ("count", "4", "0"),
        ("uint", "0", "-1"),
        ("array", "0-15:4%2", "0-"),
        ("mail_type", "BEGIN,end,TIME_LIMIT_90", "BEGIN,LUNCH"),
        ("signal", "B:USR1@300", "B:USR1@soon"),
        ("switches", "2@1:00:00", "two"),
        ("nice", "-20", "5x"),
        ("priority", "TOP", "-1"),
        ("get_user_env", "10L", "10X"),
        ("open_mode", "append", "x"),
        ("exclusive", "user", "nobody"),
        ("yes_no", "YES", "maybe"),
        ("zero_one", "1", "2"),
        ("gres_flags", "enforce-binding", "bind"),
        ("no_kill", "off", "on"),
    ],
)
def test_check_value(type_name: str, good: str, bad: str) -> None:
    check_value(type_name, good)
    with pytest.raises(ValueError, match="expected"):
        check_value(type_name, bad)


@pytest.mark.parametrize("text", ["a\nb", "a\rb", "a\x00b", "a\x1bb"])
def test_control_characters_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="control character"):
        check_value("string", text)


def test_tab_and_wrap_newlines_are_allowed() -> None:
    check_value("string", "a\tb")
    check_value("command", "echo a\necho b")


@pytest.mark.parametrize(
    ("type_name", "text"),
    [("count", "١"), ("nodes", "٢"), ("memory", "٣G"), ("time", "٥"), ("uint", "²")],
)
def test_non_ascii_digits_are_refused_like_strtol(type_name: str, text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        check_value(type_name, text)
