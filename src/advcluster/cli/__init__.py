"""Command line: ``advcluster COMMAND [options]``; :func:`main` is the entry point.

A command is a module of this package with ``add_<name>(subparsers)`` (its options) and
``_run_<name>(args) -> exit code``, its ``add_<name>`` listed in :data:`_COMMANDS`.

Exit codes: 0 success (an attack that ran but did not reach its goal included: the output
says ``success`` false); 2 bad arguments or input (one line on stderr starting with
``advcluster: error: ``); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from .._validation import in_words
from .args import CLI_WORDS, PROG, Parser, UsageError, cli_words
from .attack import add_attack
from .audit import add_audit
from .certify import add_certify
from .data import add_datasets, add_reproduce
from .path import add_path
from .solve import add_solve
from .sweep import add_sweep

__all__ = ["main", "build_parser", "UsageError"]

# Each entry adds one subcommand (its parser sets ``run``).
_COMMANDS = (add_solve, add_certify, add_attack, add_audit, add_path, add_datasets, add_reproduce, add_sweep)


def build_parser() -> argparse.ArgumentParser:
    """The ``advcluster`` argument parser with every subcommand."""
    parser = Parser(
        prog=PROG,
        description="Adversarial-robustness analysis of convex clustering.",
        epilog=f"'{PROG} COMMAND --help' describes a command.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for add in _COMMANDS:
        add(sub)
    return parser


def _join_signed_values(argv):
    """``--bounds -2,2`` as ``--bounds=-2,2``: argparse takes '-2,2' for an option otherwise."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--bounds" and i + 1 < len(argv) and argv[i + 1].startswith("-") and "," in argv[i + 1]:
            out.append(f"{a}={argv[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def main(argv=None) -> int:
    """Run the command line; return the exit code (0 success, 2 bad arguments or input)."""
    try:
        argv = _join_signed_values(sys.argv[1:] if argv is None else list(argv))
        args = build_parser().parse_args(argv)
        return args.run(args)
    except BrokenPipeError:  # the reader went away (e.g. '| head'): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (UsageError, ValueError, OSError) as exc:
        message = cli_words(" ".join(in_words(exc, CLI_WORDS).split())) or type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
