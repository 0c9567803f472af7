"""Figures: each plot function returns a labelled matplotlib Figure; synthetic input is watermarked."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from analysis import plots  # noqa: E402
from analysis.errors import InputError  # noqa: E402
from analysis.series import build_series  # noqa: E402
from analysis.study import Study  # noqa: E402

PALETTE = {c.lower() for c in plots.OKABE_ITO.values()}


@pytest.fixture(scope="module")
def series(demo_panel) -> pd.DataFrame:
    return build_series(demo_panel)


@pytest.fixture(scope="module")
def real_looking(series) -> pd.DataFrame:
    """The demo series relabelled as not synthetic: the figures must then carry no watermark."""
    s = series.copy()
    s["synthetic"] = False
    s.attrs["synthetic"] = False
    return s


def texts(fig: Figure) -> list[str]:
    """Every text on the figure: figure-level texts, titles, labels, tick labels, legends."""
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [ax.get_title(loc=loc) for loc in ("left", "center", "right")]
        out += [ax.get_xlabel(), ax.get_ylabel()]
    for legend in fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]:
        out += [t.get_text() for t in legend.get_texts()]
    return [t for t in out if t]


def _is_event(line) -> bool:
    """A vertical line at 24 February 2022."""
    x = line.get_xdata()
    if len(x) != 2 or x[0] != x[1]:
        return False
    value = x[0] if isinstance(x[0], (float, np.floating)) else matplotlib.dates.date2num(pd.Timestamp(x[0]))
    return bool(np.isclose(value, matplotlib.dates.date2num(plots.EVENT_DATE)))


def check_frame(fig: Figure, *, synthetic: bool) -> None:
    """Title, a source line naming the source, labelled y axes, the watermark iff synthetic."""
    assert isinstance(fig, Figure)
    all_text = texts(fig)
    assert any(t.startswith("Source:") for t in all_text)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert visible and any(ax.get_ylabel() or ax.get_xlabel() for ax in visible)
    marked = [t for t in fig.texts if plots.SYNTHETIC_LABEL in t.get_text()]
    assert bool(marked) == synthetic
    assert fig.synthetic == synthetic


def test_plot_series_small_multiples(series):
    fig = plots.plot_series(series, group="optics", pre="2019:2021", post="2022-03:2025-06")
    check_frame(fig, synthetic=True)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    n_families = series.loc[(series["partner_code"] == 112) & (series["group"] == "optics"), "family_id"].nunique()
    assert len(panels) == n_families
    assert all(ax.get_ylabel() == "USD per month" for ax in fig.axes[::4] if ax.get_visible())
    # the 24 Feb 2022 line and the pre/post means are on every panel
    for ax in panels:
        assert any(_is_event(line) for line in ax.get_lines())
        assert len(ax.collections) >= 2  # the two window means (hlines)
    colours = {matplotlib.colors.to_hex(line.get_color()).lower() for ax in panels for line in ax.get_lines()}
    assert colours <= PALETTE


def test_plot_series_windows_come_from_the_study(series):
    """An open post window (the default study's) ends at the data's last month."""
    fig = plots.plot_series(series, Study(pre="2019:2021", post="2022-03:"), group="optics")
    check_frame(fig, synthetic=True)
    last = series["date"].max()
    assert any(f"post 2022-03 to {last:%Y-%m}" in t for t in texts(fig))
    assert all(len(ax.collections) >= 2 for ax in fig.axes if ax.get_visible())


def test_plot_series_marks_findings(series):
    findings = pd.DataFrame({"partner_code": [112], "reporter_code": [156], "family": ["HS901310"],
                             "kind": ["level_shift"], "period": ["2022-09"]})
    fig = plots.plot_series(series, families=["HS901310"], findings=findings)
    ax = fig.axes[0]
    marks = [c for c in ax.collections if c.get_offsets().shape[0] == 1]
    assert marks, "the flagged month must be marked"
    x = marks[-1].get_offsets()[0, 0]
    assert matplotlib.dates.num2date(x).strftime("%Y-%m") == "2022-09"
    assert "level shift" in texts(fig)


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
    fig = plots.plot_mirror(series)
    check_frame(fig, synthetic=True)
    assert any("data end 2021-12" in t.get_text() for ax in fig.axes for t in ax.texts)


def test_relative_ratios_forest(series):
    compare = pd.DataFrame({
        "partner_code": 112, "family": ["A", "B", "C"], "family_name": ["alpha", "beta", "gamma"],
        "kind": "dual_use", "ratio": [3.0, 1.1, 0.9], "relative_ratio": [2.5, 1.0, 0.8],
        "relative_low": [1.5, 0.7, 0.5], "relative_high": [4.0, 1.4, 1.3], "relative_q_value": [0.01, 0.9, 0.8],
        "synthetic": True})
    fig = plots.plot_relative_ratios(compare)
    check_frame(fig, synthetic=True)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1].startswith("alpha")  # largest on top
    with pytest.raises(InputError, match="lacks column"):
        plots.plot_relative_ratios(compare.drop(columns=["relative_low"]))
    with pytest.raises(InputError, match="no relative ratios"):
        plots.plot_relative_ratios(compare, focal="POL")


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
    fig = plots.plot_series(series, group="thermal")
    paths = plots.save_figure(fig, tmp_path, "thermal")
    with Image.open(paths["png"]) as im:
        im.verify()
    with Image.open(paths["png"]) as im:
        dpi = im.info.get("dpi")
        width, height = im.size
    assert dpi is not None and round(dpi[0]) == plots.DPI
    w_in, h_in = fig.get_size_inches()
    assert (width, height) == (round(w_in * plots.DPI), round(h_in * plots.DPI))
    svg = paths["svg"].read_text(encoding="utf-8")
    assert "<svg" in svg and plots.SYNTHETIC_LABEL in svg


def test_figures_show_themselves_in_jupyter(series):
    fig = plots.plot_series(series, group="thermal")
    png = fig._repr_png_()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_usd_and_ratio_labels():
    assert plots.usd_label(950) == "950"
    assert plots.usd_label(12_400) == "12.4k"
    assert plots.usd_label(3_000_000) == "3M"
    assert plots.usd_label(1.25e9) == "1.2bn"
    assert plots.ratio_label(2.0) == "2" and plots.ratio_label(0.5) == "0.5"
