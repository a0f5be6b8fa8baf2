#!/usr/bin/env python3
"""MSRV check that runs on a machine with one toolchain.

The workspace declares `rust-version` in the root Cargo.toml. This machine cannot install an
older rustc, so CI checks the MSRV two ways instead of compiling with it:
  1. here: no dependency in the lock file declares a `rust-version` newer than ours (a bump of,
     say, `ort` that needs a newer compiler fails this check);
  2. `cargo clippy -D warnings`: clippy's `incompatible_msrv` lint rejects std APIs stabilised
     after our `rust-version`.
Language features are the remaining gap (let-chains, used here, are stable since 1.88).
"""
import json
import subprocess
import sys


def version(v: str) -> tuple:
    parts = [int(x) for x in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--locked"]))
members = set(meta["workspace_members"])
ours = {p["rust_version"] for p in meta["packages"] if p["id"] in members}
if len(ours) != 1 or None in ours:
    sys.exit(f"msrv: workspace members must share one rust-version, found {sorted(map(str, ours))}")
msrv = ours.pop()
# Only what the workspace actually builds (normal, build and dev dependencies of members).
resolved = {n["id"] for n in meta["resolve"]["nodes"]}
newer = sorted(
    (p["name"], p["version"], p["rust_version"])
    for p in meta["packages"]
    if p["id"] in resolved and p["id"] not in members and p.get("rust_version")
    and version(p["rust_version"]) > version(msrv)
)
if newer:
    for name, ver, rv in newer:
        print(f"msrv: {name} {ver} needs rust {rv}, newer than the workspace's {msrv}")
    sys.exit(1)
print(f"msrv: every dependency builds with rust {msrv}")
