"""A real forwarding HTTP proxy on 127.0.0.1 for tests: it records the absolute URL of every request it is
handed and fetches it itself (plain http, no proxy of its own), as a corporate proxy would."""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request


class ForwardProxy:
    def __init__(self) -> None:
        self.asked: list[str] = []
        proxy = self
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.asked.append(self.path)
                try:
                    with direct.open(self.path, timeout=5) as answer:
                        status, kind, body = answer.status, answer.headers.get("Content-Type"), answer.read()
                except urllib.error.HTTPError as error:
                    status, kind, body = error.code, error.headers.get("Content-Type"), error.read()
                except OSError:
                    status, kind, body = 502, "text/plain", b"bad gateway"
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def asked_for(self, host: str) -> list[str]:
        return [url for url in self.asked if f"//{host}:" in url or f"//{host}/" in url]

    def __enter__(self) -> ForwardProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# every variable requests and Scrapy read a proxy from: cleared so that only the test's proxy is used
PROXY_VARIABLES = (
    "no_proxy",
    "NO_PROXY",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
)


def use_only(proxy: ForwardProxy, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Configure `proxy` the usual way, in the environment (read per request, and by a crawl process)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", proxy.url)
