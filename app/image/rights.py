"""Creator and copyright: read from a source's EXIF, XMP and IPTC, written alone into its copies.

What travels (and nothing else of those blocks, ever: no GPS, serial numbers, maker
notes, embedded thumbnails, dates, camera settings):

- EXIF `Artist` (0x013B) and `Copyright` (0x8298), their bytes as the source wrote them,
  in an EXIF block of their own; libvips adds its own few layout tags on save
  (orientation 1, resolution, pixel dimensions, EXIF version);
- XMP `dc:creator` and `dc:rights`, in an XMP packet of their own; where the source has
  no XMP of them, IPTC's by-line and copyright notice fill them (IPTC Core defines them
  as the same properties), so that WebP, AVIF and PNG, which have no IPTC, carry them;
- IPTC `By-line` (2:80) and `Copyright Notice` (2:116), with the source's character set
  (1:90), in a Photoshop APP13 block of their own (JPEG only).

Everything here is pure Python over bytes libvips has read; a block that does not parse
gives nothing (the copy is made without it), never an error.
"""

from __future__ import annotations

import re
import struct

from app.record import Record

ARTIST, COPYRIGHT = 0x013B, 0x8298
BY_LINE, COPYRIGHT_NOTICE, CHARSET = (2, 80), (2, 116), (1, 90)
UTF8 = b"\x1b%G"  # IPTC 1:90 for UTF-8
MAX_VALUE = 2000  # bytes of one value kept; longer ones are cut (a copyright is a line)
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_DC = "http://purl.org/dc/elements/1.1/"
_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_PACKET = rb"(?s)<x:xmpmeta.*?</x:xmpmeta>|<rdf:RDF.*?</rdf:RDF>"  # compiled by re for XMP


class Rights(Record):
    """What a copy says of who made the picture and who owns it: each block, or None."""

    exif: bytes | None = None
    xmp: bytes | None = None
    iptc: bytes | None = None

    def __bool__(self) -> bool:
        return any((self.exif, self.xmp, self.iptc))


def read(exif: bytes | None, xmp: bytes | None, iptc: bytes | None) -> Rights:
    """The creator and copyright of a source's EXIF, XMP and IPTC blocks, each rebuilt alone."""
    tags = _exif_tags(exif) if exif else {}
    iim = _iim(iptc) if iptc else []
    creators, rights = _xmp_values(xmp) if xmp else ([], [])
    charset = next((value for key, value in iim if key == CHARSET), None)
    text = "utf-8" if charset == UTF8 else "latin-1"
    if not creators:
        creators = [value.decode(text, "replace") for key, value in iim if key == BY_LINE]
    if not rights:
        notices = [value.decode(text, "replace") for key, value in iim if key == COPYRIGHT_NOTICE]
        rights = [("x-default", notice) for notice in notices[:1]]
    kept_iim = [(key, value) for key, value in iim if key in (BY_LINE, COPYRIGHT_NOTICE)]
    return Rights(
        _exif_block(tags) if tags else None,
        _xmp_packet(creators, rights) if creators or rights else None,
        _iptc_block(charset, kept_iim) if kept_iim else None,
    )


def _exif_tags(block: bytes) -> dict[int, tuple[int, bytes]]:
    """Artist and Copyright of IFD0: tag -> (type, value bytes)."""
    tiff = block[6:] if block.startswith(b"Exif\0\0") else block
    found: dict[int, tuple[int, bytes]] = {}
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for i in range(min(count, 1000)):
            tag, kind, n, offset = struct.unpack_from(order + "HHII", tiff, ifd + 2 + 12 * i)
            if tag not in (ARTIST, COPYRIGHT) or kind not in (1, 2, 7, 129):
                continue  # ASCII, BYTE, UNDEFINED or UTF-8: one byte a unit
            start = ifd + 2 + 12 * i + 8 if n <= 4 else offset
            value = tiff[start : start + min(n, MAX_VALUE)].rstrip(b"\0")
            if value.strip(b"\0 "):
                found[tag] = (kind, value)
    except (KeyError, struct.error):
        return {}
    return found


def _exif_block(tags: dict[int, tuple[int, bytes]]) -> bytes:
    """A little-endian EXIF block with IFD0 holding `tags` alone."""
    entries, data = [], b""
    start = 8 + 2 + 12 * len(tags) + 4
    for tag, (kind, value) in sorted(tags.items()):
        value += b"\0"
        if len(value) <= 4:
            entries.append(struct.pack("<HHI4s", tag, kind, len(value), value.ljust(4, b"\0")))
        else:
            entries.append(struct.pack("<HHII", tag, kind, len(value), start + len(data)))
            data += value + b"\0" * (len(value) % 2)
    ifd = struct.pack("<H", len(tags)) + b"".join(entries) + struct.pack("<I", 0)
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd + data


