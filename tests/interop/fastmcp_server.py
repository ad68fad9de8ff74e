"""A Python FastMCP upstream (mcp 1.x) for the proxy interop tests.

Usage: fastmcp_server.py PORT. Serves Streamable HTTP at http://127.0.0.1:PORT/mcp with tools
`add` and `echo`, and prints "ready <mcp version>" once it accepts connections (the Rust test
checks the version against tests/interop/sdk-pins.txt).
"""

import sys

from mcp.server.fastmcp import FastMCP
from ready import announce_in_background

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


announce_in_background(port)
server.run(transport="streamable-http")
