"""Job ids, attempt keys and the Slurm job comment that carries a key.

A job id is ``h`` followed by 6 Crockford base32 characters (lower case; no i, l, o, u), drawn
with :mod:`secrets`: about 10^9 ids, so :func:`hyperion.state.repo.create_job` still checks for a
collision. An attempt key is ``<job id>.<seq>``; Hyperion puts ``hyperion:<key>`` at the start of
the Slurm job's comment, followed by one space and the user's own comment, if any.
"""

from __future__ import annotations

import re
import secrets

#: Crockford's base32 alphabet (no I, L, O, U), written in lower case.
CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
JOB_ID_PREFIX = "h"
JOB_ID_CHARS = 6
KEY_COMMENT_PREFIX = "hyperion:"

_JOB_ID = re.compile(rf"{JOB_ID_PREFIX}[{CROCKFORD}]{{{JOB_ID_CHARS}}}")
_KEY = re.compile(rf"({_JOB_ID.pattern})\.([1-9][0-9]{{0,8}})")
#: what people type by mistake, read as Crockford says: i and l are 1, o is 0
_CONFUSABLE = str.maketrans({"i": "1", "l": "1", "o": "0"})


def new_job_id() -> str:
    """A fresh random job id such as ``h3kx9qa``."""
    return JOB_ID_PREFIX + "".join(secrets.choice(CROCKFORD) for _ in range(JOB_ID_CHARS))


def is_job_id(text: str) -> bool:
    """True when ``text`` is a job id in its canonical form."""
    return _JOB_ID.fullmatch(text) is not None


def parse_job_id(text: str) -> str:
    """The canonical job id for what a person typed (any case; i, l read as 1 and o as 0).

    Raises :class:`ValueError` naming the input when it is not a job id.
    """
    s = text.strip().lower()
    canonical = s[:1] + s[1:].translate(_CONFUSABLE)
    if not is_job_id(canonical):
        raise ValueError(
            f"{text!r} is not a Hyperion job id: expected 'h' and {JOB_ID_CHARS} characters "
            f"of {CROCKFORD!r}, e.g. 'h3kx9qa'"
        )
    return canonical


def attempt_key(job_id: str, seq: int) -> str:
    """The unique key of attempt ``seq`` (1, 2, ...) of ``job_id``: ``<job id>.<seq>``."""
    if not is_job_id(job_id):
        raise ValueError(f"{job_id!r} is not a Hyperion job id")
    if not 1 <= seq < 10**9:
        raise ValueError(f"attempt seq must be 1 or more, not {seq}")
    return f"{job_id}.{seq}"


def parse_attempt_key(key: str) -> tuple[str, int]:
    """``(job id, seq)`` of an attempt key; :class:`ValueError` when it is not one."""
    m = _KEY.fullmatch(key)
    if m is None:
        raise ValueError(f"{key!r} is not a Hyperion attempt key (<job id>.<seq>, e.g. h3kx9qa.1)")
    return m.group(1), int(m.group(2))


def is_attempt_key(key: str) -> bool:
    """True when ``key`` is an attempt key in its canonical form."""
    return _KEY.fullmatch(key) is not None


def comment_with_key(key: str, user_comment: str | None = None) -> str:
    """The Slurm job comment for attempt ``key``: ``hyperion:<key>`` then `` <user comment>``."""
    if not is_attempt_key(key):
        raise ValueError(f"{key!r} is not a Hyperion attempt key")
    head = KEY_COMMENT_PREFIX + key
    return f"{head} {user_comment}" if user_comment else head


def split_comment(comment: str | None) -> tuple[str | None, str | None]:
    """``(key, user comment)`` of a Slurm job comment; key None when Hyperion did not write it.

    Only a well-formed key at the very start counts, so text a user wrote elsewhere in a
    comment is never read as a key. Without a key the whole comment is the user's.
    """
    if not comment:
        return None, None
    if comment.startswith(KEY_COMMENT_PREFIX):
        head, sep, rest = comment[len(KEY_COMMENT_PREFIX) :].partition(" ")
        if is_attempt_key(head):
            return head, (rest if sep and rest else None)
    return None, comment


def key_from_comment(comment: str | None) -> str | None:
    """The attempt key at the start of a Slurm job comment, or None."""
    return split_comment(comment)[0]
