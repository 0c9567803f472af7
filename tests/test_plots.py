"""Figures: each plot function returns a labelled matplotlib Figure that pastes into a 6.5-inch page column.

Every figure drawn here is checked by :func:`check_page`: at most 6.5 x 9 inches,
every text at least 8 points, none cut with "..." and none outside the figure,
legends clear of the axes, log axes with at least three labelled ticks.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from panels import other_panel  # noqa: E402
from PIL import Image  # noqa: E402

from analysis import plots  # noqa: E402
from analysis.errors import InputError  # noqa: E402
from analysis.plots.layout import _log_ticks  # noqa: E402  (a private helper, tested where it lives)
from analysis.series import build_series  # noqa: E402
from analysis.study import Study  # noqa: E402

PALETTE = {c.lower() for c in plots.OKABE_ITO.values()}
RUSSIA = 643


@pytest.fixture(scope="module")
def series(demo_series) -> pd.DataFrame:
    return demo_series


@pytest.fixture(scope="module")
def real_looking(series) -> pd.DataFrame:
    """The demo series relabelled as not synthetic: the figures must then carry no watermark."""
    s = series.copy()
    s["synthetic"] = False
    s.attrs["synthetic"] = False
    return s


@pytest.fixture(scope="module")
def other_series() -> pd.DataFrame:
    """SYNTHETIC: three HS6 codes outside the registry, 39 partners, monthly 2017-2024 (tests/panels.py)."""
    return build_series(other_panel("M"))


@pytest.fixture(scope="module")
def other_annual() -> pd.DataFrame:
    return build_series(other_panel("A"), freq="A")


@pytest.fixture(scope="module")
def other_result(other_series):
    """The analysis of the non-registry panel for Russia (two detectors keep it to a few seconds)."""
    import analysis

    return analysis.analyze(other_series, focal=RUSSIA, cross_check="none",
                            detectors=["level_shift", "counterfactual_excess"])


ANNUAL = Study(focal=RUSSIA, freq="A", pre="2019:2021", post="2022:2024")


def texts(fig: Figure) -> list[str]:
    """Every text on the figure (figure texts, titles, labels, legends), wrapped lines joined by spaces."""
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [ax.get_title(loc=loc) for loc in ("left", "center", "right")]
        out += [ax.get_xlabel(), ax.get_ylabel()]
    for legend in fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]:
        out += [t.get_text() for t in legend.get_texts()]
    return [t.replace("\n", " ") for t in out if t]


def _drawn(fig: Figure):
    """The renderer of the figure drawn at 72 dpi (1 pixel = 1 point), for measuring what is on it."""
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(72)
    canvas.draw()
    return canvas.get_renderer()


def _shown_texts(fig: Figure) -> list[Text]:
    """The texts a drawing shows: every visible text of the figure, tick labels only where a tick is drawn
    (inside its axis's view; matplotlib keeps labels for ticks just outside it, undrawn)."""
    ticks: dict[int, bool] = {}
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                inside = lo - 1e-9 * abs(hi - lo) <= tick.get_loc() <= hi + 1e-9 * abs(hi - lo)
                for label in (tick.label1, tick.label2):
                    ticks[id(label)] = inside and ax.get_visible()
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and ticks.get(id(t), True)
            and (t.axes is None or t.axes.get_visible())]


def check_page(fig: Figure) -> None:
    """The figure pastes into a page column: size, fonts, nothing cut or outside, legends clear, log ticks."""
    width, height = fig.get_size_inches()
    assert width <= plots.PAGE_WIDTH + 1e-9 and height <= plots.MAX_HEIGHT + 1e-9, (width, height)
    renderer = _drawn(fig)
    frame = fig.bbox
    shown = _shown_texts(fig)
    assert shown
    for t in shown:
        assert t.get_fontsize() >= plots.MIN_FONT, (t.get_text(), t.get_fontsize())
        assert not t.get_text().rstrip().endswith(("...", "…")), t.get_text()
        box = t.get_window_extent(renderer)
        assert box.x0 >= frame.x0 - 1 and box.x1 <= frame.x1 + 1 and box.y0 >= frame.y0 - 1 \
            and box.y1 <= frame.y1 + 1, f"{t.get_text()!r} runs off the figure: {box} in {frame}"
    axes_boxes = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible()]
    for legend in fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]:
        box = legend.get_window_extent(renderer)
        assert not any(box.overlaps(a) for a in axes_boxes), "a legend sits over the data"
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale == "log":
                lo, hi = sorted(axis.get_view_interval())
                labelled = [t for t in axis.get_major_ticks() if t.label1.get_text()
                            and lo <= t.get_loc() <= hi]
                assert len(labelled) >= 3, f"log axis with {len(labelled)} labelled ticks"


