"""Sources that carry more than pixels, made with pyvips: an Ultra HDR JPEG (a gain map)
and a camera JPEG whose EXIF, XMP and IPTC name its creator and copyright beside GPS,
a serial number and a camera make (tests/unit/test_fidelity.py, and through S3)."""

from __future__ import annotations

import struct

import images
import pyvips


def ultra_hdr(width: int = 800, height: int = 600, orientation: int = 1) -> bytes:
    """An Ultra HDR JPEG: the upright picture 6x SDR white in its top-left sixteenth, so
    that its gain map is bright there; stored turned for EXIF `orientation`."""
    x = pyvips.Image.xyz(width, height)
    light = ((x[0] < width // 4) & (x[1] < height // 4)).ifthenelse(6.0, 0.5)
    hdr = (light.bandjoin([light, light]) * 1.0).copy(interpretation="scrgb")
    turn = {1: lambda i: i, 6: lambda i: i.rot270(), 8: lambda i: i.rot90()}[orientation]
    data = bytes(turn(hdr).jpegsave_buffer(Q=90))  # libvips computes the gain map
    if orientation != 1:
        stored = pyvips.Image.new_from_buffer(data, "").copy()
        stored.set_type(pyvips.GValue.gint_type, "orientation", orientation)
        data = bytes(stored.jpegsave_buffer(Q=90, keep="all"))
    return data


ARTIST = "Zoë Photographer (studio)"
COPYRIGHT = "© 2026 Zoë Photographer, all rights reserved"
XMP = f"""<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:aux="http://ns.adobe.com/exif/1.0/aux/">
<dc:creator><rdf:Seq><rdf:li>{ARTIST}</rdf:li></rdf:Seq></dc:creator>
<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">{COPYRIGHT}</rdf:li></rdf:Alt></dc:rights>
<exif:GPSLatitude>51,30.0N</exif:GPSLatitude><aux:SerialNumber>XMP-SN-0042</aux:SerialNumber>
</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"""


def iptc(datasets: list[tuple[int, int, bytes]]) -> bytes:
    """A Photoshop APP13 block holding IPTC `datasets` (record, number, value)."""
    body = b"".join(
        bytes([0x1C, record, number]) + struct.pack(">H", len(value)) + value
        for record, number, value in datasets
    )
    resource = b"8BIM\x04\x04\0\0" + struct.pack(">I", len(body)) + body + b"\0" * (len(body) % 2)
    return b"Photoshop 3.0\0" + resource


def with_rights(*, xmp: bool = True) -> bytes:
    """A JPEG whose EXIF, XMP and IPTC name its creator and copyright, beside GPS, a
    camera serial number and a camera make that must not travel."""
    source = images.upright(640, 480).copy()
    source.set_type(pyvips.GValue.blob_type, "exif-data", camera_exif())
    if xmp:
        source.set_type(pyvips.GValue.blob_type, "xmp-data", XMP.encode())
    source.set_type(
        pyvips.GValue.blob_type,
        "iptc-data",
        iptc(
            [
                (1, 90, b"\x1b%G"),
                (2, 80, ARTIST.encode()),
                (2, 116, COPYRIGHT.encode()),
                (2, 90, b"Secret City"),  # city: not a right, not kept
            ]
        ),
    )
    return bytes(source.jpegsave_buffer(Q=90, keep="exif,xmp,iptc"))


def camera_exif() -> bytes:
    """A camera's EXIF block (little-endian TIFF): IFD0 with Make, Artist and Copyright
    (UTF-8) and pointers to an EXIF IFD (BodySerialNumber) and a GPS IFD (latitude)."""

    def ifd(entries: list[tuple[int, int, int, bytes]], at: int) -> tuple[bytes, bytes]:
        """One IFD at offset `at`: (table, data after it); entries: tag, type, count, value."""
        start = at + 2 + 12 * len(entries) + 4
        table, data = struct.pack("<H", len(entries)), b""
        for tag, kind, count, value in entries:
            if len(value) <= 4:
                table += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
            else:
                table += struct.pack("<HHII", tag, kind, count, start + len(data))
                data += value + b"\0" * (len(value) % 2)
        return table + struct.pack("<I", 0), data

    def text(value: str) -> tuple[int, bytes]:
        raw = value.encode() + b"\0"
        return len(raw), raw

    ifd0_entries = [
        (0x010F, 2, *text("Acme")),
        (0x013B, 2, *text(ARTIST)),
        (0x8298, 2, *text(COPYRIGHT)),
        (0x8769, 4, 1, b"\0" * 4),  # the EXIF IFD's offset, once known
        (0x8825, 4, 1, b"\0" * 4),  # the GPS IFD's
    ]
    table, data = ifd(ifd0_entries, 8)  # its size, which places the IFDs after it
    exif_at = 8 + len(table) + len(data)
    serial = ifd([(0xA431, 2, *text("EXIF-SN-0042"))], exif_at)
    gps_at = exif_at + len(serial[0]) + len(serial[1])
    gps = ifd(
        [(0x0001, 2, *text("N")), (0x0002, 5, 3, struct.pack("<6I", 51, 1, 30, 1, 0, 1))],
        gps_at,
    )
    ifd0_entries[3] = (0x8769, 4, 1, struct.pack("<I", exif_at))
    ifd0_entries[4] = (0x8825, 4, 1, struct.pack("<I", gps_at))
    table, data = ifd(ifd0_entries, 8)
    tiff = b"II*\0" + struct.pack("<I", 8) + table + data + b"".join(serial) + b"".join(gps)
    return b"Exif\0\0" + tiff
