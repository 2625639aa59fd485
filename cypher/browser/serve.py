"""Serve cypher/browser (guide.html, style.grass) to Neo4j Browser, with the CORS header Browser needs.

Neo4j Browser fetches a remote guide or style from the page's own origin (http://HOST:7474), so the file server
must allow cross-origin requests; `python -m http.server` sends no such header and Browser shows nothing.

    python cypher/browser/serve.py                 # http://localhost:8001/guide.html
    python cypher/browser/serve.py --port 9000 --bind 0.0.0.0
"""

from __future__ import annotations

import argparse
import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent


class CORSRequestHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".grass": "text/plain; charset=utf-8",
                      ".html": "text/html; charset=utf-8"}

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-store")  # an edited guide shows on the next :play
        super().end_headers()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default: this machine only)")
    args = parser.parse_args()
    handler = functools.partial(CORSRequestHandler, directory=str(HERE))
    with ThreadingHTTPServer((args.bind, args.port), handler) as server:
        print(f"serving {HERE} on http://{args.bind}:{args.port}/ : in Neo4j Browser run "
              f":play http://localhost:{args.port}/guide.html", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
