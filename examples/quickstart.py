"""A first taste of deferred: callbacks, errbacks, chaining and a timeout.

Run it with ``python examples/quickstart.py``.
"""

from __future__ import annotations

from deferred import Deferred, succeed
from deferred.clock import Clock
from deferred.failure import Failure


def main() -> None:
    # A Deferred is a result that is not there yet; callbacks wait for it.
    greeting: Deferred[str] = Deferred()
    greeting.addCallback(str.upper).addCallback(print)
    greeting.callback("hello from a deferred")  # the callbacks run now

    # An exception in a callback goes to the next errback, which may recover.
    def divide(n: int) -> float:
        return 1 / n

    def recover(failure: Failure) -> float:
        failure.trap(ZeroDivisionError)
        print("recovered from:", failure.getErrorMessage())
        return 0.0

    succeed(0).addCallback(divide).addErrback(recover).addCallback(print)

    # A callback that returns a Deferred pauses the chain until it fires.
    inner: Deferred[int] = Deferred()
    outer = succeed(20).addCallback(lambda n: inner.addCallback(lambda m: n + m))
    outer.addCallback(lambda total: print("chained total:", total))
    inner.callback(22)

    # Timeouts are driven by a clock; this one is manual, so it is instant.
    clock = Clock()
    slow: Deferred[str] = Deferred()
    slow.addTimeout(5, clock)
    slow.addErrback(lambda f: print("timed out:", f.type.__name__))
    clock.advance(5)


if __name__ == "__main__":
    main()
