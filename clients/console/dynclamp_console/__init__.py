"""dynclamp console: the rig in a browser.

A small web server (aiohttp) that serves the console's page and speaks to one
dynclampd only through its public gRPC API, with the dynclamp Python client:
the browser's token and operator name are the daemon's, so its roles and rig
lock hold in the browser as everywhere. Start it with
``python3 -m dynclamp_console`` (``scripts/console.sh``).
"""
