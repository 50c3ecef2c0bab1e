"""What every hosted backend shares: retries, polling, safe downloads and inline images.

Hosted services throttle (HTTP 429, DashScope's ``Throttling*`` codes), have bad minutes (5xx,
timeouts, dropped connections) and hand results back as URLs that expire. Throttling is retried
with exponential backoff and jitter, honouring the service's ``Retry-After``; server failures
get a few tries; then a ProviderError stops the run with what to do, and the run stays
resumable. Downloads accept only https URLs or URLs on the configured service host, stop at a
size cap and a time limit, and land atomically. Local images travel as ``data:`` URIs: an SDK
given a local path would upload the file somewhere else first.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import mimetypes
import random
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from director.errors import GenerationFailed, InputError, ProviderError
from director.files import atomic_file

T = TypeVar("T")
CHUNK = 64 * 1024
MAX_REDIRECTS = 3
RESUMES = 3  # a body cut short is fetched on from where it broke off, this many times
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Retries:
    """How hard to try again. Tests shorten ``base_delay``; users rarely change anything."""

    throttled: int = 8  # tries in all while the service says "slow down"
    failed: int = 4  # tries in all after 5xx answers, timeouts and dropped connections
    base_delay: float = 1.0  # seconds before the second try; doubles per try
    max_delay: float = 60.0
    max_retry_after: float = 300.0  # a longer Retry-After means a spent quota: stop, resume later

    def backoff(self, attempt: int) -> float:
        """Seconds before try ``attempt + 1``: exponential, with jitter so that concurrent
        workers throttled together do not come back together."""
        ceiling = min(self.max_delay, self.base_delay * 2**attempt)
        return ceiling * random.uniform(0.5, 1.0)


class Transient(Exception):
    """A failure that another try may fix; raised by a backend's call inside ``retrying``."""

    def __init__(self, message: str, *, throttled: bool, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.throttled = throttled
        self.retry_after = retry_after


def is_throttled(status: int, code: str | None) -> bool:
    return status == 429 or (code or "").startswith("Throttling")


def transient(
    status: int, code: str | None, message: str, headers: Mapping[str, str] | None = None
) -> Transient | None:
    """The Transient to raise for an HTTP answer, or None when another try will not help."""
    if is_throttled(status, code):
        return Transient(message, throttled=True, retry_after=retry_after(headers or {}))
    if status >= 500 or status == 408:
        return Transient(message, throttled=False)
    return None


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), if there is one."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def retrying(
    call: Callable[[], T],
    *,
    retries: Retries,
    what: str,
    redact: Callable[[str], str] = str,
    network_errors: tuple[type[BaseException], ...] = (OSError,),
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[str, float], None] | None = None,
) -> T:
    """``call()``, tried again on Transient and network errors; ProviderError when tries run out.

    ``what`` names the call in messages ("DashScope task submission"). ``on_retry`` hears the
    reason and the delay of every retry, for the run's log.
    """
    throttled = failed = 0
    while True:
        try:
            return call()
        except Transient as exc:
            error = exc
        except network_errors as exc:
            error = Transient(f"{type(exc).__name__}: {exc}", throttled=False)
        if error.throttled:
            throttled += 1
            delay = _throttle_delay(error, throttled, retries, what, redact)
        else:
            failed += 1
            if failed >= retries.failed:
                raise _gave_up(what, failed, error, redact, throttled=False)
            delay = retries.backoff(failed - 1)
        if on_retry is not None:
            on_retry(redact(error.message), delay)
        sleep(delay)


def _throttle_delay(
    error: Transient, count: int, retries: Retries, what: str, redact: Callable[[str], str]
) -> float:
    if count >= retries.throttled:
        raise _gave_up(what, count, error, redact, throttled=True)
    if error.retry_after is None:
        return retries.backoff(count - 1)
    if error.retry_after > retries.max_retry_after:
        raise ProviderError(
            f"{what}: the service asks to wait {error.retry_after:.0f} s ({redact(error.message)}).",
            "The quota is spent for now; resume the run later (director resume RUN).",
        )
    # Never sooner than asked; a little jitter spreads the workers that were told the same.
    return error.retry_after + random.uniform(0.0, 0.1 * retries.base_delay)


def _gave_up(
    what: str, tries: int, error: Transient, redact: Callable[[str], str], *, throttled: bool
) -> ProviderError:
    if throttled:
        hint = "Lower the number of jobs in flight, or resume the run later (director resume RUN)."
        return ProviderError(
            f"{what}: still throttled after {tries} tries ({redact(error.message)}).", hint
        )
    return ProviderError(
        f"{what}: the service kept failing, {tries} tries ({redact(error.message)}).",
        "Check the network and the service's status page, then resume the run "
        "(director resume RUN); submitted tasks are collected, not paid for again.",
    )


