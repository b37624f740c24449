#!/usr/bin/env python3
"""Render vtr's benchmark results as the markdown performance table of the README.

Usage:
    cmake --workflow --preset bench                      # builds vtr_bench, runs it through ctest, which
                                                         # writes build/bench/bench/vtr_bench.json
    python3 bench/perf_table.py                          # reads that file, prints markdown to stdout
    python3 bench/perf_table.py results.json             # any --benchmark_out=... --benchmark_out_format=json
    python3 bench/perf_table.py run1.json run2.json      # several runs of the same binary: the fastest of all
    python3 bench/perf_table.py --filter 'llava15|topk'  # only steps whose name matches a regex
    python3 bench/perf_table.py --exclude '[.]threads'   # leave out steps whose name matches a regex
    python3 bench/perf_table.py --misses                 # only the steps that miss their target

Python 3 standard library only.

What it reads (the conventions of bench/bench_util.hpp): every step "<step>/<shape>" may come with
"<step>/<shape>/floor", "/naive" and "/dominant" measured in the same run; its target travels as a user
counter set at registration — target_memory (time <= limit x floor), target_gemm (time <= limit x the Eigen
GEMM/SYRK floor), target_us (time <= limit microseconds) or target_outside (a method: at most that share of its
time outside its "/dominant" step). Steps whose shape starts with the tag of a "decoder_layer/<tag>"
benchmark get their cost as a percentage of that layer. Times are the fastest of the repetitions (CPU time, one
thread; noise on a shared machine only adds time); without repetitions, the single run. Given several JSON files
(runs of the same benchmarks), every time is the fastest over all of them: a step and its floor are each taken at
their quietest, so a burst of load during one run's floor or step does not decide a ratio.

Output: the table of every step (step, shape, time, x floor, x naive, % layer, target and whether it is met),
then a table of the methods (time, dominant step alone, share of the time outside it), then how many steps
meet their target and where and when the results were measured.
"""

import argparse
import json
import os
import re
import signal
import sys

SUFFIXES = ("floor", "naive", "dominant")
SETTING = re.compile(r"^(iterations:\d+|repeats:\d+|min_time:[\d.]+s?|real_time|process_time|threads:\d+|manual_time)$")
TO_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}

# How each target counter is checked and described: (what is compared, unit of the limit).
TARGETS = {
    "target_memory": ("x floor", "memory-bound"),
    "target_gemm": ("x GEMM", "GEMM-bound"),
    "target_us": ("us", "latency"),
    "target_outside": ("outside", "method"),
}


def default_json():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(root, "build", "bench", "bench", "vtr_bench.json")


def base_name(name):
    """'a/b/iterations:1/repeats:3' -> 'a/b' (Google Benchmark appends run settings to names)."""
    return "/".join(p for p in name.split("/") if not SETTING.match(p))


def load(paths):
    """(context of the first file, rows by step name, step names in run order, repetitions or 1, runs). A step's
    time is the fastest of its repetitions over every file (noise on a shared machine only adds time);
    aggregates are ignored."""
    rows, order, reps, context = {}, [], 1, None
    for path in paths:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if context is None:
            context = data.get("context", {})
        reps = max(reps, add_runs(data, rows, order))
    return context or {}, rows, order, reps, len(paths)


def add_runs(data, rows, order):
    """Folds one Google Benchmark JSON document into rows/order (fastest time wins); returns its repetitions."""
    reps = 1
    for b in data.get("benchmarks", []):
        if b.get("error_occurred") or b.get("run_type") == "aggregate":
            continue
        reps = max(reps, int(b.get("repetitions", 1)))
        name = base_name(b.get("run_name", b["name"]))
        us = float(b["cpu_time"]) * TO_US[b.get("time_unit", "ns")]
        head, _, last = name.rpartition("/")
        if head and last in SUFFIXES:
            slot = rows.setdefault(head, {})
            slot[last] = min(us, slot.get(last, us))
            continue
        row = rows.setdefault(name, {})
        row["time"] = min(us, row.get("time", us))
        for key, value in b.items():
            if key in TARGETS:
                row["target"] = (key, float(value))
        if name not in order:
            order.append(name)
    return reps


def fmt_time(us):
    if us is None:
        return "-"
    if us >= 1e6:
        return "%.2f s" % (us / 1e6)
    if us >= 1e3:
        return "%.2f ms" % (us / 1e3)
    if us >= 10:
        return "%.1f µs" % us
    return "%.2f µs" % us


