"""The test suite's own guards: no test inherits the developer's settings or keys, and no test
reaches a host other than this machine."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
import urllib.request

import pytest

from tests.conftest import NonLoopbackConnection, cleared, is_local


def test_settings_and_keys_are_cleared_by_prefix_whatever_their_name():
    environ = {
        "DIRECTOR_BEST_OF": "3",
        "DIRECTOR_HOME": "/home/me/.director",
        "DIRECTOR_SOMETHING_NEW": "1",
        "DASHSCOPE_API_KEY": "sk-1",
        "OPENAI_BASE_URL": "https://api.openai.com/v1",
        "COMFYUI_URL": "http://gpu-box:8188",
        "HF_TOKEN": "hf_x",
        "https_proxy": "http://proxy:3128",
        "XDG_DATA_HOME": "/home/me/.local/share",
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "LANG": "C.UTF-8",
    }
    assert sorted(set(environ) - set(cleared(environ))) == ["HOME", "LANG", "PATH"]


@pytest.mark.parametrize(
    "host, local",
    [
        ("127.0.0.1", True),
        ("127.5.5.5", True),
        ("::1", True),
        ("localhost", True),
        ("", True),
        (None, True),
        ("0.0.0.0", True),
        ("192.0.2.1", False),
        ("dashscope.aliyuncs.com", False),
        ("10.0.0.7", False),
    ],
)
def test_what_counts_as_this_machine(host, local):
    assert is_local(host) is local


def test_a_connection_to_another_host_is_stopped_and_fails_the_test(network_guard):
    with pytest.raises(NonLoopbackConnection):
        socket.create_connection(("192.0.2.1", 80), timeout=0.1)
    with pytest.raises(NonLoopbackConnection):
        socket.getaddrinfo("dashscope.aliyuncs.com", 443)
    with socket.socket() as sock, pytest.raises(NonLoopbackConnection):
        sock.connect(("192.0.2.1", 80))
    assert len(network_guard.attempts) == 3
    network_guard.attempts.clear()  # stopped on purpose here; any other test would fail


def test_a_fake_server_on_loopback_is_reached():
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        for host in ("127.0.0.1", "localhost"):
            with urllib.request.urlopen(f"http://{host}:{port}/", timeout=5) as answer:
                assert answer.read() == b"hello"
    finally:
        server.shutdown()
        server.server_close()


def test_subprocesses_run():
    done = subprocess.run(
        [sys.executable, "-c", "print('ok')"], capture_output=True, text=True, check=True
    )
    assert done.stdout == "ok\n"
