#!/usr/bin/env python3
"""Fails on any exported symbol of the library not listed in the symbols file, and on any listed
one missing: the library's ABI changes only on purpose. usage: symbols-check.py NM LIB SYMBOLS"""
import subprocess
import sys


def main():
    nm, lib, listed = sys.argv[1:4]
    try:
        out = subprocess.run([nm, '-D', '--defined-only', '--format=posix', lib], check=True, capture_output=True,
                             text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f'SKIP: cannot run nm: {e}')
        return 77
    exported = {l.split()[0] for l in out.splitlines() if len(l.split()) >= 2 and l.split()[1] in 'TDBRWV'}
    exported = {s for s in exported if not s.startswith('_')}
    with open(listed, encoding='utf-8') as f:
        want = {l.strip() for l in f if l.strip() and not l.startswith('#')}
    extra, missing = sorted(exported - want), sorted(want - exported)
    for s in extra:
        print(f'exported but not in {listed}: {s}')
    for s in missing:
        print(f'listed but not exported: {s}')
    if not extra and not missing:
        print(f'{len(want)} symbols, as listed')
    return 1 if extra or missing else 0


if __name__ == '__main__':
    sys.exit(main())
