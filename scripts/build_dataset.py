#!/usr/bin/env python3
"""Rebuild the bundled flag data set in ../flags from the flag-icons npm package.

Usage (from the repository root):

    npm pack flag-icons@7.5.0 && tar xzf flag-icons-7.5.0.tgz
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install cairosvg pillow
    /tmp/venv/bin/python scripts/build_dataset.py package

For each code in flags/country_codes.txt it renders the 4x3 SVG of flag-icons
to a 480x360 PNG with cairosvg, converts it to a 256-colour GIF with Pillow and
writes flags/<cc>/<cc>.gif and flags/<cc>/metadata.json. The output is
deterministic for the same inputs and library versions.
"""

import io
import json
import sys
from pathlib import Path

import cairosvg
from PIL import Image

WIDTH, HEIGHT = 480, 360
ROOT = Path(__file__).resolve().parent.parent
FLAGS = ROOT / "flags"

# Country-code top-level domains that differ from the ISO code.
TLD_EXCEPTIONS = {"gb": ".uk"}

# Shorter common names where flag-icons uses the long ISO form.
NAME_OVERRIDES = {
    "bo": "Bolivia",
    "cd": "Democratic Republic of the Congo",
    "cg": "Republic of the Congo",
    "fm": "Micronesia",
    "ir": "Iran",
    "kp": "North Korea",
    "kr": "South Korea",
    "la": "Laos",
    "md": "Moldova",
    "ru": "Russia",
    "sy": "Syria",
    "tz": "Tanzania",
    "ve": "Venezuela",
    "vn": "Vietnam",
    "gb": "United Kingdom",
    "us": "United States",
    "va": "Vatican City",
}


def main(package_dir: str) -> int:
    package = Path(package_dir)
    countries = {c["code"]: c for c in json.loads((package / "country.json").read_text())}
    codes = (FLAGS / "country_codes.txt").read_text().split()
    for code in codes:
        cc = code.lower()
        svg = (package / "flags" / "4x3" / f"{cc}.svg").read_bytes()
        png = cairosvg.svg2png(bytestring=svg, output_width=WIDTH, output_height=HEIGHT)
        image = Image.open(io.BytesIO(png)).convert("RGB")
        gif = image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        out = FLAGS / cc
        out.mkdir(parents=True, exist_ok=True)
        gif.save(out / f"{cc}.gif", format="GIF", optimize=True)
        name = NAME_OVERRIDES.get(cc, countries[cc]["name"])
        metadata = {"tld_cc": TLD_EXCEPTIONS.get(cc, f".{cc}"), "iso_cc": code.upper(), "country": name}
        (out / "metadata.json").write_text(json.dumps(metadata, ensure_ascii=False) + "\n")
    print(f"wrote {len(codes)} flags to {FLAGS}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: build_dataset.py FLAG_ICONS_PACKAGE_DIR")
    sys.exit(main(sys.argv[1]))
