"""Exceptions shared by the Deferred core and the modules built on it."""

from __future__ import annotations

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


class TimeoutError(Exception):
    """The default failure of a Deferred that timed out (``addTimeout``)."""
