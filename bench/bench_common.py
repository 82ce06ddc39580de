"""What the Python bench scripts share: the command line that finds the
build (--bin, --python, by default this checkout's build/)."""
import argparse
import os

BUILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build")


def parser(doc):
    """An ArgumentParser described by the first line of `doc`, with --bin
    and --python."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(BUILD, "bin"))
    ap.add_argument("--python", default=os.path.join(BUILD, "python"))
    return ap
