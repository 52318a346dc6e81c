"""Inside the sandbox: listen on 127.0.0.1:PORT (the sandbox's own loopback) and relay each connection
to the egress proxy's unix socket; then exec the agent. Standard library only: it runs as
`python -I -S egress_bridge.py PORT SOCKET -- agent argv...`, before anything of Nightshift is importable.

The listening socket is bound before the agent starts (no race), and the relay is double-forked so it is
nobody's child but the sandbox's init: when the agent exits, the sandbox's PID namespace ends it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys


async def _relay(sock: socket.socket, unix_path: str) -> None:
    async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while chunk := await src.read(65536):
                dst.write(chunk)
                await dst.drain()
            if dst.can_write_eof():
                dst.write_eof()
        except OSError:
            dst.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(unix_path)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        finally:
            up_writer.close()
            writer.close()

    server = await asyncio.start_server(handle, sock=sock)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[2] != "--":
        sys.exit("usage: egress_bridge.py PORT SOCKET -- COMMAND...")
    port, unix_path, command = int(argv[0]), argv[1], argv[3:]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    child = os.fork()
    if child == 0:
        if os.fork() != 0:
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        try:
            asyncio.run(_relay(sock, unix_path))
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    sock.close()
    os.execvp(command[0], command)  # noqa: S606 - the agent's argv, never through a shell


if __name__ == "__main__":
    main(sys.argv[1:])