def check_frame(fig: Figure, *, synthetic: bool) -> None:
    """Title, a source line naming the source, labelled y axes, the watermark iff synthetic; fits the page."""
    assert isinstance(fig, Figure)
    all_text = texts(fig)
    assert any(t.startswith("Source:") for t in all_text)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert visible and any(ax.get_ylabel() or ax.get_xlabel() for ax in visible)
    marked = [t for t in fig.texts if plots.SYNTHETIC_LABEL in t.get_text()]
    assert bool(marked) == synthetic
    assert fig.synthetic == synthetic
    check_page(fig)


def _window_means(ax) -> list:
    """The horizontal segments of the pre and post window means on a series panel."""
    return [ln for ln in ax.get_lines() if len(ln.get_ydata()) == 2 and ln.get_ydata()[0] == ln.get_ydata()[1]
            and matplotlib.colors.to_hex(ln.get_color()).lower() == plots.CONTROL_COLOR.lower()]


def _is_event(line) -> bool:
    """A vertical line at 24 February 2022."""
    x = line.get_xdata()
    if len(x) != 2 or x[0] != x[1]:
        return False
    value = x[0] if isinstance(x[0], (float, np.floating)) else mdates.date2num(pd.Timestamp(x[0]))
    return bool(np.isclose(value, mdates.date2num(plots.EVENT_DATE)))


# --------------------------------------------------------------------------- text and axes helpers

def test_wrap_text_never_cuts():
    text = "Other optical measuring or checking instruments (not for semiconductor wafer inspection) (HS903149)"
    lines = plots.wrap_text(text, 1.6)
    assert len(lines) > 1 and " ".join(lines) == text
    assert all(plots.text_width(line) <= 1.6 for line in lines)
    long_word = "x" * 80
    assert "".join(plots.wrap_text(long_word, 1.0)) == long_word


@pytest.mark.parametrize(("lo", "hi"), [(0.8, 1.3), (0.95, 1.05), (0.5, 15), (0.01, 1e4), (40, 600)])
def test_log_ticks_at_least_three(lo, hi):
    new_lo, new_hi, ticks = _log_ticks(lo, hi)
    inside = [t for t in ticks if new_lo <= t <= new_hi]
    assert 3 <= len(inside) <= 7
    assert new_lo <= lo and new_hi >= hi


def test_break_line_comes_from_the_study():
    assert plots.break_mark(Study()) == (plots.EVENT_DATE, "24 Feb 2022")
    when, label = plots.break_mark(Study(post="2023-01:"))
    assert when < pd.Timestamp("2023-01-01") and "2023-01" in label and "Feb 2022" not in label
    when, label = plots.break_mark(ANNUAL)
    assert pd.Timestamp("2021-01-01") < when < pd.Timestamp("2022-01-01") and label == "post window from 2022"


# --------------------------------------------------------------------------- time series

def test_plot_series_small_multiples(series):
    fig = plots.plot_series(series, group="optics", pre="2019:2021", post="2022-03:2025-06")
    check_frame(fig, synthetic=True)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    n_families = series.loc[(series["partner_code"] == 112) & (series["group"] == "optics"), "family_id"].nunique()
    left_out = n_families - len(panels)
    assert len(panels) >= 12 and left_out >= 0
    assert bool(fig.notes) == (left_out > 0)  # a family left out is named in the notes (the caption)
    assert [ax.get_ylabel() for ax in panels if ax.get_ylabel()] == ["USD per month"]
    # the 24 Feb 2022 line and the pre/post means are on every panel; no panel title is cut
    for ax in panels:
        assert any(_is_event(line) for line in ax.get_lines())
        assert len(_window_means(ax)) == 2
        assert "(HS" in ax.get_title(loc="left").replace("\n", " ") or "(F" in ax.get_title(loc="left")
    colours = {matplotlib.colors.to_hex(line.get_color()).lower() for ax in panels for line in ax.get_lines()}
    assert colours <= PALETTE


