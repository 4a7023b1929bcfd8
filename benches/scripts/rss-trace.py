#!/usr/bin/env python3
"""Trace a command's resident memory: anonymous and file-backed MB from
/proc/PID/status every DT seconds (env DT, default 0.5), then the peak.

    python3 benches/scripts/rss-trace.py target/release/thematic run --quiet --out OUT CORPUS

Prints `peak (seconds, total MB, anonymous MB, file-backed MB)` and the
trace as `seconds:anonymous/file-backed`. File-backed pages are mapped
files (the binary, tantivy's mmapped segments) that count in ru_maxrss.
Linux only."""
import os
import subprocess
import sys
import time

proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
start = time.time()
trace = []
while proc.poll() is None:
    try:
        fields = {}
        with open(f"/proc/{proc.pid}/status") as status:
            for line in status:
                key = line.split(":")[0]
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    fields[key] = int(line.split()[1]) // 1024
        trace.append((time.time() - start, fields.get("VmRSS", 0),
                      fields.get("RssAnon", 0), fields.get("RssFile", 0)))
    except OSError:
        break
    time.sleep(float(os.environ.get("DT", "0.5")))
if trace:
    print("peak", max(trace, key=lambda x: x[1]))
    print(" ".join(f"{t:.1f}:{a}/{f}" for t, _, a, f in trace))
sys.exit(proc.wait())
