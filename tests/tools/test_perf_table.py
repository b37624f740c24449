#!/usr/bin/env python3
"""bench/perf_table.py on small hand-made Google Benchmark JSON files: the ratios and verdicts it prints, and the
fastest-of-all-runs merge of several files. Usage: test_perf_table.py <path to bench/perf_table.py>."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = None


def bench(name, us, reps=2, **counters):
    """One repetition's entry as Google Benchmark writes it (time in µs)."""
    entry = {"name": name, "run_name": name, "run_type": "iteration", "repetitions": reps,
             "cpu_time": us, "real_time": us, "time_unit": "us"}
    entry.update(counters)
    return entry


def document(entries):
    return {"context": {"date": "2026-12-08T00:00:00+00:00", "host_name": "test", "num_cpus": 2}, "benchmarks": entries}


class PerfTable(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.dir.cleanup()

    def write(self, name, entries):
        path = os.path.join(self.dir.name, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(document(entries), f)
        return path

    def run_table(self, *args):
        out = subprocess.run([sys.executable, SCRIPT] + list(args), capture_output=True, text=True, check=True)
        return out.stdout

    def row(self, text, step, shape):
        for line in text.splitlines():
            if line.startswith("| `%s` | %s |" % (step, shape)):
                return [c.strip() for c in line.strip("|").split("|")]
        self.fail("no row for %s/%s in:\n%s" % (step, shape, text))

    def test_ratios_and_verdicts_of_one_run(self):
        path = self.write("one.json", [
            bench("copy/a_8", 130.0, target_memory=1.3), bench("copy/a_8", 120.0, target_memory=1.3),
            bench("copy/a_8/floor", 100.0), bench("copy/a_8/naive", 400.0),
            bench("copy/b_9", 140.0, target_memory=1.3), bench("copy/b_9/floor", 100.0),
            bench("method/c", 100.0, target_outside=0.1), bench("method/c/dominant", 95.0),
        ])
        text = self.run_table(path)
        a = self.row(text, "copy", "a_8")
        self.assertEqual(a[2:5], ["120.0 µs", "1.20", "0.300"])  # the faster repetition
        self.assertTrue(a[6].startswith("✓ 1.20×"), a[6])
        self.assertTrue(self.row(text, "copy", "b_9")[6].startswith("✗ 1.40×"))
        self.assertIn("✓ 5.0% ≤ 10% outside dominant", text)
        self.assertIn("2 of 3 steps with a target meet it.", text)
        misses = self.run_table(path, "--misses")
        self.assertIn("copy` | b_9", misses)
        self.assertNotIn("copy` | a_8", misses)

    def test_several_runs_take_the_fastest_of_each(self):
        first = self.write("first.json", [bench("copy/a_8", 200.0, target_memory=1.3), bench("copy/a_8/floor", 100.0)])
        second = self.write("second.json", [bench("copy/a_8", 125.0, target_memory=1.3), bench("copy/a_8/floor", 90.0)])
        text = self.run_table(first, second)
        a = self.row(text, "copy", "a_8")
        self.assertEqual(a[2:4], ["125.0 µs", "1.39"])  # 125 / 90: each at its quietest
        self.assertIn("fastest CPU time of 2 runs of 2 repetitions each", text)

    def test_missing_file_is_named(self):
        out = subprocess.run([sys.executable, SCRIPT, os.path.join(self.dir.name, "absent.json")],
                             capture_output=True, text=True)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("absent.json not found", out.stderr)


if __name__ == "__main__":
    SCRIPT = sys.argv.pop(1)
    unittest.main()
