"""The ``tradeflows`` command line: a thin layer over the public API in ``analysis``.

Every user error (a :class:`analysis.errors.TradeflowsError`) ends in one
line on stderr and exit status 2; ``--verbose`` shows the traceback.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import TradeflowsError


def _cmd_codes(args: argparse.Namespace) -> int:
    from . import registry

    table = registry.search_codes(args.term)
    if table.empty:
        raise TradeflowsError(f"no registry code matches {args.term!r}")
    cols = ["code", "group", "chpl_tier", "family_id", "description"]
    print(table[cols].to_string(index=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradeflows", description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="show tracebacks and details")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("codes", help="list registry groups, families and HS codes")
    p.add_argument("term", nargs="?", help="filter by code prefix or word")
    p.set_defaults(func=_cmd_codes)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TradeflowsError as exc:
        if args.verbose:
            raise
        print(f"tradeflows: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tradeflows: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