def test_plot_series_windows_come_from_the_study(series):
    """An open post window (the default study's) ends at the data's last month."""
    fig = plots.plot_series(series, Study(pre="2019:2021", post="2022-03:"), group="optics")
    check_frame(fig, synthetic=True)
    last = series["date"].max()
    assert any(f"post 2022-03 to {last:%Y-%m}" in t for t in texts(fig))
    assert all(len(_window_means(ax)) == 2 for ax in fig.axes if ax.get_visible())


def test_plot_series_marks_findings(series):
    findings = pd.DataFrame({"partner_code": [112], "reporter_code": [156], "family": ["HS901310"],
                             "kind": ["level_shift"], "period": ["2022-09"]})
    fig = plots.plot_series(series, families=["HS901310"], findings=findings)
    check_page(fig)
    ax = fig.axes[0]
    marks = [c for c in ax.collections if c.get_offsets().shape[0] == 1]
    assert marks, "the flagged month must be marked"
    x = marks[-1].get_offsets()[0, 0]
    assert mdates.num2date(x).strftime("%Y-%m") == "2022-09"
    assert "level shift" in texts(fig)


def test_annual_series_are_drawn_with_yearly_points(other_annual):
    fig = plots.plot_series(other_annual, ANNUAL)
    check_frame(fig, synthetic=True)
    ax = [a for a in fig.axes if a.get_visible()][0]
    value_line = max(ax.get_lines(), key=lambda ln: len(ln.get_xdata()))
    assert value_line.get_marker() == "o" and len(value_line.get_xdata()) == 8  # 2017-2024, one point a year
    assert "USD per year" in texts(fig)
    assert not any("Feb 2022" in t for t in texts(fig))
    assert "post window from 2022" in texts(fig)
    fig = plots.plot_group_index(other_annual, ANNUAL)
    check_frame(fig, synthetic=True)
    assert any("Yearly value" in t for t in texts(fig))
    assert "Outside the registry" in texts(fig)


def test_no_watermark_for_real_data(real_looking):
    fig = plots.plot_series(real_looking, group="lasers")
    check_frame(fig, synthetic=False)
    assert not any("SYNTHETIC" in t for t in texts(fig))
    assert any("UN Comtrade, China as reporter" in t for t in texts(fig))


def test_group_index_and_mirror(series):
    fig = plots.plot_group_index(series, controls=[616, 440, 398])
    check_frame(fig, synthetic=True)
    assert all(ax.get_yscale() == "log" for ax in fig.axes if ax.get_visible())
    assert "3 comparison partners combined" in texts(fig)
    n_groups = series["group"].nunique()
    titles = [ax.get_title(loc="left").replace("\n", " ") for ax in fig.axes if ax.get_visible()]
    assert len(titles) == n_groups and all(not t.endswith("…") for t in titles)
    fig = plots.plot_mirror(series)
    check_frame(fig, synthetic=True)
    assert any("records end 2021-12" in t for t in texts(fig))


# --------------------------------------------------------------------------- estimates

def _forest_rows(**extra) -> pd.DataFrame:
    return pd.DataFrame({
        "partner_code": 112, "family": ["A", "B", "C"], "family_name": ["alpha", "beta", "gamma"],
        "kind": "dual_use", "ratio": [3.0, 1.1, 0.9], "relative_ratio": [2.5, 1.0, 0.8],
        "relative_low": [1.5, 0.7, 0.5], "relative_high": [4.0, 1.4, 1.3], "relative_q_value": [0.01, 0.9, 0.8],
        "synthetic": True, **extra})


def test_relative_ratios_forest():
    compare = _forest_rows()
    fig = plots.plot_relative_ratios(compare)
    check_frame(fig, synthetic=True)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0].startswith("alpha")  # largest on top
    assert not fig.notes  # every interval inside the frame
    with pytest.raises(InputError, match="lacks column"):
        plots.plot_relative_ratios(compare.drop(columns=["relative_low"]))
    with pytest.raises(InputError, match="no relative ratios"):
        plots.plot_relative_ratios(compare, focal="POL")


