"""An MCP client on the official Python SDK, either major version, for the interop tests.

Usage: client.py URL [--mode auto|legacy] [--call TOOL JSON_ARGS]...
Connects (2.x: `Client(url, mode=...)`; 1.x: `streamablehttp_client` + `ClientSession`),
lists tools, makes the calls, and prints one JSON object:
{"sdk": "1.30.0", "protocol": "...", "tools": [...], "results": [{"text": ..., "isError": ...}]}
Exit code 1 with the error on stderr when anything fails.
"""

import argparse
import asyncio
import json
import sys
from importlib.metadata import version

SDK = version("mcp")
MAJOR = int(SDK.split(".")[0])


def summarise(result):
    texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
    is_error = getattr(result, "is_error", None)
    if is_error is None:
        is_error = getattr(result, "isError", False)
    return {"text": "".join(texts), "isError": bool(is_error)}


async def run_v1(url, calls):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async with streamablehttp_client(url) as (read, write, _session_id):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            results = [summarise(await session.call_tool(name, args)) for name, args in calls]
            return init.protocolVersion, [t.name for t in tools.tools], results


async def run_v2(url, mode, calls):
    from mcp import Client

    async with Client(url, mode=mode) as client:
        tools = await client.list_tools()
        results = [summarise(await client.call_tool(name, args)) for name, args in calls]
        return client.protocol_version, [t.name for t in tools.tools], results


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--mode", default="auto")
    parser.add_argument("--call", nargs=2, action="append", default=[], metavar=("TOOL", "ARGS"))
    args = parser.parse_args()
    calls = [(name, json.loads(raw)) for name, raw in args.call]
    if MAJOR >= 2:
        protocol, tools, results = await run_v2(args.url, args.mode, calls)
    else:
        protocol, tools, results = await run_v1(args.url, calls)
    print(json.dumps({"sdk": SDK, "protocol": protocol, "tools": tools, "results": results}))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as exc:  # report the whole chain for the Rust test's failure message
        import traceback

        traceback.print_exc()
        print(f"client failed: {exc!r}", file=sys.stderr)
        sys.exit(1)
