#!/usr/bin/env python3
"""Tiny benchmark runner for ``make bench``: wall time and peak RSS per command.

Why: annslicer's performance claims are ratios taken in one run (e.g. against
``cp`` of the source) plus memory ceilings; this runs a list of named shell
commands REPEAT times, takes the median wall time, and records the peak RSS
of the real worker process, then prints a Markdown table.

Spec (a .json file or a .py file, or --cmd NAME=COMMAND repeated):
  JSON: [{"name": "cp", "cmd": "cp a b", "setup": "rm -f b", "cleanup": "rm -f b"}, ...]
        or {"baseline": "cp", "repeat": 3, "commands": [ ...as above... ]}
  .py : defines BENCH = [ ...dicts as above... ] and optionally BASELINE = "cp".
``setup`` runs before and ``cleanup`` after every repetition, untimed.
``disk`` (optional) runs after the command, untimed, and prints the bytes
it left besides its outputs (e.g. a merged file written only to be sliced):
the table gains an "extra disk" column.
``cells`` (optional) is the number of cells the command handles: the table
gains a "s per M cells" column (median wall / cells * 1e6), so a table of
one command at several sizes shows whether time is linear in cells.
A .py spec may also define COMPARE = [(NAME, REFERENCE), ...]: printed under
the table as "NAME / REFERENCE: ratio of median wall times" (e.g. annslicer's
gzip output against pigz on the same bytes).

Peak RSS: each command runs as ``bash -c CMD`` in a child whose resource
usage comes from ``os.wait4``. Linux reports there the largest ru_maxrss of
the child and of every descendant it waited for (bash execs a simple command
in place, and waits for pipeline members), i.e. the biggest single process of
the tree, not bash's own few MB. It is not the sum of concurrent processes,
and daemons that detach are not seen. Linux also carries the launcher's
high-water mark across fork/exec, so the figure has a floor of this script's
own RSS (a few MB, kept low by importing nothing heavy); the floor is printed.

Usage:  /usr/bin/python3 bench/bench.py SPEC.json [--repeat 3] [--baseline NAME] [--json OUT]
        /usr/bin/python3 bench/bench.py --cmd 'cp=cp big /tmp/x' --cmd 'slice=./bin/annslicer ...'
"""

import argparse
import json
import os
import runpy
import statistics
import subprocess
import sys
import time


def load_spec(path):
    """Returns (commands, options) from a .json or .py spec file."""
    if path.endswith(".py"):
        ns = runpy.run_path(path)
        return list(ns["BENCH"]), {"baseline": ns.get("BASELINE"), "repeat": ns.get("REPEAT"),
                                   "compare": ns.get("COMPARE")}
    with open(path) as fh:
        spec = json.load(fh)
    if isinstance(spec, dict):
        return list(spec["commands"]), {"baseline": spec.get("baseline"), "repeat": spec.get("repeat")}
    return list(spec), {}


def run_shell(cmd, quiet=True):
    """Run cmd with bash; returns (wall seconds, peak RSS in KiB, exit code)."""
    out = subprocess.DEVNULL if quiet else None
    t0 = time.perf_counter()
    proc = subprocess.Popen(["bash", "-c", cmd], stdout=out, stdin=subprocess.DEVNULL)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it is reaped
    return wall, ru.ru_maxrss, proc.returncode