def layer_of(name, rows):
    """The decoder layer a step is compared with: the longest 'decoder_layer/<tag>' whose tag starts the shape."""
    step, _, shape = name.partition("/")
    if step == "decoder_layer" or not shape:
        return None
    best = None
    for other, row in rows.items():
        if not other.startswith("decoder_layer/") or "time" not in row:
            continue
        tag = other[len("decoder_layer/"):]
        if (shape == tag or shape.startswith(tag + "_")) and (best is None or len(tag) > len(best[0])):
            best = (tag, row["time"])
    return best


def verdict(row):
    """(text, met) for the row's target; met is True, False or None (reference not measured / no target)."""
    if "target" not in row:
        return "-", None
    key, limit = row["target"]
    t = row["time"]
    if key in ("target_memory", "target_gemm"):
        what = "floor" if key == "target_memory" else "GEMM"
        if "floor" not in row:
            return "≤ %.1f× %s (no floor)" % (limit, what), None
        r = t / row["floor"]
        ok = r <= limit
        return "%s %.2f× %s %.1f× %s" % ("✓" if ok else "✗", r, "≤" if ok else ">", limit, what), ok
    if key == "target_us":
        ok = t <= limit
        return "%s %s %s %g µs" % ("✓" if ok else "✗", fmt_time(t), "≤" if ok else ">", limit), ok
    if key == "target_outside":
        if "dominant" not in row:
            return "≤ %g%% outside dominant (not measured)" % (100 * limit), None
        share = (t - row["dominant"]) / t
        ok = share <= limit
        text = "%s %.1f%% %s %g%% outside dominant" % ("✓" if ok else "✗", 100 * share, "≤" if ok else ">", 100 * limit)
        return text, ok
    return "-", None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", nargs="*", default=[default_json()],
                    help="Google Benchmark JSON, one or more runs (default: %s)" % default_json())
    ap.add_argument("--filter", default=None, help="only steps whose full name matches this regex")
    ap.add_argument("--exclude", default=None, help="leave out steps whose full name matches this regex")
    ap.add_argument("--misses", action="store_true", help="only the steps that miss their target")
    args = ap.parse_args()
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends the output quietly
    for path in args.json:
        if not os.path.exists(path):
            sys.exit("perf_table.py: %s not found (run `cmake --workflow --preset bench` or pass a JSON file)" % path)
    context, rows, order, reps, runs = load(args.json)
    pattern = re.compile(args.filter) if args.filter else None
    exclude = re.compile(args.exclude) if args.exclude else None
    names = [n for n in order if (pattern is None or pattern.search(n)) and not (exclude and exclude.search(n))]
    targeted = [n for n in names if verdict(rows[n])[1] is not None]
    misses = [n for n in targeted if verdict(rows[n])[1] is False]
    if args.misses:
        names = misses

    print("| step | shape | time | × floor | × naive | % layer | target |")
    print("|---|---|---:|---:|---:|---:|---|")
    for name in names:
        row = rows[name]
        step, _, shape = name.partition("/")
        t = row["time"]
        xf = "%.2f" % (t / row["floor"]) if "floor" in row else "-"
        xn = "%.3f" % (t / row["naive"]) if "naive" in row else "-"
        layer = layer_of(name, rows)
        pl = "%.4f %%" % (100 * t / layer[1]) if layer else "-"
        print("| `%s` | %s | %s | %s | %s | %s | %s |" % (step, shape, fmt_time(t), xf, xn, pl, verdict(row)[0]))

    methods = [n for n in names if "dominant" in rows[n] or rows[n].get("target", ("",))[0] == "target_outside"]
    if methods:
        print()
        print("| method | shape | time | dominant step alone | outside it | target |")
        print("|---|---|---:|---:|---:|---|")
        for name in methods:
            row = rows[name]
            step, _, shape = name.partition("/")
            dom = row.get("dominant")
            share = "%.1f %%" % (100 * (row["time"] - dom) / row["time"]) if dom else "-"
            print("| `%s` | %s | %s | %s | %s | %s |"
                  % (step, shape, fmt_time(row["time"]), fmt_time(dom), share, verdict(row)[0]))

    print()
    print("%d of %d steps with a target meet it." % (len(targeted) - len(misses), len(targeted)))
    if context:
        load_avg = context.get("load_avg")
        extra = ", load average %s" % " ".join("%.2f" % x for x in load_avg) if load_avg else ""
        how = "fastest CPU time of %d repetitions" % reps if reps > 1 else "CPU time of one run"
        if runs > 1:
            how = "fastest CPU time of %d runs%s" % (runs, " of %d repetitions each" % reps if reps > 1 else "")
        print("Measured %s on %s (%s CPUs%s); %s, one thread." % (
            context.get("date", "?"), context.get("host_name", "?"), context.get("num_cpus", "?"), extra, how))

if __name__ == "__main__":
    main()
