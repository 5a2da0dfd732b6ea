"""Errors that name the shard a failure belongs to."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import DatabaseError

# Servers are named ``vision_<name>`` (sql.SERVER_PREFIX): the settings' shards and any
# added with ``shards add-server``.
_SERVER_IN_MESSAGE = re.compile(r'server "vision_([a-z][a-z0-9_]*)"')


class ShardUnavailableError(Exception):
    """A shard server could not be reached; only tasks stored on it are affected."""

    def __init__(self, shard: str, detail: str) -> None:
        self.shard = shard
        self.detail = detail
        super().__init__(f"Shard {shard} is unavailable: {detail}")


def shard_named_in(error: BaseException) -> str | None:
    match = _SERVER_IN_MESSAGE.search(str(error))
    return match.group(1) if match else None


@contextmanager
def shard_errors(
    default_shard: str | Callable[[], str | None] | None = None,
) -> Iterator[None]:
    """Turn a postgres_fdw connection failure into :class:`ShardUnavailableError`.

    The shard is the one PostgreSQL names in its message, else ``default_shard`` (the
    shard the caller's task lives on; a callable is only asked once a failure needs
    it, keeping the lookup off the hot path). Other database errors pass through.
    """
    try:
        yield
    except DatabaseError as error:
        if not _is_connection_failure(error):
            raise
        shard = shard_named_in(error)
        if shard is None:
            shard = default_shard() if callable(default_shard) else default_shard
        if shard is None:
            raise
        raise ShardUnavailableError(shard, first_line(error)) from error


def first_line(error: BaseException) -> str:
    """The first line of a database error: PostgreSQL's message without its detail."""
    text = str(error).strip()
    return text.splitlines()[0] if text else repr(error)


def _is_connection_failure(error: DatabaseError) -> bool:
    # SQLSTATE class 08: connection exceptions, which postgres_fdw raises when it
    # cannot reach (or loses) a shard server.
    sqlstate = getattr(error.__cause__, "sqlstate", None) or ""
    return sqlstate.startswith("08")
