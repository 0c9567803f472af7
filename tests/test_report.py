"""The research report: structure, self-contained HTML, figures, tables, synthetic labelling, safe writes.

The full demo report is built once per session (fixture ``demo_report`` in
conftest.py: ``tradeflows report`` with no arguments on a fresh machine).
The browser test renders it with headless Chromium when one is installed.
"""
from __future__ import annotations

import base64
import io
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from analysis._io import check_out_dir  # noqa: E402
from analysis.errors import InputError  # noqa: E402
from analysis.pipeline import OUTPUT_FILES  # noqa: E402
from analysis.report import SYNTHETIC_BANNER, fmt  # noqa: E402
from analysis.report.document import (  # noqa: E402  # noqa: E402
    Bullets,
    Callout,
    Document,
    Figure,
    Heading,
    Paragraph,
    Table,
    inline_html,
    to_html,
    to_markdown,
)

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
SECTIONS = ["Summary", "Is it Belarus-specific?", "Anomalies", "Data", "Methods", "Appendix A: every group and family",
            "Appendix B: planted effects in the synthetic panel", "Reproduce"]


class _Page(HTMLParser):
    """Collects images, tables, headings, the first body element and external references of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict] = []
        self.tables = 0
        self.headings: list[tuple[str, str]] = []
        self.external: list[str] = []
        self.first_body_child: dict | None = None
        self._in_body = False
        self._heading: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self._in_body = True
            return
        if self._in_body and self.first_body_child is None:
            self.first_body_child = {"tag": tag, **a}
        if tag == "img":
            self.images.append(a)
        if tag == "table":
            self.tables += 1
        if tag in ("h1", "h2", "h3"):
            self._heading, self._text = tag, []
        for key in ("src", "href"):
            v = a.get(key, "")
            if v and not v.startswith(("data:", "#")):
                self.external.append(v)
        if tag in ("link", "script", "iframe", "object"):
            self.external.append(tag)

    def handle_data(self, data):
        if self._heading:
            self._text.append(data)

    def handle_endtag(self, tag):
        if self._heading == tag:
            self.headings.append((tag, "".join(self._text).strip()))
            self._heading = None


@pytest.fixture(scope="module")
def report(demo_report) -> Path:
    status, _, err, folder = demo_report
    assert status == 0, err
    return folder


@pytest.fixture(scope="module")
def page(report) -> _Page:
    parser = _Page()
    parser.feed((report / "report.html").read_text(encoding="utf-8"))
    return parser


# --------------------------------------------------------------------------- the demo report

def test_folder_layout(report):
    assert (report / "report.html").is_file() and (report / "report.md").is_file()
    assert sorted(p.name for p in (report / "tables").iterdir()) == sorted(OUTPUT_FILES)
    pngs = sorted(p.stem for p in (report / "figures").glob("*.png"))
    svgs = sorted(p.stem for p in (report / "figures").glob("*.svg"))
    assert len(pngs) >= 20 and set(svgs) < set(pngs)  # SVG for the brief's figures only
    assert {"relative_ratios", "transit", "event_study"} <= set(svgs) and not {"group_index", "mirror"} & set(svgs)
    for png in (report / "figures").glob("*.png"):
        with Image.open(png) as im:
            assert round(im.info["dpi"][0]) == 200
    assert not list(report.parent.glob(".tradeflows-report.*")), "no staging folder may be left behind"


def test_synthetic_banner_comes_first(page, report):
    first = page.first_body_child
    assert first is not None and first.get("class") == "banner"
    html = (report / "report.html").read_text(encoding="utf-8")
    body = html[html.index("<body>"):]
    assert body.index("SYNTHETIC DATA") < body.index("<h1>")
    md = (report / "report.md").read_text(encoding="utf-8")
    assert md.splitlines()[0].startswith("> **⚠ SYNTHETIC DATA")


def test_every_image_is_an_embedded_png_or_svg(page, report):
    assert len(page.images) >= 20
    sizes = []
    for img in page.images:
        src = img["src"]
        m = re.match(r"data:(image/png|image/svg\+xml);base64,(.+)$", src, re.S)
        assert m, src[:60]
        data = base64.b64decode(m.group(2), validate=True)
        if m.group(1) == "image/png":
            with Image.open(io.BytesIO(data)) as im:
                im.verify()
            with Image.open(io.BytesIO(data)) as im:
                sizes.append(im.size)
        else:
            assert b"<svg" in data[:2000]
        assert img.get("alt")
    assert page.external == [], "the HTML must load nothing from outside itself"
    files = []
    for png in (report / "figures").glob("*.png"):
        with Image.open(png) as im:
            files.append(im.size)
    assert sorted(sizes) == sorted(files), "each figure is embedded at its full 200 dpi size"


def test_sections_in_order_and_tables(page):
    h2 = [text for tag, text in page.headings if tag == "h2"]
    positions = [h2.index(s) for s in SECTIONS]
    assert positions == sorted(positions)
    assert page.tables >= 10
    h3 = [text for tag, text in page.headings if tag == "h3"]
    assert "Optical sights and optics" in h3 and "Limits of the data" in h3
    assert "With the transit routes, or alone?" in h3


def _section(md: str, title: str) -> str:
    return md.split(f"## {title}", 1)[1].split("\n## ", 1)[0].strip()


def test_summary_is_a_short_brief_with_numbers(report):
    md = (report / "report.md").read_text(encoding="utf-8")
    summary = _section(md, "Summary")
    bullets = [line for line in summary.splitlines() if line.startswith("- ")]
    assert 4 <= len(bullets) <= 6, bullets
    assert "SYNTHETIC" in summary.split("\n- ", 1)[0]
    assert re.search(r"USD \d", summary) and "×" in summary and "q < 0.05" in summary
    assert re.search(r"95% interval \d", summary)
    assert summary.count("**Caveats.**") == 1


def test_brief_before_the_appendix_is_short(report):
    """The brief (everything before the Data section) stays short: the long tables are in the appendix."""
    md = (report / "report.md").read_text(encoding="utf-8")
    brief = re.split(r"\n## (?:Who supplies|Data)", md, maxsplit=1)[0]
    assert len(brief.splitlines()) < 160
    assert brief.count("**Table ") <= 4
    captions = re.findall(r"^\*\*Figure \d+\.\*\* (.+)$", md, flags=re.M)
    assert len(captions) == len(set(captions)), "a figure caption is repeated"


def test_summary_states_the_correction_it_made(report):
    """The BH family count in the Summary is the focal partner's number of tests in compare.csv."""
    md = (report / "report.md").read_text(encoding="utf-8")
    compare = pd.read_csv(report / "tables" / "compare.csv")
    n = int(compare.loc[compare["partner_code"] == 112, "relative_p_value"].notna().sum())
    assert f"over Belarus's {n} family tests" in _section(md, "Summary")


