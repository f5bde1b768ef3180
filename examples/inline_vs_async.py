"""One small task written three ways: callbacks, ``inlineCallbacks``, ``async def``.

    python examples/inline_vs_async.py

The task: look a user up, then fetch their posts, and describe both -- or say
that there is no such user.  Both lookups are slow (they answer later, on the
clock), so each step waits for a Deferred.  All three versions give the same
answers; the program checks that they do.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from deferred import Deferred, ensureDeferred, gatherResults, inlineCallbacks, react
from deferred.clock import AsyncioClock, Scheduler
from deferred.failure import Failure

T = TypeVar("T")

# -- a slow "database" ----------------------------------------------------------

USERS = {1: "alice", 2: "bob"}
POSTS = {"alice": ["Deferreds explained", "Hello, world"], "bob": []}


def later(clock: Scheduler, seconds: float, f: Callable[[], T]) -> Deferred[T]:
    """A Deferred of ``f()``'s result -- or its exception -- ``seconds`` from now."""
    d: Deferred[T] = Deferred()

    def fire() -> None:
        try:
            result = f()
        except Exception:
            d.errback()  # with no argument: the exception being handled
        else:
            d.callback(result)

    clock.callLater(seconds, fire)
    return d


def getUser(clock: Scheduler, userId: int) -> Deferred[str]:
    """The user's name, 50 ms from now; fails with KeyError if unknown."""
    return later(clock, 0.05, lambda: USERS[userId])


def getPosts(clock: Scheduler, name: str) -> Deferred[list[str]]:
    """The titles of the user's posts, 50 ms from now."""
    return later(clock, 0.05, lambda: POSTS[name])


def describe(name: str, posts: list[str]) -> str:
    return f"{name} wrote {len(posts)} post(s): {', '.join(posts) or '-'}"


# -- 1. callbacks: each step is a function, attached to the previous Deferred --------


def withCallbacks(clock: Scheduler, userId: int) -> Deferred[str]:
    def gotUser(name: str) -> Deferred[str]:
        # Returning a Deferred from a callback makes the chain wait for it.
        return getPosts(clock, name).addCallback(lambda posts: describe(name, posts))

    def noUser(failure: Failure) -> str:
        failure.trap(KeyError)  # anything else goes on down the chain
        return f"no user {userId}"

    # addCallbacks, not addCallback + addErrback: noUser handles getUser's
    # failure only, like the try/except blocks below.
    return getUser(clock, userId).addCallbacks(gotUser, noUser)


# -- 2. inlineCallbacks: a generator that yields Deferreds ---------------------------


@inlineCallbacks
def withInlineCallbacks(
    clock: Scheduler, userId: int
) -> Generator[Deferred[Any], Any, str]:
    try:
        name = yield getUser(clock, userId)  # the result, or the failure raised
    except KeyError:
        return f"no user {userId}"
    posts = yield getPosts(clock, name)
    # Code written for older Twisted ends with returnValue(...) instead of a
    # return; that works too.
    return describe(name, posts)


# -- 3. async def: the same, with await; ensureDeferred makes it a Deferred ---------


async def withAsync(clock: Scheduler, userId: int) -> str:
    try:
        name = await getUser(clock, userId)  # a type checker knows: str
    except KeyError:
        return f"no user {userId}"
    posts = await getPosts(clock, name)
    return describe(name, posts)


def withAsyncAsDeferred(clock: Scheduler, userId: int) -> Deferred[str]:
    return ensureDeferred(withAsync(clock, userId))


# -- running all three ------------------------------------------------------------

STYLES: dict[str, Callable[[Scheduler, int], Deferred[str]]] = {
    "callbacks": withCallbacks,
    "inlineCallbacks": withInlineCallbacks,
    "async def": withAsyncAsDeferred,
}


async def main(clock: AsyncioClock) -> int:
    answers: dict[str, list[str]] = {}
    for style, function in STYLES.items():
        started = clock.seconds()
        # The three users are looked up concurrently, so this takes about
        # 100 ms (two lookups in a row), not 300.
        answers[style] = await gatherResults([function(clock, i) for i in (1, 2, 3)])
        print(f"{style} ({clock.seconds() - started:.2f} s):")
        for answer in answers[style]:
            print(f"    {answer}")
    if len({tuple(answer) for answer in answers.values()}) != 1:
        print("The three styles disagree!", file=sys.stderr)
        return 1
    print("All three styles agree.")
    return 0


if __name__ == "__main__":
    sys.exit(react(main))