# --- polling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Polling:
    """When to ask again whether a task has finished: soon at first, then less often. Each
    wait is ``factor`` times the last, so with 1.1 a wait is about a tenth of the time already
    waited: a finished task is noticed at most about 10% late (until ``most`` caps the wait)."""

    first: float = 1.0
    factor: float = 1.1
    most: float = 15.0
    timeout: float = 1800.0  # a task still running after this is given up (GenerationFailed)

    def delays(self) -> Iterable[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(self.most, delay * self.factor)


def poll_until(
    fetch: Callable[[], T],
    finished: Callable[[T], bool],
    *,
    polling: Polling,
    task_id: str,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``fetch()`` until ``finished`` says so; GenerationFailed after ``polling.timeout``."""
    deadline = time.monotonic() + polling.timeout
    for delay in polling.delays():
        answer = fetch()
        if finished(answer):
            return answer
        if time.monotonic() + delay > deadline:
            break
        sleep(delay)
    raise GenerationFailed(
        f"{what} {task_id} was still running after {polling.timeout:.0f} s.",
        "Resume the run later to collect it, or let the ladder try again.",
        code="WaitTimeout",
        task_id=task_id,
    )


# --- downloads ----------------------------------------------------------------------------


def host_of(url: str) -> str:
    """``host:port`` of a URL, with the scheme's default port filled in."""
    parts = urlsplit(url)
    port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    return f"{(parts.hostname or '').lower()}:{port}"


def check_url(url: str, allowed_hosts: Iterable[str]) -> None:
    """Refuse what a result URL must never be: another scheme, or plain http off the service."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return
    if scheme == "http" and host_of(url) in set(allowed_hosts):
        return
    raise ProviderError(
        f"Refusing to download {_shown(url)}: results are taken only from https URLs or from "
        "the configured service host.",
        "Check the provider's base URL setting; a result URL elsewhere is not trusted.",
    )


def download(
    url: str,
    dest: Path,
    *,
    allowed_hosts: Iterable[str] = (),
    max_bytes: int,
    timeout: float,
) -> int:
    """Fetch ``url`` into ``dest`` atomically; returns the number of bytes written.

    A body that ends before its Content-Length is never kept: it is fetched on from the same
    URL, with a range request where the server honours one (else from the start), and after
    ``RESUMES`` cuts a Transient asks the caller to try the same URL again. Raises
    ProviderError for a refused URL, GenerationFailed for a result that is gone or too large,
    and Transient for what another try may fix (5xx, timeouts, a body that is too slow or cut
    short), so callers wrap it in ``retrying``; only a result that is gone makes new work.
    """
    allowed = list(allowed_hosts)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with atomic_file(dest, suffix=".part") as out:
        return _fetch_whole(url, out, allowed, max_bytes, deadline, timeout)


class _Cut(Exception):
    """A body that ended before its declared length."""

    def __init__(self, got: int, total: int) -> None:
        super().__init__(f"{got} of {total} bytes")
        self.got, self.total = got, total


def _fetch_whole(url, out, allowed, max_bytes, deadline, timeout) -> int:
    start = 0
    for _ in range(RESUMES + 1):
        try:
            return _fetch(url, out, allowed, max_bytes, deadline, timeout, start)
        except _Cut as cut:
            start = cut.got
            last = cut
    raise Transient(
        f"download of {_shown(url)} broke off {RESUMES + 1} times (last at {last})",
        throttled=False,
    )


def _fetch(url, out, allowed, max_bytes, deadline, timeout, start: int = 0) -> int:
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url, allowed)
        conn, sock, response = _open(url, deadline, timeout, start)
        try:
            location = response.getheader("Location")
            if response.status in (301, 302, 303, 307, 308) and location:
                url = urllib.request.urljoin(url, location)
                continue
            _check_status(url, response)
            offset = _resume_offset(response, start)
            out.seek(offset)
            out.truncate()
            try:
                return offset + _copy(
                    url, sock, response, out, max_bytes - offset, deadline, timeout
                )
            except _Cut as cut:
                raise _Cut(offset + cut.got, offset + cut.total) from None
        finally:
            response.close()
            conn.close()
    raise GenerationFailed(f"Too many redirects downloading {_shown(url)}.", code="Download")


def _resume_offset(response: http.client.HTTPResponse, start: int) -> int:
    """Where this answer's body goes in the file: ``start`` for a 206 that resumes there,
    else 0 (a server that ignores ranges sends the whole body again)."""
    if response.status != 206:
        return 0
    found = (response.getheader("Content-Range") or "").removeprefix("bytes ").split("-")[0]
    if found.strip() != str(start):
        raise Transient(f"the server resumed at {found!r}, not at byte {start}", throttled=False)
    return start


def _open(url: str, deadline: float, timeout: float, start: int = 0):
    parts = urlsplit(url)
    conn, absolute = _connection(parts, _remaining(deadline, url, timeout))
    target = url if absolute else (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Accept": "*/*", "User-Agent": "director"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        conn.request("GET", target, headers=headers)
        # Kept before getresponse(): the connection lets go of its socket when the server
        # closes after the body, and the body's reads still need their time limit.
        sock = conn.sock
        return conn, sock, conn.getresponse()
    except TimeoutError as exc:
        conn.close()
        raise _slow(url, timeout) from exc
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise Transient(f"download of {_shown(url)} failed: {exc}", throttled=False) from exc


def _connection(parts, seconds: float) -> tuple[http.client.HTTPConnection, bool]:
    """A connection to the URL's host, through the proxy the environment names, if any; and
    whether the request line must carry the absolute URL (plain http through a proxy)."""
    scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    proxy = urllib.request.getproxies().get(scheme)
    if proxy and urllib.request.proxy_bypass(host):
        proxy = None
    https = scheme == "https"
    if not proxy:
        cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
        return cls(host, port, timeout=seconds), False
    via = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if not https:
        return http.client.HTTPConnection(via.hostname, via.port or 80, timeout=seconds), True
    conn = http.client.HTTPSConnection(via.hostname, via.port or 80, timeout=seconds)
    conn.set_tunnel(host, port or 443)
    return conn, False


def _check_status(url: str, response: http.client.HTTPResponse) -> None:
    status = response.status
    if status in (200, 206):
        return
    reason = f"HTTP {status} {response.reason}"
    found = transient(status, None, f"download of {_shown(url)}: {reason}", response.headers)
    if found is not None:
        raise found
    raise GenerationFailed(
        f"The result at {_shown(url)} cannot be downloaded ({reason}).",
        "Result URLs expire (DashScope keeps them 24 hours); the shot is generated again.",
        code="ResultUnavailable",
    )


def _copy(url, sock, response, out, max_bytes: int, deadline: float, timeout: float) -> int:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(url, int(declared), max_bytes)
    size = 0
    while True:
        # Each read waits at most for what is left of the time limit, so a body that trickles
        # in slowly is cut off at the limit, not after it.
        sock.settimeout(_remaining(deadline, url, timeout))
        try:
            chunk = response.read1(CHUNK)
        except TimeoutError as exc:
            raise _slow(url, timeout) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise Transient(f"download of {_shown(url)} broke off: {exc}", throttled=False) from exc
        if not chunk:
            if declared and declared.isdigit() and size < int(declared):
                raise _Cut(size, int(declared))  # the connection closed early
            return size
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(url, size, max_bytes)
        out.write(chunk)


def _remaining(deadline: float, url: str, timeout: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _slow(url, timeout)
    return left


def _slow(url: str, timeout: float) -> Transient:
    return Transient(f"download of {_shown(url)} took longer than {timeout:g} s", throttled=False)


def _too_large(url: str, size: int, max_bytes: int) -> GenerationFailed:
    return GenerationFailed(
        f"The result at {_shown(url)} is larger than the {max_bytes} bytes allowed "
        f"({size} bytes or more).",
        "Raise the download size limit of the backend if such results are expected.",
        code="ResultTooLarge",
    )


def _shown(url: str) -> str:
    """A URL for messages: without its query string, where signed URLs keep their signature."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# --- inline images ------------------------------------------------------------------------


def data_uri(path: str | Path, *, max_bytes: int | None = None) -> str:
    """A local file as a ``data:`` URI, the way to pass a local image to a hosted service."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Image {path} does not exist.", "Check the path of the image.")
    raw = path.read_bytes()
    if max_bytes is not None and len(raw) > max_bytes:
        raise InputError(
            f"Image {path} is {len(raw)} bytes; the service takes at most {max_bytes}.",
            "Use a smaller or more compressed image.",
        )
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return bytes_uri(raw, mime)


def bytes_uri(raw: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"
