"""The one error type the lab raises: what went wrong, and what to do about it."""

__all__ = ["LabError", "StackError"]


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
