"""The command line every validation script takes: its path flags (--bin,
--examples, --trace ...) are required and become module globals in upper
case (BIN, EXAMPLES, TRACE), its options likewise with their defaults; the
rest of the command line goes to unittest."""
import argparse
import os
import sys
import unittest


def main(paths, into, options=None, exit=True):
    """`paths`: the required path flags; `into`: the module dictionaries
    (globals(), vars(module)) that receive them; `options`: flag name ->
    default (its type is the default's)."""
    options = options or {}
    ap = argparse.ArgumentParser()
    for name in paths:
        ap.add_argument(f"--{name}", required=True)
    for name, default in options.items():
        ap.add_argument(f"--{name}", type=type(default), default=default)
    args, rest = ap.parse_known_args()
    for target in into:
        for name in paths:
            target[name.upper()] = os.path.abspath(getattr(args, name))
        for name in options:
            target[name.upper()] = getattr(args, name)
    return unittest.main(argv=[sys.argv[0], *rest], verbosity=2, exit=exit)
