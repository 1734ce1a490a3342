#!/usr/bin/env python3
"""Every config key has a reader: the keys lib/config.c parses, each found
in the production code that reads it. Prints TAP; 11-config-readers.sh runs it.

Keys come from the key tables of lib/config.c (K_*("name", section.field),
{.name = ..., .off = F(section.field)}, and the HOTPLUG_KEYS(s) macro).
Production code is the set of C files compiled into the installed binaries
(their DWARF compile units: build/bin/*, build/libexec/*), lib/config.c
excepted, plus the headers of their directories; tests never count. A key is
read when that code names section.field (cfg->runtime.vmm), or a pointer
taken to the section (h = &cfg->cpu_hotplug) and then h->field, in one
function.

Two lists say why a key may have no reader, and both are checked:
- PENDING: wired by a named issue. An entry that gained a reader is
  reported ("drop it from PENDING") without failing, so the issue's own
  landing does not break the suite; any key not listed fails.
- SINGLE_VALUE: the parser accepts exactly one value, so nothing can differ;
  fails if the parser starts to accept a second one.

Usage: 11-config-readers.py [--without FILE:REGEX] (drops the matching lines
of FILE before the search: the suite proves with it that removing a reader
makes this fail).
"""
import glob
import os
import re
import subprocess
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Issue 17 (hotplug controller): the controller reads the other tuning keys;
# monitor_interval is read only by the parser (it turns a stability
# duration into samples) and by no timer yet.
PENDING = {}

# qemubox drives QEMU only: runtime.vmm must be "qemu" (docs/CONFIGURATION.md).
SINGLE_VALUE = {"runtime.vmm": "vmm_names"}

# Keys the tables give no field for (read by a function of their own): the
# fields they fill, any one of which read counts.
FIELD_OF = {
    "network.cni_bin_dirs": "network.cni_bin_dirs",
    "security.vmmon_uid_range":
        "security.vmmon_uid_first security.vmmon_uid_last",
}


def config_keys(src):
    """[(key, field)] from lib/config.c's tables."""
    macro = re.search(r"#define HOTPLUG_KEYS\(s\)(.*?)\n\n", src, re.S).group(1)
    macro_keys = re.findall(r'K_\w+\("(\w+)",\s*s\.(\w+)', macro)
    tables = dict(re.findall(r'\{"(\w+)",\s*(\w+_keys)\}', src))
    keys = []
    for section, table in tables.items():
        body = re.search(
            r"static const struct cfg_key " + table + r"\[\] = \{(.*?)\n\};",
            src, re.S).group(1)
        m = re.search(r"HOTPLUG_KEYS\((\w+)\)", body)
        if m:
            for name, field in macro_keys:
                keys.append((f"{section}.{name}", f"{m.group(1)}.{field}"))
        for name, field in re.findall(
                r'K_\w+\(\s*"(\w+)",\s*([\w.]+)', body):
            keys.append((f"{section}.{name}", field))
        for entry in re.findall(r"\{\s*\.name = .*?\}", body, re.S):
            name = re.search(r'\.name = "(\w+)"', entry).group(1)
            off = re.search(r"\.off = F\(([\w.]+)\)", entry)
            key = f"{section}.{name}"
            keys.append((key, off.group(1) if off else FIELD_OF.get(key, "")))
    return keys


