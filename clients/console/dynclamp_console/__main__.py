"""python3 -m dynclamp_console: serves the console for one dynclampd.

Listens on loopback by default. Beyond loopback it needs TLS (--tls_cert,
--tls_key) unless --insecure says otherwise, as dynclampd does; the daemon's
tokens are the console's logins.
"""
import argparse
import os
import ssl
import sys

from aiohttp import web

from .server import Console, is_loopback_host, make_app


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m dynclamp_console",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--server", default="127.0.0.1:50051",
                    help="dynclampd's gRPC address")
    ap.add_argument("--listen", default="127.0.0.1:8080",
                    help="HOST:PORT to serve the console on (port 0: any)")
    ap.add_argument("--tls_cert", help="PEM certificate for HTTPS")
    ap.add_argument("--tls_key", help="PEM key for HTTPS")
    ap.add_argument("--insecure", action="store_true",
                    help="allow plain HTTP beyond loopback")
    ap.add_argument("--daemon_tls", action="store_true",
                    help="the daemon wants TLS")
    ap.add_argument("--daemon_ca", help="CA of the daemon's certificate")
    ap.add_argument("--port_file", help="write the port here once listening")
    args = ap.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        sys.exit(f"--listen: expected HOST:PORT, got '{args.listen}'")
    context = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            sys.exit("--tls_cert and --tls_key go together")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    elif not is_loopback_host(host) and not args.insecure:
        sys.exit(f"--listen: {host} is beyond loopback; give --tls_cert and "
                 "--tls_key (or --insecure on a network you trust)")
    console = Console(args.server, tls=args.daemon_tls or bool(args.daemon_ca),
                      ca=args.daemon_ca)
    app = make_app(console, tls=context is not None, loopback=is_loopback_host(host))

    async def announce(app_):
        site = [s for s in runner.sites][0]
        sock = site._server.sockets[0]
        bound = sock.getsockname()[1]
        scheme = "https" if context else "http"
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        print(f"dynclamp console: {scheme}://{shown}:{bound}/ "
              f"(dynclampd at {args.server})", flush=True)
        if args.port_file:
            with open(args.port_file + ".tmp", "w") as f:
                f.write(str(bound))
            os.replace(args.port_file + ".tmp", args.port_file)

    import asyncio

    async def run():
        global runner
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, host, int(port), ssl_context=context)
        await site.start()
        await announce(app)
        await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


runner = None

if __name__ == "__main__":
    main()
