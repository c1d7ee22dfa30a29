#!/usr/bin/env python3
"""Fills DIR with symlinks to the named system GStreamer plugins, and nothing else.

The tests set GST_PLUGIN_SYSTEM_PATH_1_0 to DIR: the in-process registry scan (GST_REGISTRY_FORK=no)
then loads only these plugins, not every plugin installed (whose own leaks LeakSanitizer would report
in the sanitizer build), and the tests do not depend on what else happens to be installed. A plugin
that is not installed is left out: a test needing it skips, as without the plugin.

usage: link-plugins.py STAMP DIR PLUGINSDIR NAME...   (NAME: coreelements for libgstcoreelements.so)
"""
import os
import sys

stamp, out, pluginsdir, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
os.makedirs(out, exist_ok=True)
wanted = {f'libgst{name}.so' for name in names}
for entry in os.listdir(out):
    if entry not in wanted:
        os.remove(os.path.join(out, entry))
linked = []
for lib in sorted(wanted):
    target, link = os.path.join(pluginsdir, lib), os.path.join(out, lib)
    if os.path.lexists(link):
        os.remove(link)
    if os.path.exists(target):
        os.symlink(target, link)
        linked.append(lib)
with open(stamp, 'w', encoding='utf-8') as f:
    f.write(''.join(f'{lib}\n' for lib in linked))
