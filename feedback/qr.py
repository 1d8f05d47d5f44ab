"""QR codes drawn on the server (segno), as inline SVG: no image request, no script,
nothing the strict CSP forbids (presentation attributes, no style attribute)."""

from __future__ import annotations

import segno
from django.utils.safestring import SafeString, mark_safe


def svg(url: str) -> SafeString:
    """An SVG QR code of `url`, error correction M (about 15 % may be torn or smudged),
    with its quiet zone and a white background, so it scans off any paper."""
    code = segno.make(url, error="m", micro=False)
    markup = code.svg_inline(
        scale=1,
        border=4,
        dark="#000",
        light="#fff",
        svgclass="qr",
        lineclass=None,
        omitsize=True,
        title="QR code of the feedback link",
    )
    # segno escapes the title and draws only paths from the data: safe to embed.
    return mark_safe(markup)  # noqa: S308