def strip_comments(text):
    """C comments and string literals out: a key named there is no use."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)


def production_sources():
    bins = glob.glob(os.path.join(TOP, "build/bin/*")) + glob.glob(
        os.path.join(TOP, "build/libexec/*"))
    srcs = set()
    for b in bins:
        out = subprocess.run(["readelf", "--debug-dump=info", b],
                             capture_output=True, text=True).stdout
        cu = False
        for line in out.splitlines():
            if "DW_TAG_compile_unit" in line:
                cu = True
            elif cu and "DW_AT_name" in line:
                name = line.split()[-1]
                cu = False
                if name.endswith(".c") and not name.startswith("build/") \
                        and not name.startswith("tests/"):
                    srcs.add(name)
    srcs.discard("lib/config.c")
    dirs = {os.path.dirname(s) for s in srcs}
    for d in dirs:
        for h in glob.glob(os.path.join(TOP, d, "*.h")):
            srcs.add(os.path.relpath(h, TOP))
    srcs.discard("lib/config.h")
    return sorted(srcs)


def functions(text):
    """Top-level chunks: a function body ends at a '}' in column 0."""
    return re.split(r"\n}\n", text)


def reads(fields, texts):
    for field in fields.split():
        where = read_one(field, texts)
        if where is not None:
            return where
    return None


def read_one(field, texts):
    sec, member = field.split(".", 1)
    direct = re.compile(r"\b" + re.escape(field) + r"\b")
    alias_of = re.compile(
        r"(\w+)\s*=\s*&[\w.>\-]*\b" + re.escape(sec) + r"\s*;")
    for path, text in texts.items():
        if direct.search(text):
            return path
        for fn in functions(text):
            for alias in alias_of.findall(fn):
                if re.search(r"\b" + alias + r"->" + re.escape(member) + r"\b",
                             fn):
                    return path
    return None


def main():
    without = None
    if len(sys.argv) == 3 and sys.argv[1] == "--without":
        without = sys.argv[2].split(":", 1)
    src = open(os.path.join(TOP, "lib/config.c")).read()
    keys = config_keys(src)
    srcs = production_sources()
    texts = {}
    for s in srcs:
        text = open(os.path.join(TOP, s)).read()
        if without and s == without[0]:
            text = "\n".join(l for l in text.split("\n")
                             if not re.search(without[1], l))
        texts[s] = strip_comments(text)

    n = 0
    failed = 0
    plan = len(keys) + 3
    print(f"1..{plan}")

    n += 1
    if len(keys) >= 40 and len(srcs) >= 20:
        print(f"ok {n} - {len(keys)} keys in lib/config.c, "
              f"{len(srcs)} production files")
    else:
        failed += 1
        print(f"not ok {n} - found {len(keys)} keys, {len(srcs)} production "
              "files (is the tree built with -g?)")

    n += 1
    bad = [k for k, arr in SINGLE_VALUE.items()
           if len(re.search(r"\b" + arr + r"\[\] = \{(.*?)\};", src,
                            re.S).group(1).split(",")) != 2]
    if not bad:
        print(f"ok {n} - single-valued keys still accept one value: "
              + ", ".join(SINGLE_VALUE))
    else:
        failed += 1
        print(f"not ok {n} - {', '.join(bad)} accept a second value: "
              "give them a reader")

    # The search can fail: take the reader of cpu_hotplug.enabled out of
    # the files that have it and that key must come out unread.
    n += 1
    probe = "cpu_hotplug.enabled"
    cut = {p: "\n".join(l for l in t.split("\n") if probe not in l)
           for p, t in texts.items()}
    if reads(probe, texts) is not None and reads(probe, cut) is None:
        print(f"ok {n} - without its reader, {probe} reads as unread")
    else:
        failed += 1
        print(f"not ok {n} - removing the reader of {probe} is not noticed")

    for key, field in keys:
        n += 1
        where = reads(field, texts)
        if key in SINGLE_VALUE:
            print(f"ok {n} - {key}: one value only, checked by the parser")
        elif key in PENDING:
            if where is None:
                print(f"ok {n} - {key}: no reader yet, pending "
                      f"{PENDING[key]}")
            else:
                print(f"ok {n} - {key}: read in {where} (was pending "
                      f"{PENDING[key]}): drop it from PENDING")
        elif where is not None:
            print(f"ok {n} - {key}: read in {where}")
        elif field == "":
            failed += 1
            print(f"not ok {n} - {key}: no field known; add it to FIELD_OF")
        else:
            failed += 1
            print(f"not ok {n} - {key} ({field}) has no reader outside the "
                  "parser")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