def _xmp_values(packet: bytes) -> tuple[list[str], list[tuple[str, str]]]:
    """dc:creator's names and dc:rights' (language, text) pairs of an XMP packet."""
    # Imported here: XML costs tens of ms to import, and most files carry no XMP.
    import xml.etree.ElementTree as ElementTree

    found = re.search(_PACKET, packet)
    text = found.group(0) if found else packet
    if b"<!DOCTYPE" in text or b"<!ENTITY" in text:  # no XMP needs one; entities can explode
        return [], []
    try:
        root = ElementTree.fromstring(text)  # noqa: S314 (no DTD can reach it, see above)
    except (ElementTree.ParseError, ValueError):
        return [], []
    creators = [
        (li.text or "").strip()[:MAX_VALUE]
        for element in root.iter(f"{{{_DC}}}creator")
        for li in element.iter(f"{{{_RDF}}}li")
    ]
    rights = [
        (li.get(_LANG, "x-default"), (li.text or "").strip()[:MAX_VALUE])
        for element in root.iter(f"{{{_DC}}}rights")
        for li in element.iter(f"{{{_RDF}}}li")
    ]
    return [c for c in creators if c], [(lang, text) for lang, text in rights if text]


def _xmp_packet(creators: list[str], rights: list[tuple[str, str]]) -> bytes:
    from xml.sax.saxutils import escape  # here, as in _xmp_values

    parts = []
    if creators:
        items = "".join(f"<rdf:li>{escape(name)}</rdf:li>" for name in creators)
        parts.append(f"<dc:creator><rdf:Seq>{items}</rdf:Seq></dc:creator>")
    if rights:
        items = "".join(
            f'<rdf:li xml:lang="{escape(lang, {chr(34): "&quot;"})}">{escape(text)}</rdf:li>'
            for lang, text in rights
        )
        parts.append(f"<dc:rights><rdf:Alt>{items}</rdf:Alt></dc:rights>")
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        f'<rdf:RDF xmlns:rdf="{_RDF}"><rdf:Description rdf:about="" xmlns:dc="{_DC}">'
        + "".join(parts)
        + "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()


def _iim(block: bytes) -> list[tuple[tuple[int, int], bytes]]:
    """The IPTC datasets of a Photoshop APP13 block (its 0x0404 resource), in order."""
    data = block[14:] if block.startswith(b"Photoshop 3.0\0") else block
    datasets: list[tuple[tuple[int, int], bytes]] = []
    position = 0
    try:
        while position + 12 <= len(data) and data[position : position + 4] == b"8BIM":
            (resource,) = struct.unpack_from(">H", data, position + 4)
            name = data[position + 6]
            position += 6 + name + 1 + (name + 1) % 2
            (size,) = struct.unpack_from(">I", data, position)
            body = data[position + 4 : position + 4 + size]
            position += 4 + size + size % 2
            if resource == 0x0404:
                datasets.extend(_datasets(body))
    except (struct.error, IndexError):
        return datasets
    return datasets


def _datasets(body: bytes) -> list[tuple[tuple[int, int], bytes]]:
    found = []
    position = 0
    while position + 5 <= len(body) and body[position] == 0x1C:
        record, number = body[position + 1], body[position + 2]
        (size,) = struct.unpack_from(">H", body, position + 3)
        if size & 0x8000:  # an extended length: no creator or copyright is that long
            break
        found.append(((record, number), body[position + 5 : position + 5 + size][:MAX_VALUE]))
        position += 5 + size
    return found


def _iptc_block(charset: bytes | None, kept: list[tuple[tuple[int, int], bytes]]) -> bytes:
    """A Photoshop APP13 block holding the IPTC character set, record version and `kept`."""
    datasets = [(CHARSET, charset)] if charset else []
    datasets += [((2, 0), b"\0\x04"), *kept]
    body = b"".join(
        bytes([0x1C, record, number]) + struct.pack(">H", len(value)) + value
        for (record, number), value in datasets
    )
    resource = b"8BIM\x04\x04\0\0" + struct.pack(">I", len(body)) + body + b"\0" * (len(body) % 2)
    return b"Photoshop 3.0\0" + resource
