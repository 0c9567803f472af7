"""The ``tradeflows`` command line: a thin layer over the public API in ``analysis``.

Subcommands: ``fetch`` (UN Comtrade -> store), ``import`` (files -> store),
``store`` (what is stored, provenance, checksums), ``codes`` (the HS
registry), ``analyze`` (the output tables), ``report`` (the research
report) and ``screen`` (every stored code ranked by the focal partner's own
change, read out of core). ``tradeflows report`` with no arguments on a machine with no stored
data runs everything on the embedded SYNTHETIC demo panel and says so first.

Every user error (a :class:`analysis.errors.TradeflowsError`) ends in one
line on stderr and exit status 2, without a traceback unless ``--verbose``;
a failed command leaves what was stored (store, earlier outputs) as it was.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import pandas as pd

from . import __version__
from .errors import InputError, TradeflowsError
from .outofcore import Engine
from .study import DEFAULT_POST, DEFAULT_PRE, Flow, Freq, Level
from .validation import Duplicates

if TYPE_CHECKING:
    from .provenance import Origin
    from .results import AnalysisResult, Stage
    from .store import Store
    from .study import Study

PROG = "tradeflows"
SYNTHETIC_NOTICE = "SYNTHETIC DATA: {why}, so this run uses the embedded demo panel, not real trade."


# --------------------------------------------------------------------------- output helpers

class Console:
    """Printing and progress for one command: progress bars on a terminal only, none with ``--quiet``."""

    def __init__(self, *, quiet: bool = False, verbose: bool = False) -> None:
        self.quiet, self.verbose = quiet, verbose
        self.tty = sys.stderr.isatty()

    def say(self, text: str = "") -> None:
        """Results and notices (stdout)."""
        print(text, flush=True)

    def info(self, text: str) -> None:
        """Progress remarks (stderr), dropped with --quiet."""
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def detail(self, text: str) -> None:
        """Details shown only with --verbose (stderr)."""
        if self.verbose:
            print(text, file=sys.stderr, flush=True)

    @property
    def bars(self) -> bool:
        if self.tty and not self.quiet:
            from tqdm import tqdm

            tqdm.monitor_interval = 0  # no monitor thread: the report may fork figure workers
            return True
        return False

    def progress(self, iterable: Iterable, *, desc: str, total: int | None = None, unit: str = "it") -> Iterable:
        """``iterable`` with a tqdm bar on stderr when it is a terminal (and not --quiet)."""
        if not self.bars:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False, file=sys.stderr, dynamic_ncols=True)

    def steps(self, names: list[str]) -> _Steps:
        return _Steps(self, names)


class _Steps:
    """A step-by-step progress bar for a command of a few long steps."""

    def __init__(self, console: Console, names: list[str]) -> None:
        self.bar = None
        self.console, self.started = console, time.perf_counter()
        if not console.bars:
            console.info(f"{names[0]} ...")
        else:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=len(names), desc=names[0], unit="step", leave=False, file=sys.stderr,
                            bar_format="{desc:<28} {bar} {n_fmt}/{total_fmt} [{elapsed}]", dynamic_ncols=True)

    def next(self, name: str) -> None:
        """Move to the step ``name``: the bar on a terminal, else one line per step with the time so far."""
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_description_str(name)
        else:
            self.console.info(f"{name} ... ({time.perf_counter() - self.started:.0f} s so far)")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _table(frame: pd.DataFrame, max_rows: int = 60) -> str:
    with pd.option_context("display.width", 200, "display.max_colwidth", 60, "display.max_rows", max_rows):
        return frame.to_string(index=False) if len(frame) <= max_rows else frame.head(max_rows).to_string(
            index=False) + f"\n... {len(frame) - max_rows} more rows"


# --------------------------------------------------------------------------- the study

def _study(args: argparse.Namespace) -> Study:
    """The :class:`~analysis.study.Study` the options describe (every value checked before any data is read)."""
    from .study import Study

    alpha = getattr(args, "alpha", None)
    if alpha is not None and not 0 < alpha < 1:
        raise InputError(f"--alpha must lie between 0 and 1, not {alpha}")
    try:
        return Study.resolve(reporter=args.reporter, focal=args.focal, controls=args.controls,
                             comparison=args.comparison, transit=args.transit, flow=args.flow,
                             freq=args.freq, pre=getattr(args, "pre", None), post=getattr(args, "post", None),
                             codes=args.codes, level=getattr(args, "level", None))
    except InputError as exc:
        text = str(exc)
        option = next((opt for field, opt in _OPTION_OF.items() if text.startswith(field)), None)
        raise InputError(f"{option}: {text}" if option else text) from None


_OPTION_OF = {"reporter": "--reporter", "focal partner": "--focal", "controls": "--controls", "flow": "--flow",
              "transit": "--transit", "comparison set": "--comparison",
              "freq": "--freq", "pre window": "--pre", "post window": "--post", "the pre window": "--pre",
              "the post window": "--post",
              "level": "--level"}
"""The study field an InputError names first -> the command-line option that set it."""


# --------------------------------------------------------------------------- input for analyze / report

@dataclass
class _Input:
    records: pd.DataFrame
    origin: Origin
    store: Store | None


def _load_input(args: argparse.Namespace, con: Console) -> _Input:
    """Records to analyse: the demo panel (``--demo``, or nothing stored and no ``--store``) or the store."""
    from .demo import load_demo
    from .store import Store

    if args.demo:
        con.say(SYNTHETIC_NOTICE.format(why="--demo was given"))
        return _Input(load_demo(), "demo", None)
    store = Store(args.store)
    if args.store is None and store.manifest().empty:
        con.say(SYNTHETIC_NOTICE.format(why=f"no Comtrade data are stored yet ({store.root})"))
        con.info("  (fetch or import data to analyse real trade)")
        return _Input(load_demo(), "demo", None)
    records = store.read()  # StoreError if empty, ChecksumError if damaged
    if records.empty:
        raise InputError(f"the store at {store.root} holds no records (only empty query results)")
    if bool(records["synthetic"].any()):
        con.say(SYNTHETIC_NOTICE.format(why="the store holds records marked synthetic").replace(
            "this run uses the embedded demo panel, not real trade", "results are not about real trade"))
    return _Input(records, "store", store)


def _run_analysis(args: argparse.Namespace, study: Study, inp: _Input, con: Console, steps: _Steps,
                  on_partial: Callable[[Stage, AnalysisResult], object] | None = None) -> AnalysisResult:
    from . import analyze  # the public API (analysis.analyze)

    steps.next("comparing and testing")
    result = analyze(inp.records, study, alpha=args.alpha, cross_check=args.cross_check, top_bands=args.top,
                     on_partial=on_partial)
    con.detail("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items()))
    return result


# --------------------------------------------------------------------------- commands

def _cmd_codes(args: argparse.Namespace, con: Console) -> int:
    from . import registry

    if args.groups:
        table = registry.groups()[["group", "kind", "name"]]
        if args.term:
            t = args.term.lower()
            table = table[table["group"].str.contains(t) | table["name"].str.lower().str.contains(t)]
    elif args.families:
        table = registry.families()[["family_id", "group", "h5_codes", "h6_codes", "name"]]
        if args.term:
            t = args.term.lower()
            table = table[table["family_id"].str.lower().str.contains(t) | table["name"].str.lower().str.contains(t)
                          | table["h5_codes"].str.contains(t) | table["h6_codes"].str.contains(t)
                          | table["group"].str.contains(t)]
    else:
        table = registry.search_codes(args.term)[["code", "group", "chpl_tier", "family_id", "description"]]
    if table.empty:
        raise InputError(f"no registry {'group' if args.groups else 'family' if args.families else 'code'} "
                         f"matches {args.term!r}")
    con.say(_table(table, max_rows=10_000))
    return 0


def _cmd_fetch(args: argparse.Namespace, con: Console) -> int:
    from .fetching import fetch, plan_calls

    study = _study(args)
    if args.plan:
        if args.end is None:
            raise InputError("--plan needs --end (the last period to fetch)")
        plan = plan_calls(study, start=args.start, end=args.end, suppliers=args.suppliers)
        con.say(_table(plan.drop(columns=[c for c in ("url",) if c in plan.columns]), max_rows=200))
        con.say(f"{len(plan)} call(s) planned; nothing was fetched")
        return 0
    result = fetch(study, start=args.start, end=args.end, store=args.store, refresh=args.refresh,
                   update=args.update, progress=con.bars, deadline=args.deadline, budget=args.budget,
                   suppliers=args.suppliers)
    con.say(str(result))
    return 0 if result.complete else 1


def _cmd_import(args: argparse.Namespace, con: Console) -> int:
    from .importers import import_files
    from .store import Store

    store = Store(args.store)
    with store.transaction():  # all files or none, a full disk included
        summary = import_files([Path(p) for p in args.files], store=store, duplicates=args.duplicates)
    con.say(_table(summary))
    if summary.attrs.get("synthetic"):
        con.say("Note: some imported records are marked SYNTHETIC.")
    return 0


def _cmd_store(args: argparse.Namespace, con: Console) -> int:
    from .store import Store, repair_store

    store = Store(args.store)
    if args.repair:
        done = repair_store(store.root)
        con.say(_table(done.fillna(""), max_rows=10_000))
        actions = done["action"].value_counts()
        listed = int(actions.get("listed", 0) + actions.get("listed_legacy", 0))
        con.say(f"Store {store.root}: {listed} chunk(s) listed; the manifest was "
                + ("rebuilt" if done.attrs["rewritten"] else "consistent and is unchanged"))
        if actions.get("quarantined", 0):
            con.say(f"{actions['quarantined']} file(s) set aside in {store.quarantine_dir} (kept, never deleted).")
        if actions.get("listed_legacy", 0):
            con.say(f"{actions['listed_legacy']} chunk(s) predate chunk provenance: checksum, rows, coverage and "
                    "synthetic flag were rebuilt from them; the detail column says where source, query and dates "
                    "came from, or that they are lost.")
        if actions.get("dropped", 0):
            print(f"{PROG}: error: {actions['dropped']} chunk(s) dropped from the manifest (file missing or "
                  "damaged): re-fetch or re-import them", file=sys.stderr)
            return 1
        return 0
    if args.verify:
        check = store.verify()
        if check.empty:
            con.say(f"The store at {store.root} is empty: nothing to verify.")
            return 0
        bad = check[check["status"] != "ok"]
        con.say(_table(check.fillna(""), max_rows=10_000))
        if len(bad):
            print(f"{PROG}: error: {len(bad)} of {len(check)} chunk file(s) missing, damaged or not in the "
                  f"manifest: run `tradeflows store --repair`, then re-fetch or re-import what it drops",
                  file=sys.stderr)
            return 1
        con.say(f"all {len(check)} chunk(s) match their checksums and row counts, and no chunk file is unlisted")
        return 0
    manifest = store.manifest()
    if manifest.empty:
        con.say(f"The store at {store.root} is empty: run `tradeflows fetch` or `tradeflows import` first.")
        return 0
    if args.manifest:
        cols = ["chunk_id", "source", "endpoint", "fetched_at", "rows", "published", "superseded_by", "synthetic"]
        con.say(_table(manifest[cols], max_rows=10_000))
        if args.verbose:
            for row in manifest.itertuples():
                con.say(f"{row.chunk_id}: {row.query}")
        return 0
    from .countries import area_name

    cov = store.coverage()

    def name(code) -> str:
        try:
            return f"{area_name(int(code))} ({int(code)})"
        except (InputError, ValueError, TypeError):
            return str(code)

    cov = cov.assign(reporter=cov["reporter"].map(name), partner=cov["partner"].map(name))
    con.say(f"Store {store.root}: {len(manifest)} chunk(s), {int(manifest['rows'].sum()):,} records, "
            f"fetched/imported {str(manifest['fetched_at'].min())[:10]} to {str(manifest['fetched_at'].max())[:10]}")
    if manifest["synthetic"].any():
        con.say("Some stored records are SYNTHETIC.")
    if store.quarantine_dir.is_dir() and any(store.quarantine_dir.iterdir()):
        con.say(f"Files set aside (never deleted) are in {store.quarantine_dir}: check them, then remove them.")
    con.say(_table(cov.rename(columns={"classification": "HS"}), max_rows=10_000))
    return 0


def _cmd_analyze(args: argparse.Namespace, con: Console) -> int:
    from ._io import check_out_dir

    study = _study(args)
    target = check_out_dir(args.out, "analysis")
    inp = _load_input(args, con)  # notices first, before any progress bar
    steps = con.steps(["building series", "comparing and testing", "writing tables"])
    try:
        result = _run_analysis(args, study, inp, con, steps)
        steps.next("writing tables")
        result.write(target)
    finally:
        steps.close()
    _print_summary(result, con)
    con.say(f"Tables written to {target}")
    return 0


def _print_summary(result: AnalysisResult, con: Console) -> None:
    """The headline counts, worded and counted as the report's Summary words and counts them."""
    from .report import words

    s, alpha = result.study, result.config.alpha
    compare, name = result.compare, words.name(s.focal)
    cols = ["family", "group", "ratio", "relative_ratio", "relative_low", "relative_high", "relative_q_value",
            "break_2022"]
    tested, sig, n_all = words.rises(compare, s.focal, alpha)
    con.say(f"{len(sig)} of the {len(tested)} {words.goods_noun(compare, s)} families with a relative ratio rose "
            f"significantly more for {name} than for the comparison partners (Benjamini-Hochberg q < {alpha:g} "
            f"over {name}'s {n_all} family tests):")
    if len(sig):
        con.say(_table(sig[cols].round(3), max_rows=20))
    roles = words.finding_roles(result.findings, s)
    con.say(f"{int((roles == 'question').sum())} anomaly finding(s) in {name}'s series after the break at "
            f"q < {alpha:g} ({len(result.findings)} in all, with control goods, shared events and other partners).")


