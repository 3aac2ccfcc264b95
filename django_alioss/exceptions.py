"""The library's exceptions.

Every failure OSS reports becomes an :class:`OSSError` carrying the HTTP status, the
OSS error code and the request id (quote it to Alibaba Cloud support). Two of them
also behave like the built-in errors Django code already handles:

- ``NoSuchKey`` -> :class:`OSSFileNotFound`, a ``FileNotFoundError``;
- ``FileAlreadyExists`` -> :class:`OSSFileExists`, a ``FileExistsError``;
- ``AccessDenied`` -> :class:`OSSAccessDenied`, a ``PermissionError`` that names the
  action the credentials lack when OSS says so (``auth_action``).

Messages never contain secrets: not the AccessKey secret, not a security token, not
an OIDC token.
"""

from __future__ import annotations


class OSSError(Exception):
    """An OSS request failed. ``status`` is -2 for network errors (no HTTP answer).

    ``attempts`` is how many times the request was sent (more than one after retries).
    ``hint`` is the fix in one line (also at the end of the message, after ``->``),
    empty when there is no known fix; :attr:`summary` is the message without it.
    """

    def __init__(self, message: str, *, status: int = 0, code: str = "", request_id: str = "",
                 operation: str = "", key: str = "", auth_action: str = "",
                 hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status
        self.code = code
        self.request_id = request_id
        self.operation = operation
        self.key = key
        self.auth_action = auth_action
        self.attempts = 1

    def __str__(self) -> str:
        return self.message

    @property
    def summary(self) -> str:
        """The message without its hint: what failed."""
        return self.message.removesuffix(f" -> {self.hint}") if self.hint else self.message

    def __reduce__(self):  # keep attributes through pickling (e.g. across processes)
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[OSSError], message: str, state: dict) -> OSSError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class OSSFileNotFound(OSSError, FileNotFoundError):
    """The object does not exist (OSS ``NoSuchKey``)."""


class OSSFileExists(OSSError, FileExistsError):
    """The name is taken and the write asked not to overwrite (OSS ``FileAlreadyExists``)."""


class OSSAccessDenied(OSSError, PermissionError):
    """OSS refused the request (``AccessDenied`` and other 403 answers)."""


class InvalidObjectName(ValueError):
    """A name OSS would reject (empty, longer than 1023 bytes, NUL, leading ``/`` or ``\\``).

    Raised before any request is sent.
    """
