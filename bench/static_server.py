"""The same bytes from memory: the baseline of ``bench read``.

``python -m bench.static_server FILE PORT`` serves, for each path in FILE (a
JSON map of path -> {"status", "headers", "body_b64"}), exactly the bytes and
headers the service answered, and a bare 304 when ``If-None-Match`` matches
the ETag: what the fastest possible handler in the same framework does.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from aiohttp import web


def main() -> None:
    pages = json.loads(Path(sys.argv[1]).read_text())
    port = int(sys.argv[2])
    answers = {
        path: (page["status"], page["headers"], base64.b64decode(page["body_b64"]))
        for path, page in pages.items()
    }

    async def handle(request: web.Request) -> web.Response:
        status, headers, body = answers[request.path_qs]
        etag = headers.get("ETag")
        if etag is not None and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(status=status, body=body, headers=headers)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
