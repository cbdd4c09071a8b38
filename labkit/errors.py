"""The errors the lab raises: what went wrong, and what to do about it.

Pure (no I/O, no third-party imports): the per-message core raises and
catches these, and every layer above may.
"""

from __future__ import annotations

__all__ = ["DecodeError", "LabError", "ServiceUnavailable", "StackError"]


class LabError(Exception):
    """A failure a lab user can act on.

    `cause` says what went wrong in one sentence; `fix` says what to run or
    change. The CLI prints both instead of a traceback.
    """

    def __init__(self, cause: str, fix: str = "") -> None:
        self.cause = cause
        self.fix = fix
        super().__init__(f"{cause}\nFix: {fix}" if fix else cause)


class StackError(LabError):
    """A service of the embedded stack could not be started, reached or stopped."""


class ServiceUnavailable(LabError):
    """A service did not answer (refused, timed out, or an error on its side).

    Transient by nature: an engine retries it for a while (a restarting registry
    or Redis comes back), where a `DecodeError` is final for that message.
    """


class DecodeError(LabError):
    """Bytes that a decoder cannot turn into a record: final for that message."""

    def __init__(self, reason: str, value: bytes, fix: str, *, where: str = "") -> None:
        self.reason = reason
        self.value = value
        self.head_hex = value[:16].hex(" ") + (" …" if len(value) > 16 else "")
        self.where = where
        place = f" at {where}" if where else ""
        super().__init__(f"cannot decode message{place}: {reason} "
                         f"(first bytes: {self.head_hex or 'none'})", fix)

    def at(self, topic: str, partition: int, offset: int) -> DecodeError:
        """The same error, located at topic/partition/offset."""
        return DecodeError(self.reason, self.value, self.fix,
                           where=f"{topic}[{partition}]@{offset}")
