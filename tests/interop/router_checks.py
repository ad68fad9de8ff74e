"""Tool-router checks on the official Python SDK, either major version, for tests/router.rs.

Usage: router_checks.py URL list-all [--mode auto|legacy]
       router_checks.py URL watch [--mode auto|legacy] [--timeout SECONDS]

list-all: pages through tools/list with nextCursor until the end and prints
    {"sdk": ..., "protocol": ..., "pages": N, "names": [...]}.
watch: connects, prints the line "ready" once it listens for changes (1.x and 2.x legacy: the
    session's GET stream, through message_handler; 2.x auto: a subscriptions/listen stream
    asking for tools), prints "notified" the moment notifications/tools/list_changed arrives,
    then lists the tools again and prints {"sdk": ..., "protocol": ..., "names": [...]}.
Exit code 1 with the error on stderr when anything fails or nothing arrives in time.
"""

import argparse
import asyncio
import json
import sys
from importlib.metadata import version

SDK = version("mcp")
MAJOR = int(SDK.split(".")[0])


def say(line):
    print(line, flush=True)


def is_tools_changed(message):
    # Notifications arrive wrapped (ServerNotification(root=...)) in 1.x, bare in 2.x.
    inner = getattr(message, "root", message)
    return type(inner).__name__ == "ToolListChangedNotification"


async def list_all(list_page):
    names, pages, cursor = [], 0, None
    while True:
        result = await list_page(cursor)
        pages += 1
        names.extend(t.name for t in result.tools)
        cursor = getattr(result, "next_cursor", None) or getattr(result, "nextCursor", None)
        if not cursor:
            return pages, names


async def run_v1(url, check, timeout):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    changed = asyncio.Event()

    async def on_message(message):
        if is_tools_changed(message):
            changed.set()

    async with streamablehttp_client(url) as (read, write, _session_id):
        async with ClientSession(read, write, message_handler=on_message) as session:
            init = await session.initialize()
            out = {"sdk": SDK, "protocol": init.protocolVersion}
            if check == "watch":
                # The 1.x client opens its GET stream right after initialize; a tools/list
                # round-trip makes sure the session is fully established first.
                await session.list_tools()
                say("ready")
                await asyncio.wait_for(changed.wait(), timeout)
                say("notified")
            pages, names = await list_all(lambda cursor: session.list_tools(cursor=cursor))
            out.update(pages=pages, names=names)
            return out


async def run_v2(url, mode, check, timeout):
    from mcp import Client

    changed = asyncio.Event()

    async def on_message(message):
        if is_tools_changed(message):
            changed.set()

    async with Client(url, mode=mode, message_handler=on_message) as client:
        out = {"sdk": SDK, "protocol": client.protocol_version}
        if check == "watch":
            if mode == "legacy":
                await client.list_tools()
                say("ready")
                await asyncio.wait_for(changed.wait(), timeout)
            else:
                async with client.listen(tools_list_changed=True) as subscription:
                    say("ready")
                    event = await asyncio.wait_for(subscription.__anext__(), timeout)
                    if type(event).__name__ != "ToolsListChanged":
                        raise RuntimeError(f"unexpected event {event!r}")
            say("notified")
        pages, names = await list_all(lambda cursor: client.list_tools(cursor=cursor, cache_mode="refresh"))
        out.update(pages=pages, names=names)
        return out


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("check", choices=["list-all", "watch"])
    parser.add_argument("--mode", default="auto")
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()
    if MAJOR >= 2:
        out = await run_v2(args.url, args.mode, args.check, args.timeout)
    else:
        out = await run_v1(args.url, args.check, args.timeout)
    say(json.dumps(out))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as exc:  # report the whole chain for the Rust test's failure message
        import traceback

        traceback.print_exc()
        print(f"router check failed: {exc!r}", file=sys.stderr)
        sys.exit(1)
