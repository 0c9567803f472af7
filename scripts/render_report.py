"""Render a tradeflows report.html in headless Chromium: screenshots (PNG) and a check of what loaded.

Usage::

    python scripts/render_report.py tradeflows-report/report.html --out render/   # -> render/page-01.png, ...

The page is opened from a temporary copy with a small script appended that,
once everything has loaded, records how many images there are, how many
failed to decode (``naturalWidth == 0``), how many tables and rows the page
holds, the first element of the body, and the page height. Chromium's
``--dump-dom`` gives that record back; ``--screenshot`` then takes the page in
slices of ``--slice`` pixels (each slice a copy of the page shifted up), so a
long report becomes several readable PNGs. Prints the record as JSON and
exits 1 when an image is broken or no table rendered.

With ``--columns DIR`` it also writes every figure of the report's figures/
folder as it looks pasted into a 6.5-inch page column on a 96-dpi screen
(``DIR/<name>.png``, 624 pixels wide), to look at each one at that size; the
record counts the embedded images wider than a page column at 200 dpi
(``too_wide``, which should be 0).

Chromium: ``apt-get install chromium`` (Debian) or set ``$CHROMIUM``.
No network: the report is self-contained, and Chromium runs with networking
features off.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHECK_ID = "tf-render-check"
COLUMN_IN = 6.5
"""Width of a page column, inches: no figure may be wider (at its 200 dpi)."""
COLUMN_PX = int(COLUMN_IN * 200)
_CHECK_SCRIPT = f"""
<script>
window.addEventListener('load', function () {{
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) {{ return !(i.complete && i.naturalWidth > 0); }});
  var tables = document.querySelectorAll('table');
  var rows = document.querySelectorAll('table tbody tr');
  var first = document.body.firstElementChild;
  var narrow = imgs.filter(function (i) {{ return i.getBoundingClientRect().width < 300; }}).length;
  var tooWide = imgs.filter(function (i) {{ return i.naturalWidth > {COLUMN_PX}; }}).length;
  var out = {{images: imgs.length, broken: broken.length,
             broken_alt: broken.map(function (i) {{ return i.alt.slice(0, 80); }}),
             narrow_images: narrow, too_wide: tooWide, tables: tables.length, table_rows: rows.length,
             first_element: first ? (first.className || first.tagName) : '',
             first_text: first ? first.textContent.trim().slice(0, 160) : '',
             height: Math.max(document.body.scrollHeight, document.documentElement.scrollHeight),
             width: document.documentElement.scrollWidth}};
  var pre = document.createElement('pre');
  pre.id = '{CHECK_ID}';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}});
</script>
"""


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary: ``$CHROMIUM``, else the usual names on PATH."""
    env = os.environ.get("CHROMIUM")
    if env and shutil.which(env):
        return shutil.which(env)
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _flags(profile: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
            f"--user-data-dir={profile}"]


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _inject(html: str, extra_head: str = "", extra_body: str = "") -> str:
    if extra_head:
        html = html.replace("</head>", extra_head + "</head>", 1)
    if extra_body:
        idx = html.rfind("</body>")
        html = html[:idx] + extra_body + html[idx:] if idx >= 0 else html + extra_body
    return html


def check(html_path: Path, *, width: int = 1280, chromium: str | None = None, timeout: float = 120) -> dict:
    """Load the page in headless Chromium and return the record of what loaded (see the module docstring)."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise RuntimeError("Chromium not found (apt-get install chromium, or set $CHROMIUM)")
    html = html_path.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="tf-render-") as tmp:
        tmp_path = Path(tmp)
        page = tmp_path / "check.html"
        page.write_text(_inject(html, extra_body=_CHECK_SCRIPT), encoding="utf-8")
        cmd = [chromium, *_flags(tmp_path / "profile"), f"--window-size={width},1000",
               "--virtual-time-budget=15000", "--dump-dom", page.as_uri()]
        done = _run(cmd, timeout)
    match = re.search(rf'<pre id="{CHECK_ID}">(.*?)</pre>', done.stdout, re.S)
    if not match:
        raise RuntimeError(f"Chromium gave no check record (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    text = match.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return json.loads(text)


def screenshots(html_path: Path, out_dir: Path, *, height: int, width: int = 1280, slice_px: int = 6000,
                chromium: str | None = None, timeout: float = 120) -> list[Path]:
    """PNG screenshots of the whole page in slices of ``slice_px`` pixels: out_dir/page-01.png, ..."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise RuntimeError("Chromium not found (apt-get install chromium, or set $CHROMIUM)")
    out_dir.mkdir(parents=True, exist_ok=True)
    html = html_path.read_text(encoding="utf-8")
    paths = []
    with tempfile.TemporaryDirectory(prefix="tf-render-") as tmp:
        tmp_path = Path(tmp)
        for i, top in enumerate(range(0, max(height, 1), slice_px), start=1):
            shift = f"<style>html{{overflow:hidden}} body{{margin-top:-{top}px}}</style>"
            page = tmp_path / f"slice-{i}.html"
            page.write_text(_inject(html, extra_head=shift), encoding="utf-8")
            png = out_dir / f"page-{i:02d}.png"
            rows = min(slice_px, height - top)
            cmd = [chromium, *_flags(tmp_path / "profile"), f"--window-size={width},{max(rows, 200)}",
                   "--virtual-time-budget=15000", f"--screenshot={png}", page.as_uri()]
            done = _run(cmd, timeout)
            if not png.exists():
                raise RuntimeError(f"Chromium wrote no screenshot (exit {done.returncode}): "
                                   f"{done.stderr.strip()[-500:]}")
            paths.append(png)
    return paths


def page_column_views(figures: Path, out_dir: Path, *, screen_dpi: int = 96) -> list[Path]:
    """Each PNG of a report's ``figures`` folder resized to its size pasted into a 6.5-inch page column on a
    screen of ``screen_dpi`` (a figure narrower than the column keeps its own width in inches)."""
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for png in sorted(figures.glob("*.png")):
        with Image.open(png) as im:
            dpi = float(im.info.get("dpi", (200, 200))[0])
            inches = min(im.width / dpi, COLUMN_IN)
            width = round(inches * screen_dpi)
            view = im.convert("RGB").resize((width, round(im.height * width / im.width)), Image.Resampling.LANCZOS)
        path = out_dir / png.name
        view.save(path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the report.html to render")
    parser.add_argument("--out", type=Path, default=Path("render"), help="folder for the PNG slices")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--slice", type=int, default=6000, help="height of one PNG slice in pixels")
    parser.add_argument("--check-only", action="store_true", help="only load the page and print the record")
    parser.add_argument("--columns", type=Path, default=None,
                        help="also write each figure at page-column size (6.5 in on a 96-dpi screen) into this folder")
    args = parser.parse_args(argv)
    if not args.html.is_file():
        print(f"render_report: no such file {args.html}", file=sys.stderr)
        return 2
    record = check(args.html, width=args.width)
    if not args.check_only:
        pngs = screenshots(args.html, args.out, height=int(record["height"]), width=args.width,
                           slice_px=args.slice)
        record["screenshots"] = [str(p) for p in pngs]
    if args.columns is not None:
        views = page_column_views(args.html.parent / "figures", args.columns)
        record["page_column_views"] = len(views)
    print(json.dumps(record, indent=1))
    ok = record["broken"] == 0 and record["tables"] > 0 and record["images"] > 0 and record["too_wide"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