def _cmd_report(args: argparse.Namespace, con: Console) -> int:
    from ._io import check_out_dir
    from .provenance import describe_source
    from .report import Drawing, write_report

    study = _study(args)
    target = check_out_dir(args.out, "report")
    inp = _load_input(args, con)  # the synthetic-data notice comes first, before any progress bar
    steps = con.steps(["building series", "comparing and testing", "drawing figures"])
    try:
        with Drawing() as drawing:  # figures are drawn as soon as the analysis has their tables
            result = _run_analysis(args, study, inp, con, steps, on_partial=drawing.partial)
            steps.next("drawing figures")
            source = describe_source(inp.records, origin=inp.origin, store=inp.store)
            path = write_report(result, target, source=source, top_anomalies=args.top, drawing=drawing,
                                progress=lambda it: con.progress(it, desc="figures", unit="fig"))
    finally:
        steps.close()
    _print_summary(result, con)
    if result.synthetic:
        con.say("The report is marked SYNTHETIC throughout.")
    con.say(f"Report written to {path / 'report.html'} (and report.md, figures/, tables/)")
    return 0


def _cmd_screen(args: argparse.Namespace, con: Console) -> int:
    from ._io import check_out_dir
    from .screen import screen_store

    study = _study(args)
    target = check_out_dir(args.out, "analysis") if args.out else None
    result = screen_store(args.store, study, engine=args.engine, scheduler=args.scheduler, workers=args.workers,
                          alpha=args.alpha, memory_limit=args.memory_limit, threads=args.threads, progress=con.info)
    if result.synthetic:
        con.say("SYNTHETIC DATA: the store holds records marked synthetic; results are not about real trade.")
    cfg = result.config
    con.say(f"{len(result.significant())} of {cfg.codes_tested} tested code families (of {cfg.codes_screened} the "
            f"focal partner trades) changed relative to the comparison partners at q < {cfg.alpha:g}; top {args.top}:")
    cols = ["rank", "family", "description", "pre_usd_month", "post_usd_month", "relative_ratio", "relative_low",
            "relative_high", "relative_q_value", "note"]
    top = result.top(args.top)[cols].assign(description=lambda t: t["description"].str.slice(0, 40))
    con.say(_table(top.round({"pre_usd_month": 0, "post_usd_month": 0, "relative_ratio": 2, "relative_low": 2,
                              "relative_high": 2, "relative_q_value": 4}), max_rows=args.top))
    if target is not None:
        result.write(target)
        con.say(f"screen.csv written to {target}")
    return 0


