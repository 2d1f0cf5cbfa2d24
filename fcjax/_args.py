"""The command line's argument types and its parser: one line per bad argument (the error contract of
:mod:`fcjax.cli`), output paths with ``~`` expanded, bounded integers, ``--wait``."""

from __future__ import annotations

import argparse
import os
import re
import sys

from fcjax import errors


def say(*args) -> None:
  """One line on stderr (flushed): how the command line speaks."""
  print(*args, file=sys.stderr, flush=True)


def out_path(text: str) -> str:
  """An argparse ``type`` for output paths: ``~`` expanded (also when quoted), so that the path checked is the path
  written."""
  return os.path.expanduser(text)


def positive_int(opt: str, cap: int):
  """An argparse ``type`` for ``opt``: an integer in [1, cap] (0, negatives, NaN, words and absurd values stop at
  parsing, before any work)."""
  def parse(text: str) -> int:
    try:
      v = int(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f"{opt} must be a positive integer, got {text!r}") from None
    if v < 1:
      raise argparse.ArgumentTypeError(f"{opt} must be a positive integer, got {text!r}")
    if v > cap:
      raise argparse.ArgumentTypeError(f"{opt} {v} is unreasonably large (at most {cap})")
    return v
  return parse


class Parser(argparse.ArgumentParser):
  """argparse with fcjax's error contract: one line ``fcjax: error: <message> (see <command> --help)`` on stderr,
  exit status 2, no usage block; a mistyped choice (command, --pick, --format, ...) names the closest valid one."""

  def error(self, message: str):
    m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if m:
      message += errors.did_you_mean(m.group(1), re.findall(r"'([^']*)'", m.group(2)) or m.group(2).split(", "))
    say(f"fcjax: error: {errors.one_line(message)} (see {self.prog} --help)")
    sys.exit(2)


def add_wait_arg(p: argparse.ArgumentParser) -> None:
  p.add_argument("--wait", action="store_true", help="when another fcjax run is writing --out, wait for it to finish "
                                                      "(default: stop at once, naming it)")
