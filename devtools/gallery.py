"""The local stack's gallery: every source with its copies, placeholder and `srcset`, from S3.

A page on loopback (`GALLERY_PORT`, default 8321) that reads the local S3 server
the way a site would read the real one: it finds the manifests (app/renditions/manifest.py)
in every bucket and shows, newest first, each source with its copies per format
(dimensions, bytes, Content-Type, from the manifest), its ThumbHash placeholder
decoded in the page (devtools/gallery.html, no script from anywhere else), and a
`<picture>` whose `<img srcset sizes>` is built from the manifest, so the browser
picks the copy it would pick on a site. The copies are served through this server
(`/s3/BUCKET/KEY`), so the page fetches nothing from outside loopback.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import boto3

DEFAULT_PORT = 8321
TEMPLATE = Path(__file__).with_name("gallery.html")
MAX_SOURCES = 100  # a page, not an archive: the newest manifests only
# The copy's box in the page (gallery.html's CSS): the whole width on a narrow screen, less
# the page's margins, at most 900 px. `sizes` says the same, so the browser can choose.
SIZES = "(max-width: 932px) calc(100vw - 32px), 900px"
# The format an `<img>` falls back to: the most widely decoded one the manifest has.
FALLBACK_ORDER = ("jpeg", "png", "webp", "avif")


class Gallery:
    """The gallery's HTTP server, reading S3 at `endpoint`; a context manager."""

    def __init__(self, endpoint: str, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT):
        """Bind `host`:`port` now (OSError if taken); serve once entered."""
        self.endpoint = endpoint
        self.s3: Any = boto3.client("s3", endpoint_url=endpoint)
        self.server = ThreadingHTTPServer((host, port), _handler_class(self))
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}/"

    def __enter__(self) -> Gallery:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def manifests(self) -> list[dict[str, Any]]:
        """Every manifest in every bucket, newest first (at most MAX_SOURCES)."""
        found: list[tuple[Any, str, str]] = []
        for bucket in self.s3.list_buckets()["Buckets"]:
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"])
            for page in pages:
                found += [
                    (o["LastModified"], bucket["Name"], o["Key"])
                    for o in page.get("Contents", [])
                    if o["Key"].endswith(".json")
                ]
        found.sort(reverse=True)
        documents = []
        for _, bucket, key in found:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            try:
                document = json.loads(body)
            except ValueError:
                continue  # a JSON-named object that is no manifest
            if isinstance(document, dict) and {"source", "renditions"} <= document.keys():
                documents.append({**document, "bucket": bucket, "manifestKey": key})
            if len(documents) == MAX_SOURCES:
                break
        return documents

    def page(self) -> bytes:
        """The gallery page, as it stands in S3 now."""
        manifests = self.manifests()
        sections = "\n".join(section(m) for m in manifests) or (
            '<p class="empty">No manifests yet: upload an image under the source prefix, '
            "or invoke a sample event, and reload.</p>"
        )
        text = TEMPLATE.read_text(encoding="utf-8")
        text = text.replace("<!--ENDPOINT-->", html.escape(self.endpoint))
        return text.replace("<!--SOURCES-->", sections).encode()


def section(manifest: dict[str, Any]) -> str:
    """One source's `<section>`: its name, placeholder, copies table and `<picture>`."""
    source, bucket = manifest["source"], manifest["bucket"]
    width, height = int(source["width"]), int(source["height"])
    renditions = manifest["renditions"]
    by_format: dict[str, list[dict[str, Any]]] = {}
    for rendition in sorted(renditions, key=lambda r: (r["width"], r["key"])):
        by_format.setdefault(rendition["format"], []).append(rendition)
    fallback = next((f for f in FALLBACK_ORDER if f in by_format), next(iter(by_format), None))
    e = html.escape
    profile = f" · profile {e(manifest['profile'])}" if "profile" in manifest else ""
    rows = "".join(
        f'<tr><td><a href="{_href(bucket, r["key"])}">{e(r["key"])}</a></td>'
        f"<td>{e(r['format'])}</td><td>{int(r['width'])}&times;{int(r['height'])}</td>"
        f"<td>{int(r['bytes']):,}</td><td>{e(r['contentType'])}</td></tr>"
        for r in renditions
    )
    picture = ""
    if fallback is not None:
        sources = "".join(
            f'<source type="{e(copies[0]["contentType"])}" srcset="{_srcset(bucket, copies)}" '
            f'sizes="{SIZES}">'
            for name, copies in by_format.items()
            if name != fallback
        )
        largest = by_format[fallback][-1]
        picture = (
            f"<figure><picture>{sources}"
            f'<img class="copy" srcset="{_srcset(bucket, by_format[fallback])}" '
            f'sizes="{SIZES}" src="{_href(bucket, by_format[fallback][0]["key"])}" '
            f'width="{int(largest["width"])}" height="{int(largest["height"])}" '
            f'alt="{e(source["key"])}"></picture>'
            "<figcaption>The copy this browser picked: <span>…</span></figcaption></figure>"
        )
    colour = manifest.get("dominantColor") or "transparent"
    return (
        f'<section data-key="{e(source["key"])}">'
        f"<h2>{e(source['key'])}</h2>"
        f'<p class="meta">s3://{e(source["bucket"])}/{e(source["key"])} · {width}&times;{height}'
        f"{profile} · manifest s3://{e(bucket)}/{e(manifest['manifestKey'])}</p>"
        f'<div class="row"><canvas class="placeholder" data-thumbhash="'
        f'{e(manifest.get("thumbhash") or "")}" style="aspect-ratio: {width} / {height}; '
        f'background: {e(colour)}" title="the ThumbHash placeholder, decoded in this page">'
        "</canvas>"
        f"<table><tr><th>copy</th><th>format</th><th>size</th><th>bytes</th>"
        f"<th>Content-Type</th></tr>{rows}</table></div>{picture}</section>"
    )


def _srcset(bucket: str, copies: Iterable[dict[str, Any]]) -> str:
    return ", ".join(f"{_href(bucket, c['key'])} {int(c['width'])}w" for c in copies)


def _href(bucket: str, key: str) -> str:
    return html.escape(f"/s3/{quote(bucket)}/{quote(key)}")


def _handler_class(gallery: Gallery) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass  # the stack's terminal shows deliveries, not page loads

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")  # S3 changes under the page
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            try:
                if path == "/":
                    self._reply(HTTPStatus.OK, gallery.page(), "text/html; charset=utf-8")
                elif path.startswith("/s3/") and path.count("/") >= 3:
                    bucket, _, key = path[len("/s3/") :].partition("/")
                    got = gallery.s3.get_object(Bucket=unquote(bucket), Key=unquote(key))
                    self._reply(HTTPStatus.OK, got["Body"].read(), got["ContentType"])
                else:
                    self._reply(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
            except Exception as error:  # noqa: BLE001 - the page says what S3 answered
                message = f"reading the local S3 server at {gallery.endpoint} failed: {error}\n"
                self._reply(HTTPStatus.BAD_GATEWAY, message.encode(), "text/plain")

    return Handler
