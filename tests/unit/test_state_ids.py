"""Job ids, attempt keys, the Slurm comment that carries a key, and the state sets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperion.state.ids import (
    CROCKFORD,
    KEY_COMMENT_PREFIX,
    attempt_key,
    comment_with_key,
    is_job_id,
    key_from_comment,
    new_job_id,
    parse_attempt_key,
    parse_job_id,
    split_comment,
)
from hyperion.state.models import (
    FINAL_ATTEMPT_STATES,
    LIVE_ATTEMPT_STATES,
    AttemptState,
    HyperionJobState,
)

job_ids = st.text(alphabet=CROCKFORD, min_size=6, max_size=6).map(lambda s: "h" + s)
seqs = st.integers(min_value=1, max_value=10**9 - 1)
keys = st.builds(attempt_key, job_ids, seqs)


def test_crockford_alphabet_is_readable() -> None:
    assert len(CROCKFORD) == len(set(CROCKFORD)) == 32
    assert not set("ilou") & set(CROCKFORD)


def test_new_ids_are_readable_and_distinct() -> None:
    ids = [new_job_id() for _ in range(300)]
    assert len(set(ids)) == len(ids)  # 300 of ~1e9: a repeat would be a broken generator
    for i in ids:
        assert len(i) == 7 and i[0] == "h" and set(i[1:]) <= set(CROCKFORD)
        assert is_job_id(i) and parse_job_id(i) == i
    # every character position uses the whole alphabet, not a fixed pattern
    assert all(len({i[p] for i in ids}) > 16 for p in range(1, 7))


@given(job_ids, st.lists(st.booleans(), min_size=7, max_size=7))
def test_parse_job_id_forgives_case_and_confusables(job_id: str, upper: list[bool]) -> None:
    typed = "".join(c.upper() if u else c for c, u in zip(job_id, upper, strict=True))
    assert parse_job_id(f" {typed} ") == job_id
    looks_alike = job_id[0] + job_id[1:].replace("1", "l").replace("0", "O")
    assert parse_job_id(looks_alike) == job_id


@pytest.mark.parametrize("bad", ["", "h", "h12345", "h1234567", "x123456", "h12345u", "h12 345"])
def test_parse_job_id_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Hyperion job id"):
        parse_job_id(bad)


@given(job_ids, seqs)
def test_attempt_keys_round_trip(job_id: str, seq: int) -> None:
    key = attempt_key(job_id, seq)
    assert key == f"{job_id}.{seq}"
    assert parse_attempt_key(key) == (job_id, seq)


@pytest.mark.parametrize(
    "bad", ["h123456", "h123456.", "h123456.0", "h123456.01", "h123456.-1", "H123456.1", "h1.1"]
)
def test_parse_attempt_key_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_attempt_key(bad)


def test_attempt_key_refuses_bad_parts() -> None:
    with pytest.raises(ValueError):
        attempt_key("job1", 1)
    with pytest.raises(ValueError):
        attempt_key("h123456", 0)


@given(keys, st.text())
def test_comment_round_trips_any_user_comment(key: str, user: str) -> None:
    comment = comment_with_key(key, user)
    assert comment.startswith(KEY_COMMENT_PREFIX + key)
    assert split_comment(comment) == (key, user or None)
    assert key_from_comment(comment) == key


@pytest.mark.parametrize(
    "user",
    [
        "hyperion:h000000.1",  # a user pretending to be another attempt
        "hyperion:",
        " hyperion:h000000.1 ",
        "a\nhyperion:h000000.1",
        "\x00\t\r\n",
        "  leading spaces",
        "ünïcødé ☕ \"q\" 'q' $(rm -rf /) `x` ;|&",
    ],
)
def test_hostile_user_comments_never_change_the_key(user: str) -> None:
    comment = comment_with_key("habcdef.3", user)
    assert split_comment(comment) == ("habcdef.3", user)


@given(st.text())
def test_comments_hyperion_did_not_write_have_no_key(text: str) -> None:
    if not text.startswith(KEY_COMMENT_PREFIX):
        assert split_comment(text) == (None, text or None)


@pytest.mark.parametrize(
    "comment",
    [
        None,
        "",
        "hyperion:",
        "hyperion: habcdef.1",
        "hyperion:habcdef.1x",
        "hyperion:habcdef.1\textra",
        "Hyperion:habcdef.1",
        "xhyperion:habcdef.1",
        "my job hyperion:habcdef.1",
    ],
)
def test_key_from_comment_needs_a_well_formed_prefix(comment: str | None) -> None:
    assert key_from_comment(comment) is None


def test_comment_without_user_part() -> None:
    assert comment_with_key("habcdef.1") == "hyperion:habcdef.1"
    assert comment_with_key("habcdef.1", "") == "hyperion:habcdef.1"
    assert split_comment("hyperion:habcdef.1") == ("habcdef.1", None)
    with pytest.raises(ValueError):
        comment_with_key("habcdef.1 evil")


def test_every_attempt_state_is_live_or_final() -> None:
    assert LIVE_ATTEMPT_STATES | FINAL_ATTEMPT_STATES == set(AttemptState)
    assert not LIVE_ATTEMPT_STATES & FINAL_ATTEMPT_STATES
    assert {s.value for s in LIVE_ATTEMPT_STATES} == {
        "SUBMITTED", "PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "REQUEUED", "PREEMPTED",
        "UNKNOWN", "INTENT", "CANCELLING",
    }  # fmt: skip
    assert AttemptState.RUNNING.is_live and not AttemptState.RUNNING.is_final
    assert AttemptState.ABANDONED.is_final and AttemptState.TIMEOUT.is_final


def test_job_states_are_attempt_states_plus_queued_and_rejected() -> None:
    assert {s.value for s in HyperionJobState} == {s.value for s in AttemptState} | {
        "QUEUED",
        "REJECTED",
    }
    assert HyperionJobState.QUEUED.is_live and HyperionJobState.REJECTED.is_final
    assert HyperionJobState.COMPLETED.is_final and HyperionJobState.INTENT.is_live
