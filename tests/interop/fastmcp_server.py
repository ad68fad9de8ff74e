"""A Python FastMCP upstream (mcp 1.x) for the proxy interop tests.

Usage: fastmcp_server.py PORT. Serves Streamable HTTP at http://127.0.0.1:PORT/mcp with tools
`add` and `echo`, and prints "ready <mcp version>" once it accepts connections (the Rust test
checks the version against tests/interop/sdk-pins.txt).
"""

import socket
import sys
import threading
import time
from importlib.metadata import version

from mcp.server.fastmcp import FastMCP

port = int(sys.argv[1])
server = FastMCP("python-upstream", host="127.0.0.1", port=port, log_level="WARNING")


@server.tool()
def add(a: float, b: float) -> str:
    """Add two numbers."""
    total = a + b
    return str(int(total)) if total == int(total) else str(total)


@server.tool()
def echo(message: str) -> str:
    """Echo a message."""
    return message


def announce_when_listening() -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                print(f"ready {version('mcp')}", flush=True)
                return
        except OSError:
            time.sleep(0.05)


threading.Thread(target=announce_when_listening, daemon=True).start()
server.run(transport="streamable-http")
