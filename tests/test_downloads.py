"""Result downloads: a body cut short is never kept; it is fetched on from the same URL (with a
range request where the server honours one), so a cut costs no new generation."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from director.tools import hosted

BODY = bytes(range(256)) * 4096  # 1 MiB with a pattern, so a misplaced byte is seen


class Flaky:
    """Serves BODY at /result; cuts the first ``cuts`` answers after ``cut_at`` bytes (the
    Content-Length still promising all of it), and honours Range or not."""

    def __init__(self, *, cuts: int, cut_at: int = 300_000, ranges: bool = True) -> None:
        self.cuts, self.cut_at, self.ranges = cuts, cut_at, ranges
        self.requests: list[str | None] = []  # the Range header of each request

    def __enter__(self) -> Flaky:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                wanted = self.headers.get("Range")
                fake.requests.append(wanted)
                start = 0
                if wanted and fake.ranges:
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                body = BODY[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(BODY) - 1}/{len(BODY)}")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if fake.cuts > 0:
                    fake.cuts -= 1
                    self.wfile.write(body[: fake.cut_at])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        host, port = self.server.server_address[:2]
        self.url = f"http://{host}:{port}/result"
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _get(fake: Flaky, dest):
    return hosted.download(
        fake.url,
        dest,
        allowed_hosts=[hosted.host_of(fake.url)],
        max_bytes=2 * len(BODY),
        timeout=10,
    )


def test_a_cut_body_is_fetched_on_from_where_it_broke_off(tmp_path):
    with Flaky(cuts=2) as fake:
        assert _get(fake, tmp_path / "r.bin") == len(BODY)
    assert (tmp_path / "r.bin").read_bytes() == BODY
    assert fake.requests == [None, "bytes=300000-", "bytes=600000-"]


def test_a_server_that_ignores_ranges_is_read_again_from_the_start(tmp_path):
    with Flaky(cuts=1, ranges=False) as fake:
        assert _get(fake, tmp_path / "r.bin") == len(BODY)
    assert (tmp_path / "r.bin").read_bytes() == BODY and len(fake.requests) == 2


def test_a_body_cut_every_time_is_a_transient_and_nothing_is_kept(tmp_path):
    with Flaky(cuts=99, cut_at=1000) as fake, pytest.raises(hosted.Transient, match="broke off"):
        _get(fake, tmp_path / "r.bin")
    assert not list(tmp_path.iterdir())
    assert len(fake.requests) == hosted.RESUMES + 1
