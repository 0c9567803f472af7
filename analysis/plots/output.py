"""A drawn figure to bytes and files: rendered once (:func:`figure_image`), then PNG (:func:`png_bytes`),
SVG (:func:`svg_bytes`) or both written to a folder (:func:`save_figure`).

Apart from the drawing: the report's workers draw and render, and this process writes the files.
"""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from .style import DPI


def figure_image(fig: Figure) -> Image.Image:
    """The figure rendered once at :data:`DPI` on white, as an RGB image (for the PNG and any copy of it)."""
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(DPI)
    # glyph hinting serves small screen sizes; at 200 dpi it only costs (a quarter of the drawing time)
    with matplotlib.rc_context({"text.hinting": "no_hinting"}):
        canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return Image.fromarray(np.ascontiguousarray(rgba[..., :3]), mode="RGB")


def png_bytes(image: Image.Image) -> bytes:
    """The PNG of a rendered figure (:func:`figure_image`): 200 dpi, full colour, every pixel as drawn.

    The same bytes are the file in figures/ and the image embedded in the
    HTML report. Not a palette: a 256-colour palette turned the light grey of
    a tested window into white (and a caption that names the grey would not
    match the mark). zlib level 2: as fast as level 1 and a little smaller;
    level 6 costs 40% more time for the same size.
    """
    buf = io.BytesIO()
    image.save(buf, format="PNG", dpi=(DPI, DPI), compress_level=2)
    return buf.getvalue()


def svg_bytes(fig: Figure) -> bytes:
    """The figure as SVG (vector: for pasting into a document at any size); no date and fixed element ids in
    it, so the same figure gives the same bytes in any process."""
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "tradeflows"}):
        fig.savefig(buf, format="svg", facecolor="white", metadata={"Date": None})
    return buf.getvalue()


def save_figure(fig: Figure, folder: str | Path, name: str, *, svg: bool = True,
                image: Image.Image | None = None) -> dict[str, Path]:
    """Write ``fig`` as ``folder/name.png`` (200 dpi, :func:`png_bytes`) and, with ``svg``, ``folder/name.svg``;
    return the paths.

    ``image``: the figure already rendered by :func:`figure_image` (rendered here otherwise), so a caller
    that also needs the pixels renders once.

    >>> paths = save_figure(fig, "figures", "optics")   # doctest: +SKIP
    >>> sorted(paths)                                    # doctest: +SKIP
    ['png', 'svg']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"png": folder / f"{name}.png"}
    paths["png"].write_bytes(png_bytes(image or figure_image(fig)))
    if svg:
        paths["svg"] = folder / f"{name}.svg"
        paths["svg"].write_bytes(svg_bytes(fig))
    return paths