def run_untimed(cmd, what, name):
    if not cmd:
        return
    r = subprocess.run(["bash", "-c", cmd], stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        raise SystemExit(f"bench: {what} of {name!r} failed with exit code {r.returncode}: {cmd}")


def bench_one(entry, repeat, show_output=False):
    name, cmd = entry["name"], entry["cmd"]
    runs = []
    for _ in range(repeat):
        run_untimed(entry.get("setup"), "setup", name)
        wall, rss_kb, rc = run_shell(cmd, quiet=not show_output)
        run = {"wall_s": wall, "max_rss_kb": rss_kb, "rc": rc}
        if entry.get("disk") and rc == 0:
            out = subprocess.run(["bash", "-c", entry["disk"]], capture_output=True, text=True)
            run["disk_bytes"] = int(out.stdout.split()[0]) if out.returncode == 0 and out.stdout.split() else None
        run_untimed(entry.get("cleanup"), "cleanup", name)
        runs.append(run)
        if rc != 0:
            break  # a failing command is reported, not timed further
    ok = all(r["rc"] == 0 for r in runs)
    return {
        "name": name, "cmd": cmd, "runs": runs, "ok": ok,
        "median_wall_s": statistics.median(r["wall_s"] for r in runs),
        "peak_rss_mb": max(r["max_rss_kb"] for r in runs) / 1024,
        "disk": "disk" in entry,
        "disk_mb": max((r.get("disk_bytes") or 0 for r in runs), default=0) / 1e6,
        "cells": entry.get("cells"),
    }


def markdown(results, baseline, compare=None):
    base = next((r for r in results if r["name"] == baseline), None)
    disk = any(r.get("disk") for r in results)
    cells = any(r.get("cells") for r in results)
    head = (f"| name | wall s | ratio to {baseline} | peak RSS MB |" + (" extra disk MB |" if disk else "")
            + (" s per M cells |" if cells else ""))
    lines = [head, "|---|---:|---:|---:|" + ("---:|" if disk else "") + ("---:|" if cells else "")]
    for r in results:
        if not r["ok"]:
            rc = r["runs"][-1]["rc"]
            lines.append(f"| {r['name']} | FAILED (exit {rc}) | | |" + (" |" if disk else "") + (" |" if cells else ""))
            continue
        ratio = ""
        if base is not None and base["ok"] and base["median_wall_s"] > 0:
            ratio = f"{r['median_wall_s'] / base['median_wall_s']:.2f}"
        extra = (f" {r['disk_mb']:.0f} |" if r.get("disk") else " 0 |") if disk else ""
        if cells:
            extra += f" {r['median_wall_s'] / r['cells'] * 1e6:.2f} |" if r.get("cells") else " |"
        lines.append(f"| {r['name']} | {r['median_wall_s']:.3f} | {ratio} | {r['peak_rss_mb']:.1f} |" + extra)
    by_name = {r["name"]: r for r in results}
    notes = []
    for name, ref in compare or []:
        a, b = by_name.get(name), by_name.get(ref)
        if a and b and a["ok"] and b["ok"] and b["median_wall_s"] > 0:
            notes.append(f"{name} / {ref}: {a['median_wall_s'] / b['median_wall_s']:.2f}")
    if notes:
        lines += [""] + notes
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description="Run named shell commands, print wall time / peak RSS table.")
    p.add_argument("spec", nargs="?", help="JSON or .py file listing the commands")
    p.add_argument("--cmd", action="append", default=[], metavar="NAME=COMMAND",
                   help="add a command (repeatable; after those of the spec)")
    p.add_argument("--repeat", type=int, default=None, help="runs per command (default 3; median wall)")
    p.add_argument("--baseline", default=None, help="row the ratios are taken against (default: first)")
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="run only these rows")
    p.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="also save raw numbers")
    p.add_argument("--show-output", action="store_true", help="let the commands' stdout through")
    args = p.parse_args(argv)

    commands, opts = load_spec(args.spec) if args.spec else ([], {})
    for item in args.cmd:
        name, sep, cmd = item.partition("=")
        if not sep or not name:
            p.error(f"--cmd wants NAME=COMMAND, got {item!r}")
        commands.append({"name": name, "cmd": cmd})
    if args.only:
        commands = [c for c in commands if c["name"] in args.only]
    if not commands:
        p.error("no commands (give a spec file or --cmd)")
    repeat = args.repeat or opts.get("repeat") or 3
    baseline = args.baseline or opts.get("baseline") or commands[0]["name"]

    floor_kb = run_shell("true")[1]
    results = []
    for entry in commands:
        r = bench_one(entry, repeat, args.show_output)
        results.append(r)
        print(f"  {r['name']}: {r['median_wall_s']:.3f}s  {r['peak_rss_mb']:.1f} MB"
              f"{'' if r['ok'] else '  FAILED'}", file=sys.stderr)
    print(markdown(results, baseline, opts.get("compare")))
    print(f"\n{repeat} runs each, median wall time; peak RSS = largest process of the tree "
          f"(floor {floor_kb / 1024:.1f} MB: launcher)")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump({"repeat": repeat, "baseline": baseline, "compare": opts.get("compare"),
                   "rss_floor_mb": floor_kb / 1024,
                       "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "results": results}, fh, indent=1)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
