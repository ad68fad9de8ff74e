"""A FastMCP (mcp 1.x) upstream whose tool list changes, for tests/federation.rs.

Usage: changing_server.py PORT. Serves Streamable HTTP at http://127.0.0.1:PORT/mcp with tools
`add` and `grow`, announces `tools.listChanged`, and prints "ready <mcp version>" once it accepts
connections. `grow` adds a tool `grown_N` and sends notifications/tools/list_changed to every
session that has listed tools (FastMCP itself would tell only the calling session).
"""

import sys

import mcp.types as types
from mcp.server.fastmcp import FastMCP
from ready import announce_in_background
from mcp.server.lowlevel.server import NotificationOptions

port = int(sys.argv[1])
server = FastMCP("changing-upstream", host="127.0.0.1", port=port, log_level="WARNING")
lowlevel = server._mcp_server
listeners = set()
grown = 0

# Announce listChanged: FastMCP's defaults say the tool list never changes.
plain_options = lowlevel.create_initialization_options
lowlevel.create_initialization_options = lambda *args, **kwargs: plain_options(
    NotificationOptions(tools_changed=True)
)

# Remember every session that lists tools: those are the ones to tell about a change.
plain_list = lowlevel.request_handlers[types.ListToolsRequest]


async def list_and_remember(request):
    listeners.add(lowlevel.request_context.session)
    return await plain_list(request)


lowlevel.request_handlers[types.ListToolsRequest] = list_and_remember


@server.tool()
def add(a: float, b: float) -> str:
    """Add two numbers."""
    total = a + b
    return str(int(total)) if total == int(total) else str(total)


@server.tool()
async def grow() -> str:
    """Add a tool named grown_N and tell every listing session."""
    global grown
    grown += 1
    name = f"grown_{grown}"
    server.add_tool(lambda: name, name=name, description=f"added by grow #{grown}")
    for session in list(listeners):
        try:
            await session.send_tool_list_changed()
        except Exception:
            listeners.discard(session)
    return name


announce_in_background(port)
server.run(transport="streamable-http")
