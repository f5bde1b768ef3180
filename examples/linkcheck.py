"""A concurrent link checker, built on Deferreds running on asyncio.

    python examples/linkcheck.py        # check a small built-in site, and verify
                                        # that exactly its planted faults are found
    python examples/linkcheck.py URL    # check a real site (same host, <= 100 pages)

The built-in site is served from this very process, on 127.0.0.1, by a plain
asyncio server.  The checker fetches a page, and as soon as it has the page's
links, fetches those, and so on: ``gatherResults`` joins the branches, a
``DeferredSemaphore`` keeps at most ``--concurrency`` requests running, and
``Deferred.addTimeout`` on the ``AsyncioClock`` gives each one ``--timeout``
seconds.  The HTTP client is an ordinary ``async def`` over asyncio streams,
run as a Deferred by ``Deferred.fromCoroutine``; ``deferred.react`` runs the
whole program on an asyncio event loop.

Exit status: 0 if the findings are as expected (the built-in site has three
broken links and one page that never answers; a real site should have no
problems), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import urldefrag, urljoin, urlsplit

from deferred import (
    Deferred,
    DeferredSemaphore,
    TimeoutError,
    ensureDeferred,
    gatherResults,
    react,
)
from deferred.clock import AsyncioClock
from deferred.failure import Failure

# -- the built-in site ------------------------------------------------------------

#: Each page of the built-in site and the links on it.
SITE: dict[str, list[str]] = {
    "/": ["/about", "/blog/", "/docs/", "/missing", "https://example.com/"],
    "/about": ["/", "/team", "/old-page"],
    "/team": ["/about"],
    "/blog/": ["first", "second", "/slow", "/"],
    "/blog/first": ["second#comments", "/gone"],
    "/blog/second": ["/blog/", "first"],
    "/docs/": ["api", "/team", "/docs/"],
    "/docs/api": ["/docs/", "/"],
    "/slow": [],  # never answers: see SiteServer.handle
}


class SiteServer:
    """Serves :data:`SITE` over HTTP/1.0 on 127.0.0.1 (a random free port).

    Plain asyncio: the checker does not care who is on the other end.
    """

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        # Set when the server stops; the slow page waits for it.
        self._stopping = asyncio.Event()

    async def start(self) -> str:
        """Start serving; return the site's root URL."""
        self._server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/"

    async def stop(self) -> None:
        """Stop serving, and wait until every connection is closed."""
        assert self._server is not None
        self._server.close()
        # Let the hung request end: a handler task still running at shutdown
        # would be cancelled and logged as an error by asyncio.
        self._stopping.set()
        await asyncio.gather(*self._handlers)
        await self._server.wait_closed()

    async def handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            requestLine = await reader.readline()
            while (await reader.readline()).strip():
                pass  # the headers: not needed here
            path = requestLine.decode("latin-1").split(" ")[1]
            if path == "/slow":
                # A server that accepts the request and then hangs: only the
                # client's timeout gets it out of this.
                await self._stopping.wait()
                return
            writer.write(self._response(path))
            await writer.drain()
        finally:
            writer.close()
            self._handlers.discard(task)

    @staticmethod
    def _response(path: str) -> bytes:
        if path not in SITE:
            return b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\n404"
        links = "".join(f'<li><a href="{link}">{link}</a></li>' for link in SITE[path])
        body = f"<html><title>{path}</title><body><ul>{links}</ul></body></html>"
        head = "HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        return (head + body).encode()


# -- fetching -----------------------------------------------------------------------


@dataclass
class Response:
    status: int
    contentType: str
    body: str


