"""Errors a user can act on: printed as one line, never as a traceback."""


class UserError(Exception):
    """Bad input or environment. The message says what is wrong and what to do."""

    exit_code = 2


class VerificationError(UserError):
    """An exported artifact does not compute what the source network computes."""

    exit_code = 1