# --------------------------------------------------------------------------- parser

def _common(verbosity: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    if verbosity:
        g = p.add_mutually_exclusive_group()
        g.add_argument("--verbose", "-v", action="store_true", default=argparse.SUPPRESS,
                       help="show details and, on error, the traceback")
        g.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS,
                       help="no progress output")
    return p


def _store_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", metavar="DIR", help="store folder (default: $TRADEFLOWS_HOME/store, the "
                                                  "checkout's data/store, or the user data folder)")


def _study_options(p: argparse.ArgumentParser, *, out_default: str) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--demo", action="store_true", help="analyse the embedded SYNTHETIC demo panel")
    src.add_argument("--store", metavar="DIR", help="analyse the records of this store (default store: used "
                                                    "when it holds data, else the demo panel)")
    _question_options(p)
    p.add_argument("--pre", metavar="FROM:TO", help=f"before window, YYYY or YYYY-MM (default {DEFAULT_PRE})")
    p.add_argument("--post", metavar="FROM:TO", help=f"after window (default {DEFAULT_POST}, to the last month; "
                                                     "FROM: runs to the last month)")
    p.add_argument("--alpha", type=float, default=0.05, help="false discovery rate / significance (default 0.05)")
    p.add_argument("--no-cross-check", dest="cross_check", action="store_const", const="none", default="screened",
                   help="skip the statsmodels cross-check of the family DiD (did_family.csv sm_* columns)")
    p.add_argument("--top", type=int, default=6, metavar="N", help="anomalies to chart (default 6)")
    p.add_argument("--out", default=out_default, metavar="DIR", help=f"output folder (default ./{out_default})")


