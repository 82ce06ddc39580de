#!/usr/bin/python3
"""examples/prinz2004_fig1c_leak_subtraction.yaml as its comments tell it,
on the rig they name (its `# rig:` line): V at
-65.0 mV with the electrode's leak subtracted, -46.4 mV when the
subtraction is set to 0 (live), -65.0 mV again at -4 nS; nothing clipped.

Usage: leak_subtraction_example_test.py --bin build/bin --examples examples
"""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protocol_run_test import Daemon, example_rig  # noqa: E402
import protocol_run_test  # noqa: E402

EXAMPLES = None
NAME = "prinz2004_fig1c_leak_subtraction.yaml"


def comment(path):
    with open(path) as f:
        return "".join(line for line in f if line.startswith("#"))


class LeakSubtractionExampleTest(unittest.TestCase):
    def test_as_the_comment_says(self):
        path = os.path.join(EXAMPLES, NAME)
        text = comment(path)
        flags = example_rig(path)
        # The values the comment promises, in its order.
        promised = [float(x) for x in re.findall(r"#\s+(-?\d+\.\d) mV", text)]
        self.assertEqual(promised, [-65.0, -46.4, -65.0])
        d = Daemon(*flags)
        try:
            def ok(*args):
                out = d.cli(*args)
                self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
                return out.stdout

            def v_now():
                time.sleep(0.3)  # the passive cell's tau: 10 ms or less
                out = ok("stream", "--signals", "cell0.v_mv", "--samples", "5")
                return [float(r.split(",")[1])
                        for r in out.strip().split("\n")[1:]]

            ok("load", path)
            ok("start")
            seen = []
            for change in (None, "0", "-4"):
                if change is not None:
                    ok("set", "leak_sub.g_ns", change)
                v = v_now()
                self.assertEqual(len(v), 5)
                seen.append(sum(v) / len(v))
            print(f"{NAME} on dynclampd {' '.join(flags)}: V "
                  + ", ".join(f"{x:.2f}" for x in seen) + " mV")
            for got, want in zip(seen, promised):
                self.assertAlmostEqual(got, want, delta=0.1)
            self.assertIn("clipped 0", ok("status"))
            ok("stop")
        finally:
            d.stop()


if __name__ == "__main__":
    protocol_run_test.main(globals(), "examples")
