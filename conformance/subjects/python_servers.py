"""Python servers started the way their users start them, for the subjects family.

``python -m conformance.subjects.python_servers KIND HOST PORT`` runs one of the
standard-library servers below until it is killed; ``app`` (ASGI) and ``wsgi_app`` (WSGI)
are what uvicorn, hypercorn and gunicorn serve.
"""

from __future__ import annotations

import asyncio
import socket
import socketserver
import sys


async def app(scope, receive, send):  # ASGI: uvicorn, hypercorn
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok\n"})


def wsgi_app(environ, start_response):  # WSGI: gunicorn
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]


async def _asyncio(host, port):
    async def handle(reader, writer):
        writer.close()
    server = await asyncio.start_server(handle, host=host, port=port)
    async with server:
        await server.serve_forever()


def _accept_forever(server: socket.socket):
    with server:
        while True:
            conn, _ = server.accept()
            conn.close()


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        pass


class _TCP6Server(socketserver.TCPServer):
    address_family = socket.AF_INET6


def _aiohttp(port):
    from aiohttp import web
    web.run_app(web.Application(), host=None, port=port, print=None)


def main(kind: str, host: str, port: int) -> None:
    host_arg = None if host == "None" else host
    if kind == "asyncio":
        asyncio.run(_asyncio(host_arg, port))
    elif kind == "create_server":
        _accept_forever(socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=host == "dualstack"))
    elif kind == "socketserver":
        _TCP6Server((host, port), _Handler).serve_forever()
    elif kind == "aiohttp":
        _aiohttp(port)
    else:
        raise SystemExit(f"unknown server kind {kind!r}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
