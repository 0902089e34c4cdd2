#!/usr/bin/env python3
"""Medians of the bench io runs per variant, and the ratios new/old and tls/new."""
import json, glob, statistics, sys, os
d = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
runs = {}
for f in glob.glob(os.path.join(d, '*.json')):
    name = os.path.basename(f)[:-5]
    variant, ps, rnd = name.rsplit('-', 2)
    try:
        data = json.load(open(f))
    except ValueError:
        continue
    for r in data['results']:
        key = (ps, r['op'], r['layout'], r['clients'])
        runs.setdefault(key, {}).setdefault(variant, []).append(r['mbps'])
print(f"{'page':7} {'op':5} {'layout':8} {'n':>2} {'old':>7} {'new':>7} {'new-tls':>7} {'new/old':>7} {'tls/new':>7}")
for key in sorted(runs, key=lambda k: (k[0] != '8MiB', k[1] != 'write', k[2], k[3])):
    v = runs[key]
    med = {k: statistics.median(x) for k, x in v.items()}
    o, n, t = med.get('old'), med.get('new'), med.get('new-tls')
    ratio = lambda a, b: f"{a / b:7.2f}" if a and b else "      -"
    print(f"{key[0]:7} {key[1]:5} {key[2]:8} {key[3]:>2} {o or 0:7.0f} {n or 0:7.0f} {t or 0:7.0f} {ratio(n, o)} {ratio(t, n)}")