def test_cli_and_report_count_the_same_families(demo_report):
    """The command prints the Summary's count in the Summary's words (same families, same correction)."""
    status, out, _, folder = demo_report
    summary = _section((folder / "report.md").read_text(encoding="utf-8"), "Summary")
    pattern = (r"(\d+) of the (\d+) dual-use families with a relative ratio rose significantly more for Belarus than "
               r"for the comparison partners \(Benjamini-Hochberg q < 0.05 over Belarus's (\d+) family tests")
    said = re.search(pattern, out)
    assert said, out
    written = re.search(pattern, summary.replace("\n", " "))
    assert written and said.groups() == written.groups()


def test_data_section_states_the_limits(report):
    md = (report / "report.md").read_text(encoding="utf-8")
    data = _section(md, "Data")
    for needle in ("own records (mirror data) run to 2021-12", "FOB", "CIF", "January and February",
                   "Confidential", "HS 2017", "HS 2022", "correlation tables", "converted copy"):
        assert needle in data, needle


def test_appendix_checks_every_planted_kind(report):
    from analysis.demo import ground_truth

    md = (report / "report.md").read_text(encoding="utf-8")
    appendix = _section(md, "Appendix B: planted effects in the synthetic panel")
    for kind in ground_truth()["kind"].unique():
        assert f"| {kind.replace('_', ' ')}" in appendix, kind
    assert "no check for this kind" not in appendix