def test_an_interval_beyond_the_frame_gets_an_arrow_and_a_note():
    compare = _forest_rows(relative_high=[4.0, 1.4, 900.0])
    fig = plots.plot_relative_ratios(compare)
    check_page(fig)
    ax = fig.axes[0]
    arrows = [c for c in ax.collections if c.get_paths() and len(c.get_offsets()) == 1
              and np.isclose(c.get_offsets()[0, 0], ax.get_xlim()[1])]
    assert arrows, "the cut interval must end in a mark at the frame"
    assert fig.notes and "beyond the axis" in fig.notes[0]


def test_relative_ratios_of_codes_outside_the_registry(other_result):
    """Any study: a panel of three non-registry codes with Russia as the focal partner draws a forest plot."""
    table = other_result.compare
    fig = plots.plot_relative_ratios(table, focal=RUSSIA)
    check_frame(fig, synthetic=True)
    labels = " ".join(t.get_text() for t in fig.axes[0].get_yticklabels())
    for code in ("250410", "810590", "280461"):
        assert code in labels
    assert any("Russian Federation" in t for t in texts(fig)) and not any("Belarus" in t for t in texts(fig))
    fig = plots.plot_transit(table, focal=RUSSIA)
    check_frame(fig, synthetic=True)
    markers = {c.get_paths()[0].vertices.shape for c in fig.axes[0].collections if len(c.get_offsets())}
    assert len(markers) >= 3  # focal, comparison and transit partners


def test_transit_chart_reads_the_table():
    compare = pd.DataFrame({
        "partner_code": 112, "family": ["A", "B"], "family_name": ["alpha", "beta"], "kind": "dual_use",
        "ratio": [3.0, 1.2], "ratio_low": [2.0, 0.9], "ratio_high": [4.5, 1.6], "control_ratio": [1.1, 1.0],
        "transit_ratio": [2.8, np.nan], "relative_ratio": [2.7, 1.2], "relative_q_value": [0.01, 0.5],
        "synthetic": False})
    fig = plots.plot_transit(compare)
    check_frame(fig, synthetic=False)
    ax = fig.axes[0]
    points = {tuple(np.round(o, 6)) for c in ax.collections for o in c.get_offsets()}
    assert any(np.isclose(x, 2.8) for x, _ in points) and any(np.isclose(x, 1.1) for x, _ in points)
    assert any("no transit ratio" in n for n in fig.notes)
    with pytest.raises(InputError, match="no transit ratios"):
        plots.plot_transit(compare.assign(transit_ratio=np.nan))


def test_event_study_reads_quarters():
    es = pd.DataFrame({"group": "optics", "quarter": ["2021Q3", "2021Q4", "2022Q1"],
                       "reference": [False, True, False], "ratio": [0.9, 1.0, 2.0],
                       "ratio_low": [0.7, 1.0, 1.5], "ratio_high": [1.2, 1.0, 2.6], "synthetic": False})
    fig = plots.plot_event_study(es)
    check_frame(fig, synthetic=False)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert "reference quarter 2021Q4" in texts(fig)
    line = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 3][0]
    assert list(line.get_ydata()) == [0.9, 1.0, 2.0]
    with pytest.raises(InputError):
        plots.plot_event_study(es.drop(columns=["quarter"]))


# --------------------------------------------------------------------------- findings

def _finding(kind: str, period: str, **values) -> pd.Series:
    row = {"kind": kind, "partner_code": 112, "reporter_code": 156, "family": "HS901510",
           "family_name": "Rangefinders", "period": period, "observed_usd": np.nan, "expected_usd": np.nan,
           "expected_low": np.nan, "expected_high": np.nan}
    return pd.Series({**row, **values})


def test_a_level_shift_is_marked_at_its_break(series):
    f = _finding("level_shift", "2023-06", observed_usd=2.4e7, expected_usd=2.9e6, expected_low=2.1e6,
                 expected_high=4.0e6)
    fig = plots.plot_finding(series, f)
    check_frame(fig, synthetic=True)
    ax = fig.axes[0]
    at = mdates.date2num(pd.Timestamp("2023-06-01"))
    breaks = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2 and np.isclose(ln.get_xdata()[0], at)
              and matplotlib.colors.to_hex(ln.get_color()).lower() == plots.FLAG_COLOR.lower()]
    assert breaks, "the break month must be marked"
    levels = [seg for c in ax.collections for seg in getattr(c, "get_segments", list)()]
    heights = {round(float(s[0][1])) for s in levels if len(s) == 2 and np.isclose(s[0][0], at)}
    assert {24_000_000, 2_900_000} <= heights  # the two levels, drawn from the break on
    assert "break 2023-06" in texts(fig)


