"""Exceptions shared by the Deferred core and the modules built on it."""

from __future__ import annotations

import builtins

__all__ = ["AlreadyCalledError", "CancelledError", "TimeoutError"]


class AlreadyCalledError(Exception):
    """A Deferred was fired (``callback``/``errback``) a second time.

    With debugging on (:func:`deferred.setDebugging`) the message carries the
    stacks that created the Deferred and fired it first.
    """


class CancelledError(Exception):
    """The default failure of a Deferred whose ``cancel()`` was called.

    Unlike :class:`asyncio.CancelledError` this is an ``Exception``, as in
    Twisted; the asyncio bridge translates between the two.
    """


class TimeoutError(builtins.TimeoutError):
    """The default failure of a Deferred that timed out (``addTimeout``).

    A subclass of the builtin ``TimeoutError`` (so an ``Exception``), so that
    ``except TimeoutError`` catches ours and asyncio's alike (on Python 3.11+,
    ``asyncio.TimeoutError`` is the builtin one).  It reads as Twisted's:
    its arguments are kept as given, not taken for an ``OSError``'s errno and
    message.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        # Not an OS error: no errno or message taken from the arguments.
        self.errno = self.strerror = None

    __str__ = BaseException.__str__