def test_reproduce_command_names_the_demo(report):
    md = (report / "report.md").read_text(encoding="utf-8")
    assert "`tradeflows report --demo --pre 2019-01:2021-12 --post 2022-03:" in _section(md, "Reproduce")


def test_markdown_figures_exist(report):
    md = (report / "report.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((figures/[^)]+)\)", md)
    assert links and all((report / link).is_file() for link in links)
    assert md.count("![") == len(list((report / "figures").glob("*.png")))


def test_tables_carry_the_synthetic_flag(report):
    for name in ("compare.csv", "findings.csv", "families.csv"):
        table = pd.read_csv(report / "tables" / name)
        assert "synthetic" in table.columns and table["synthetic"].all(), name


@pytest.mark.skipif(sys.platform == "win32", reason="headless Chromium flags are for Linux/macOS")
def test_renders_in_headless_chromium(report, tmp_path):
    sys.path.insert(0, str(SCRIPTS))
    try:
        import render_report
    finally:
        sys.path.remove(str(SCRIPTS))
    if render_report.find_chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    html = report / "report.html"
    record = render_report.check(html)
    assert record["broken"] == 0, record["broken_alt"]
    assert record["images"] == html.read_text(encoding="utf-8").count("<img ")
    assert record["narrow_images"] == 0
    assert record["tables"] >= 10 and record["table_rows"] > 100
    assert record["first_element"] == "banner" and record["first_text"].startswith("SYNTHETIC DATA")
    assert record["width"] <= 1300, "no table or figure may widen the page beyond the window"
    shots = render_report.screenshots(html, tmp_path, height=2000, slice_px=2000)
    with Image.open(shots[0]) as im:
        rgb = im.convert("RGB")
        assert rgb.size == (1280, 2000)
        banner = rgb.getpixel((20, 20))
        assert banner[0] > 180 and banner[2] < 80, f"the orange banner must be on top, got {banner}"
        assert len(rgb.resize((64, 100)).getcolors(maxcolors=10_000)) > 20, "the page must not render blank"


# --------------------------------------------------------------------------- writing safely

def test_out_dir_checks(tmp_path):
    with pytest.raises(InputError, match="parent folder .* does not exist"):
        check_out_dir(tmp_path / "missing" / "report", "report")
    stranger = tmp_path / "notes"
    stranger.mkdir()
    (stranger / "mine.txt").write_text("keep me")
    with pytest.raises(InputError, match="not empty"):
        check_out_dir(stranger, "report")
    assert (stranger / "mine.txt").read_text() == "keep me"
    assert check_out_dir(tmp_path / "new", "report") == (tmp_path / "new").absolute()


def test_failed_report_leaves_earlier_report_untouched(report, tmp_path, monkeypatch):
    import shutil

    from analysis import report as report_pkg

    earlier = tmp_path / "earlier"
    shutil.copytree(report, earlier)
    before = {p.relative_to(earlier): p.read_bytes() for p in earlier.rglob("*") if p.is_file()}

    class Boom(RuntimeError):
        pass

    def explode(*args, **kwargs):
        raise Boom("drawing failed")

    monkeypatch.setattr(report_pkg.Drawing, "collect", explode)
    result = _small_result()
    with pytest.raises(Boom):
        report_pkg.write_report(result, earlier)
    after = {p.relative_to(earlier): p.read_bytes() for p in earlier.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".earlier.")]