async def httpGet(url: str) -> Response:
    """GET ``url`` over HTTP/1.0 with asyncio streams.

    Plain asyncio code: awaited asyncio futures work the same whether an
    asyncio Task or ``Deferred.fromCoroutine`` drives it.  If the Deferred
    driving it is cancelled, the exception raised at the pending ``await`` is
    ``deferred.CancelledError``; ``finally`` closes the connection.
    """
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=secure)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        # HTTP/1.0 and "Connection: close": the body simply ends at EOF, with
        # no chunked encoding to undo.
        writer.write(
            f"GET {target} HTTP/1.0\r\nHost: {parts.netloc}\r\n"
            "User-Agent: deferred-linkcheck\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    statusLine, *headerLines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(":", 1) for line in headerLines if ":" in line)
    return Response(
        status=int(statusLine.split()[1]),
        contentType=headers.get("content-type", "").strip(),
        body=body.decode("utf-8", "replace"),
    )


class LinkParser(HTMLParser):
    """Collects the ``href`` of every ``<a>`` tag."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links += [value for name, value in attrs if name == "href" and value]


def linksIn(page: Response, base: str) -> list[str]:
    """The absolute URLs an HTML page links to, without #fragments."""
    if not page.contentType.startswith("text/html"):
        return []
    parser = LinkParser()
    parser.feed(page.body)
    return [urldefrag(urljoin(base, link)).url for link in parser.links]


# -- checking -------------------------------------------------------------------------

Outcome = Literal["ok", "broken", "timed out", "error"]
PROBLEMS: tuple[Outcome, ...] = ("broken", "timed out", "error")


@dataclass
class Findings:
    """How many pages were fine, and which (by path) were not."""

    ok: int
    broken: set[str]
    timedOut: set[str]
    error: set[str]


#: What checking the built-in site must find.
EXPECTED = Findings(
    ok=len(SITE) - 1,
    broken={"/missing", "/old-page", "/gone"},
    timedOut={"/slow"},
    error=set(),
)


@dataclass
class Result:
    url: str
    outcome: Outcome
    status: str  # the HTTP status, or "-" without a response
    seconds: float
    links: list[str] = field(default_factory=list)
    error: str = ""  # why there is no response


class LinkChecker:
    """Crawls one site and checks every page it links to."""

    def __init__(
        self,
        clock: AsyncioClock,
        root: str,
        concurrency: int,
        timeout: float,
        maxPages: int = 100,
    ) -> None:
        self.clock = clock
        self.root = root
        self.timeout = timeout
        self.maxPages = maxPages
        self.semaphore = DeferredSemaphore(concurrency)
        #: Where each URL was first seen, for the report.
        self.linkedFrom: dict[str, str] = {root: "(start)"}
        self.external: set[str] = set()
        self.results: list[Result] = []

    async def crawl(self) -> list[Result]:
        """Check every page reachable from the root (up to ``maxPages``)."""
        await self.crawlFrom(self.root)
        return self.results

    async def crawlFrom(self, url: str) -> None:
        """Check ``url``, then, concurrently, every page it leads to first."""
        result = await self.check(url)
        # Claiming a link here, before anything else runs, is what keeps two
        # pages linking to the same URL from both checking it.
        new = [link for link in result.links if self.claim(link, url)]
        # No waiting for a whole "level" of the site: each page's links start
        # as soon as it is parsed, and the semaphore, not this loop, decides
        # how many requests run at once.  check() never fails, so gatherResults
        # waits for every branch.
        await gatherResults([ensureDeferred(self.crawlFrom(link)) for link in new])

    def claim(self, link: str, source: str) -> bool:
        """Whether ``link`` is a page of this site not seen before (and now is)."""
        if not self.onSite(link):
            self.external.add(link)
            return False
        if link in self.linkedFrom or len(self.linkedFrom) >= self.maxPages:
            return False
        self.linkedFrom[link] = source
        return True

    def onSite(self, url: str) -> bool:
        return urlsplit(url).netloc == urlsplit(self.root).netloc

    def check(self, url: str) -> Deferred[Result]:
        """Fetch ``url`` when the semaphore allows; a Deferred of its Result."""
        # The timeout is added inside run(), so that it counts from the moment
        # the request starts, not while it waits for a free slot.
        d = self.semaphore.run(self.fetch, url)
        return d.addCallback(self.report)

    def fetch(self, url: str) -> Deferred[Result]:
        started = self.clock.seconds()

        def classify(response: Response) -> Result:
            outcome: Outcome = "ok" if response.status < 400 else "broken"
            links = linksIn(response, url) if outcome == "ok" else []
            took = self.clock.seconds() - started
            return Result(url, outcome, str(response.status), took, links)

        def explain(failure: Failure) -> Result:
            # A page that cannot be fetched is a finding, not a crash: the
            # crawl goes on.  (An exception raised by classify() does not come
            # here -- addCallbacks puts both at the same point of the chain --
            # so a bug in it stops the program, loudly.)
            took = self.clock.seconds() - started
            if failure.check(TimeoutError):
                return Result(url, "timed out", "-", took)
            error = f"{failure.type.__name__}: {failure.getErrorMessage()}"
            return Result(url, "error", "-", took, error=error)

        d = Deferred.fromCoroutine(httpGet(url))
        d.addTimeout(self.timeout, self.clock)
        return d.addCallbacks(classify, explain)

    def report(self, result: Result) -> Result:
        """Record ``result`` and print a progress line for it."""
        self.results.append(result)
        stats = self.semaphore.statistics()
        print(
            f"[{len(self.results):3}] {result.outcome:9} {result.status:3}"
            f"  {self.short(result.url):24} {result.seconds * 1000:5.0f} ms"
            f"   ({stats.limit - stats.tokens} running, {stats.waiting} waiting)"
        )
        return result

    def short(self, url: str) -> str:
        """``url`` without the site's address, for the report."""
        return (urlsplit(url).path or "/") if self.onSite(url) else url

    def found(self, outcome: Outcome) -> set[str]:
        """The pages (short URLs) checked with ``outcome``."""
        return {self.short(r.url) for r in self.results if r.outcome == outcome}

    def findings(self) -> Findings:
        return Findings(
            ok=len(self.found("ok")),
            broken=self.found("broken"),
            timedOut=self.found("timed out"),
            error=self.found("error"),
        )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def printSummary(checker: LinkChecker, seconds: float) -> None:
    print(
        f"\nChecked {plural(len(checker.results), 'page')} in {seconds:.2f} s"
        f" (at most {checker.semaphore.limit} at a time, {checker.timeout} s each):"
    )
    print(f"  {'ok':10} {len(checker.found('ok'))}")
    for outcome in PROBLEMS:
        print(f"  {outcome:10} {len(checker.found(outcome))}")
        for result in checker.results:
            if result.outcome == outcome:
                source = checker.short(checker.linkedFrom[result.url])
                print(f"      {checker.short(result.url)}, linked from {source}")
                if result.error:
                    print(f"        {result.error}")
    print(f"  {'external':10} {plural(len(checker.external), 'link')}, not followed")


def verdict(checker: LinkChecker, builtIn: bool) -> int:
    """The exit status: 0 if we found what we should have, else 1."""
    findings = checker.findings()
    if not builtIn:
        # A real site should have no problems at all.
        bad = len(findings.broken | findings.timedOut | findings.error)
        print(f"\n{plural(bad, 'problem')} found.")
        return 1 if bad else 0
    if findings != EXPECTED:
        print(f"\nUNEXPECTED: {findings}\nexpected:   {EXPECTED}", file=sys.stderr)
        return 1
    print("\nFound exactly the faults planted in the built-in site.")
    return 0


# -- the program ---------------------------------------------------------------------


async def main(
    clock: AsyncioClock, url: str | None, concurrency: int, timeout: float
) -> int:
    """Check ``url``, or the built-in site; return the exit status."""
    server = None
    if url is None:
        server = SiteServer()
        url = await server.start()
    try:
        print(f"Checking {url}\n")
        checker = LinkChecker(clock, url, concurrency, timeout)
        started = clock.seconds()
        await checker.crawl()
        printSummary(checker, clock.seconds() - started)
    finally:
        if server is not None:
            await server.stop()
    return verdict(checker, builtIn=server is not None)


def parseArguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", help="a site to check (default: built-in)")
    parser.add_argument("--concurrency", type=int, default=3, metavar="N")
    parser.add_argument("--timeout", type=float, default=0.5, metavar="SECONDS")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parseArguments(sys.argv[1:])
    # react() runs main(clock, ...) on a fresh asyncio loop until its Deferred
    # (here: its coroutine) is done, and returns the result.
    sys.exit(react(main, args.url, args.concurrency, args.timeout))