def _question_options(p: argparse.ArgumentParser) -> None:
    """The options of the study's question, with one name per concept (as in :class:`~analysis.study.Study`)."""
    p.add_argument("--reporter", metavar="COUNTRY", help="reporting country (default China, 156)")
    p.add_argument("--focal", "--partner", dest="focal", metavar="COUNTRY",
                   help="the focal partner (default Belarus, 112)")
    p.add_argument("--comparison", metavar="SET", help="named comparison set (default baseline: comparable "
                                                        "economies that are not transit routes; see "
                                                        "data/registry/comparison_sets.toml)")
    p.add_argument("--controls", metavar="LIST", help="your own comparison partners, comma-separated codes, ISO3 or "
                                                      "names, in place of the named set ('none' for none)")
    p.add_argument("--transit", metavar="LIST", help="the transit group shown next to the focal partner (default "
                                                     "the transit set; 'none' for none)")
    p.add_argument("--flow", choices=get_args(Flow), help="X (exports, default), M (imports), RX (re-exports) or "
                                                          "RM (re-imports), as the reporter reports them")
    p.add_argument("--freq", choices=get_args(Freq), help="M (monthly, default) or A (annual)")
    p.add_argument("--codes", "--group", dest="codes", metavar="SPEC",
                   help="HS codes (any, 2 to 6 digits), registry families or groups, comma-separated (default: "
                        "all; control goods are kept)")
    p.add_argument("--level", type=int, choices=get_args(Level), help="HS level of the series: 6 (default, with the "
                                                                      "registry's families), 4 (headings) or 2 "
                                                                      "(chapters)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="UN Comtrade trade-flow statistics: China's exports of dual-use goods to Belarus, "
                               "before and after 2022.",
        epilog="Countries: Comtrade code, ISO3 or name. Periods: YYYY or YYYY-MM; windows FROM:TO. "
               "Lists: comma-separated (--controls 616,440,398).")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--verbose", "-v", action="store_true", help="show details and, on error, the traceback")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common()

    p = sub.add_parser("fetch", parents=[common], help="fetch UN Comtrade data into the store",
                       description="Fetch China's (or --reporter's) monthly trade by HS code from UN Comtrade into "
                                   "the store. Resumable; a repeated fetch makes no calls. Uses $COMTRADE_API_KEY "
                                   "when set (keyed endpoint), else the free preview endpoint.")
    _store_option(p)
    _question_options(p)
    p.add_argument("--start", default="2017-01", help="first period (default 2017-01)")
    p.add_argument("--end", help="last period (default: the latest released)")
    p.add_argument("--refresh", action="store_true", help="fetch again what is already stored")
    p.add_argument("--update", action="store_true", help="re-fetch periods Comtrade has republished since")
    p.add_argument("--plan", action="store_true", help="print the call plan and stop (needs --end)")
    p.add_argument("--suppliers", nargs="?", const="all", metavar="LIST",
                   help="fetch who supplies the focal partner instead: every reporter's exports to it (or LIST's, "
                        "comma-separated) and its own imports, monthly and annual")
    p.add_argument("--deadline", type=float, metavar="SECONDS",
                   help="most seconds one call may take, connect to last byte (default 300)")
    p.add_argument("--budget", type=float, metavar="SECONDS",
                   help="most seconds the whole fetch may take, waits included (default 10800); a rerun resumes")
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("import", parents=[common], help="import downloaded Comtrade files into the store",
                       description="Import Comtrade+ CSV exports, API JSON responses or bulk files (optionally "
                                   "gzipped). Every file is checked before anything is written.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--duplicates", choices=get_args(Duplicates), default="error",
                   help="two different records of one cell: refuse the file (error, default), keep the first or "
                        "the last")
    _store_option(p)
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("store", parents=[common], help="what is stored: coverage, provenance, checksums",
                       description="Coverage by reporter, partner, flow, period and HS edition; --manifest for "
                                   "provenance (queries, dates); --verify to check the manifest against the chunk "
                                   "files both ways; --repair to rebuild the manifest from the chunks.")
    _store_option(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--manifest", action="store_true", help="list the stored chunks with their provenance")
    g.add_argument("--verify", action="store_true",
                   help="check every manifest entry against its chunk (checksum, rows, provenance) and report chunk "
                        "files the manifest does not list")
    g.add_argument("--repair", action="store_true",
                   help="rebuild the manifest from the chunk files; damaged or unlisted files are moved to "
                        "quarantine/, never deleted")
    p.set_defaults(func=_cmd_store)

    p = sub.add_parser("codes", parents=[common], help="list registry groups, families and HS codes",
                       description="The HS code registry: codes (default), --groups or --families, filtered by a "
                                   "code prefix or a word.")
    p.add_argument("term", nargs="?", help="filter by code prefix or word")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--groups", action="store_true", help="list the groups")
    g.add_argument("--families", action="store_true", help="list the HS 2017/2022 code families")
    p.set_defaults(func=_cmd_codes)

    p = sub.add_parser("analyze", parents=[common], help="run the analysis and write its tables",
                       description="Before/after comparison, controls (DiD, event study, triple difference) and "
                                   "anomaly tests; writes compare.csv, findings.csv, families.csv, did_family.csv, "
                                   "event_study.csv, triple_diff.csv and config.json.")
    _study_options(p, out_default="tradeflows-analysis")
    p.set_defaults(func=_cmd_analyze)

    p = sub.add_parser("report", parents=[common], help="write the research report (HTML, Markdown, figures, tables)",
                       description="Run the analysis and write report.html (self-contained), report.md, figures/ "
                                   "and tables/. With no stored data it uses the SYNTHETIC demo panel and says so.")
    _study_options(p, out_default="tradeflows-report")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("screen", parents=[common], help="rank every stored code by the focal partner's own change",
                       description="Every six-digit code the focal partner trades in the store (in the registry or "
                                   "not), ranked by its change relative to the comparison partners with compare's "
                                   "calibrated test; the store is read out of core (DuckDB, or Dask with --engine "
                                   "dask). Prints the top rows; --out writes screen.csv and config.json.")
    _store_option(p)
    _question_options(p)
    p.add_argument("--pre", metavar="FROM:TO", help=f"before window, YYYY or YYYY-MM (default {DEFAULT_PRE})")
    p.add_argument("--post", metavar="FROM:TO", help=f"after window (default {DEFAULT_POST}, to the last month)")
    p.add_argument("--alpha", type=float, default=0.05, help="false discovery rate (default 0.05)")
    p.add_argument("--engine", choices=get_args(Engine), default="local",
                   help="local (DuckDB in this process, default) or dask (a Dask cluster)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address for --engine dask (default: a "
                                                          "local cluster); every worker must see the store's folder")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="workers of the local Dask cluster (default 2)")
    p.add_argument("--memory-limit", metavar="SIZE", help="DuckDB's memory budget, e.g. 2GB (default 2GB; it spills "
                                                          "to a temporary folder beyond it)")
    p.add_argument("--threads", type=int, metavar="N", help="DuckDB threads (default: every core)")
    p.add_argument("--top", type=int, default=20, metavar="N", help="rows to print (default 20)")
    p.add_argument("--out", metavar="DIR", help="write screen.csv and config.json into this folder")
    p.set_defaults(func=_cmd_screen)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 incomplete, 2 bad input or failure)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.verbose = bool(getattr(args, "verbose", False))
    args.quiet = bool(getattr(args, "quiet", False))
    if args.verbose and args.quiet:
        parser.error("--verbose and --quiet exclude each other")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    con = Console(quiet=args.quiet, verbose=args.verbose)
    try:
        return int(args.func(args, con) or 0)
    except TradeflowsError as exc:
        if args.verbose:
            raise
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - a bug: one line unless --verbose
        if args.verbose:
            raise
        print(f"{PROG}: internal error: {type(exc).__name__}: {_one_line(exc)} (run with --verbose for the "
              "traceback)", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