def _small_result():
    """A quick analysis: the demo panel cut to two dual-use groups and the control goods."""
    from analysis.demo import load_demo
    from analysis.pipeline import analyze
    from analysis.series import build_series

    series = build_series(load_demo())
    series = series[series["group"].isin(["optics", "microelectronics", "control_consumer"])]
    return analyze(series.reset_index(drop=True), cross_check="none")


def test_real_data_report_has_no_synthetic_marks(tmp_path):
    """Records not marked synthetic (here the demo relabelled) give a report without banner or watermark."""
    from analysis.demo import load_demo
    from analysis.pipeline import analyze
    from analysis.provenance import describe_source
    from analysis.report import write_report
    from analysis.series import build_series

    records = load_demo()
    records = records[records["cmdCode"].str.startswith(("9013", "9015", "9503", "8542"))].copy()
    records["synthetic"] = False
    records.attrs["synthetic"] = False
    result = analyze(build_series(records), cross_check="none")
    assert not result.synthetic
    out = write_report(result, tmp_path / "real", source=describe_source(records, origin="frame"), top_anomalies=1,
                       workers=1)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "SYNTHETIC" not in html and 'class="banner"' not in html
    assert "SYNTHETIC" not in (out / "report.md").read_text(encoding="utf-8")
    for svg in (out / "figures").glob("*.svg"):
        assert "SYNTHETIC" not in svg.read_text(encoding="utf-8"), svg.name
    assert "UN Comtrade" in html


# --------------------------------------------------------------------------- document and formatting

def test_document_renders_both_ways(tmp_path):
    img = Image.new("RGB", (40, 30), (0, 114, 178))
    png = tmp_path / "f.png"
    img.save(png)
    svg = tmp_path / "f.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="3"/>', encoding="utf-8")
    doc = Document("Title <x>", "sub")
    doc.add(Heading("One"), Paragraph("a **bold** and *it* with `code` & <script>"), Callout("careful"),
            Bullets(["x", "y"]), Table(pd.DataFrame({"name": ["a|b"], "value": ["×2.50 (1.10–3.00)"]}), caption="T"),
            Heading("Two"), Heading("Three"), Figure("f", "A caption", png, svg))
    html = to_html(doc, banner="SYNTHETIC DATA: test")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<strong>bold</strong>" in html and "<em>it</em>" in html and "<code>code</code>" in html
    assert html.index('class="banner"') < html.index("<h1>")
    assert '<td class="num">' in html and '<nav class="toc">' in html
    assert html.count("data:image/png;base64,") == 1
    md = to_markdown(doc, banner="SYNTHETIC DATA: test")
    assert md.startswith("> **⚠ SYNTHETIC DATA: test**")
    assert "| a\\|b |" in md and "![A caption](figures/f.png)" in md and "**Figure 1.** A caption" in md
    assert "|:---|---:|" in md


def test_inline_markup_is_escaped():
    assert inline_html("1 < 2 & **b**") == "1 &lt; 2 &amp; <strong>b</strong>"


def test_number_formats():
    assert fmt.usd(3_275_466_377) == "USD 3.28bn"
    assert fmt.usd(12_400, unit=False) == "12.4k"
    assert fmt.usd(float("nan")) == "n/a"
    assert fmt.ratio_ci(2.5226, 1.8627, 3.4154) == "×2.52 (1.86–3.42)"
    assert fmt.ratio(0.0) == "×0" and fmt.ratio(None) == "n/a"
    assert fmt.pvalue(0.0004) == "<0.001" and fmt.pvalue(0.0123) == "0.01" and fmt.pvalue(0.004) == "0.004"
    assert fmt.score(float("inf")) == ">37" and fmt.score(7.44) == "7.4"
    assert fmt.join(["a", "b", "c"]) == "a, b and c"
    assert fmt.join(["China, Hong Kong SAR", "Georgia", "Tajikistan"]) == "China, Hong Kong SAR; Georgia and Tajikistan"


def test_synthetic_banner_text():
    assert SYNTHETIC_BANNER.startswith("SYNTHETIC DATA")