def test_a_spike_is_circled_and_gets_no_band(series):
    f = _finding("spike", "2019-05", observed_usd=3.0e6, expected_usd=1.5e6, expected_low=1.0e6,
                 expected_high=2.2e6)
    fig = plots.plot_finding(series, f)
    check_frame(fig, synthetic=True)
    ax = fig.axes[0]
    circles = [c for c in ax.collections if len(c.get_offsets()) == 1]
    x = circles[0].get_offsets()[0, 0]
    assert mdates.num2date(x).strftime("%Y-%m") == "2019-05"
    assert not [c for c in ax.collections if type(c).__name__ in ("PolyCollection", "FillBetweenPolyCollection")]
    assert any("spike 2019-05" in t for t in texts(fig))


def test_a_counterfactual_finding_has_its_band_and_window():
    dates = pd.date_range("2019-01-01", "2023-12-01", freq="MS")
    band = pd.DataFrame({"date": dates, "observed": np.linspace(1e5, 5e5, len(dates)), "expected": 1e5,
                         "low": 0.8e5, "high": 1.2e5, "synthetic": True})
    series = pd.DataFrame({"date": dates, "usd": band["observed"], "synthetic": True})
    f = _finding("counterfactual_excess", "2022-03", observed_usd=9e6, expected_usd=3e6)
    fig = plots.plot_finding(series, f, band=band)
    check_frame(fig, synthetic=True)
    assert "expected range (95% band)" in texts(fig)
    assert any(t.startswith("above the band") for t in texts(fig))
    with pytest.raises(InputError, match="needs its band"):
        plots.plot_finding(series, f)


def test_counterfactual_with_and_without_band():
    dates = pd.date_range("2019-01-01", "2023-12-01", freq="MS")
    band = pd.DataFrame({"date": dates, "observed": np.linspace(1e5, 5e5, len(dates)), "expected": 1e5,
                         "low": 0.8e5, "high": 1.2e5, "synthetic": True})
    fig = plots.plot_counterfactual(band, title="x", flagged=["2023-06"])
    check_frame(fig, synthetic=True)
    assert "expected range (95% band)" in texts(fig)
    bare = band.assign(expected=np.nan, low=np.nan, high=np.nan)
    fig = plots.plot_counterfactual(bare, title="new flow", synthetic=False)
    assert "expected range (95% band)" not in texts(fig)


# --------------------------------------------------------------------------- the report's plan

def test_plan_for_another_study(other_result, tmp_path):
    from analysis.report import figures as figs

    jobs, anomaly_names = figs.plan(other_result)
    names = [j.name for j in jobs]
    assert {"relative_ratios", "transit", "event_study", "group_index", "series_ungrouped"} <= set(names)
    assert "mirror" not in names  # no Russian records of the same trade in the panel
    assert anomaly_names and all(n in names for n in anomaly_names)
    core = [j.name for j in jobs if j.role == "core"]
    assert names[:len(core)] == core  # the brief's figures first
    for job in jobs:
        assert "Belarus" not in job.caption and "dual-use" not in job.caption, job.name
    from analysis.report.drawing import render

    drawn = render([j for j in jobs if j.name in ("relative_ratios", "group_index", anomaly_names[0])],
                        tmp_path, workers=1)
    assert drawn["relative_ratios"].svg is not None and drawn["group_index"].svg is None  # SVG: core only
    assert "(HS810590) to Russian Federation" in drawn[anomaly_names[0]].caption  # the planted rise, first


