"""Shared by the Python test servers: print "ready <mcp version>" once PORT accepts connections,
which is what the Rust tests wait for (and check against the SDK pin)."""

import socket
import threading
import time
from importlib.metadata import version


def announce_when_listening(port: int) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                print(f"ready {version('mcp')}", flush=True)
                return
        except OSError:
            time.sleep(0.05)


def announce_in_background(port: int) -> None:
    threading.Thread(target=announce_when_listening, args=(port,), daemon=True).start()