def test_annual_plan_draws_every_figure(other_result, other_annual, tmp_path):
    """The plan for an annual study (the monthly result's tables on the annual series, no event study, findings
    dated by year) draws every figure with yearly points, and each fits the page."""
    import dataclasses

    from analysis.report import figures as figs

    findings = other_result.findings.assign(period=other_result.findings["period"].astype(str).str[:4])
    annual = dataclasses.replace(other_result, series=other_annual, study=ANNUAL, diffindiff=None,
                                 anomalies=dataclasses.replace(other_result.anomalies, findings=findings))
    jobs, anomaly_names = figs.plan(annual)
    assert "event_study" not in [j.name for j in jobs] and anomaly_names
    for job in jobs:
        fig = job.func(**job.kwargs)
        check_page(fig)
        words = job.caption.split("Detail:")[0]  # the detail is the finding's own text
        assert "month" not in words and "quarterly" not in words, (job.name, words)
        assert not any("Feb 2022" in t or "month" in t for t in texts(fig)), job.name


def test_no_event_study_no_figure(other_result):
    """No event study (annual data, or no DiD) leaves its figure out; the rest is planned."""
    import dataclasses

    from analysis.report import figures as figs

    no_did = dataclasses.replace(other_result, diffindiff=None)
    names = [j.name for j in figs.plan(no_did)[0]]
    assert "event_study" not in names and "relative_ratios" in names


# --------------------------------------------------------------------------- output

def test_focal_as_name_iso3_or_code_draws_the_same(series):
    def drawn(fig: Figure) -> list[tuple[str, list, list]]:
        return [(ax.get_title(loc="left"), list(map(str, line.get_xdata())), list(line.get_ydata()))
                for ax in fig.axes if ax.get_visible() for line in ax.get_lines()]

    figs = [plots.plot_series(series, focal=f, group="optics", pre="2019:2021", post="2022-03:2025-06")
            for f in ("Belarus", "BLR", 112)]
    first = drawn(figs[0])
    assert first and all(drawn(f) == first for f in figs[1:])
    assert all(texts(f) == texts(figs[0]) for f in figs[1:])
    assert drawn(plots.plot_series(series, Study(focal="Belarus"), group="optics", pre="2019:2021",
                                   post="2022-03:2025-06")) == first
    assert any("to Belarus" in t for t in texts(figs[0]))
    with pytest.raises(InputError, match="unknown country"):
        plots.plot_series(series, focal="Atlantis", group="optics")
    with pytest.raises(InputError):
        plots.plot_mirror(series, focal="Atlantis")


def test_unknown_group_is_an_input_error(series):
    with pytest.raises(InputError, match="no exports"):
        plots.plot_series(series, group="no_such_group")


def test_save_figure_png_200_dpi_and_svg(series, tmp_path):
    fig = plots.plot_series(series, group="lasers")
    paths = plots.save_figure(fig, tmp_path, "lasers")
    with Image.open(paths["png"]) as im:
        im.verify()
    with Image.open(paths["png"]) as im:
        dpi = im.info.get("dpi")
        width, height = im.size
    assert dpi is not None and round(dpi[0]) == plots.DPI
    w_in, h_in = fig.get_size_inches()
    assert (width, height) == (round(w_in * plots.DPI), round(h_in * plots.DPI))
    assert width <= plots.PAGE_WIDTH * plots.DPI
    svg = paths["svg"].read_text(encoding="utf-8")
    assert "<svg" in svg and plots.SYNTHETIC_LABEL in svg
    assert set(plots.save_figure(fig, tmp_path, "png_only", svg=False)) == {"png"}


def test_png_keeps_every_pixel_as_drawn(series):
    """The PNG (the file, and the HTML's image) is the rendering itself: no palette that could turn a light
    fill, the grey of a tested window, into white."""
    import io

    fig = plots.plot_series(series, group="lasers")
    image = plots.figure_image(fig)
    with Image.open(io.BytesIO(plots.png_bytes(image))) as back:
        assert back.mode == "RGB" and round(back.info["dpi"][0]) == plots.DPI
        assert np.array_equal(np.asarray(back), np.asarray(image))


def test_figures_show_themselves_in_jupyter(series):
    fig = plots.plot_series(series, group="lasers")
    png = fig._repr_png_()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_usd_and_ratio_labels():
    assert plots.usd_label(950) == "950"
    assert plots.usd_label(12_400) == "12.4k"
    assert plots.usd_label(3_000_000) == "3M"
    assert plots.usd_label(1.25e9) == "1.2bn"
    assert plots.ratio_label(2.0) == "2" and plots.ratio_label(0.5) == "0.5"
