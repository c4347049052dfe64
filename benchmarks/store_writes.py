"""Benchmark of the local object store's writes (issue 17): today's `LocalObjectStore.put_bytes`
(direct I/O from 1 MiB up, amortised sweep of dead writers' temporaries) against the previous one,
kept below verbatim as the baseline (commit a519cbc: buffered write through a file object, fsync,
rename; before each write a listing of the whole directory for the key's stale temporaries),
side by side in one run.

Per size (8 MB, a field's ROI tensor; 1 MiB, the direct-I/O threshold), N persistent objects per
path, the two paths interleaved object by object so that both see the same page-cache and disk
state; each path writes into its own directory, which first holds --existing other objects (a
BBBC021 plate's ROI directory holds ~1,200). Every object is read back and compared once all are
written. CPU is user+sys of this process (resource.getrusage) around each put; a first write per
path and size (the scratch buffer's first touch, one per thread) is not counted. Everything
written is deleted at the end.

--threshold: also the evidence for the direct-I/O threshold: today's store with direct I/O
forced on (threshold 0) and off (threshold above every size), interleaved, at 64 KiB .. 8 MiB.

Run:  .venv/bin/python benchmarks/store_writes.py [--objects 40] [--existing 1200] [--dir DIR] [--threshold]
Last line:  write_cpu_ratio=<old/new> write_wall_ratio=<old/new> (all objects), then the same per
size (`_8mb`, `_1mb`).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bioims.processes import owner_token, token_alive
from bioims.store import directio
from bioims.store.localfs import LocalObjectStore

SIZES = {"8mb": 8 * 1024 * 1024 + 128, "1mb": 1 << 20}  # a .npy header on top of 8 MiB of pixels
SUFFIX = ".tmp"


# --- the baseline: put_bytes as it was at commit a519cbc (bioims/store/localfs.py, bioims/atomic.py)
def baseline_temporary_beside(path: Path) -> tuple[int, str]:
    """(fd, name) of a new temporary file in path's directory, after removing stale ones of path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    baseline_remove_stale(path)
    return tempfile.mkstemp(prefix=f".{path.name}.{owner_token()}.", suffix=SUFFIX, dir=path.parent)


def baseline_remove_stale(path: Path) -> list[str]:
    """Delete temporaries of `path` left by dead processes; returns their names."""
    path = Path(path)
    prefix = f".{path.name}."
    removed: list[str] = []
    try:
        entries = [e.name for e in os.scandir(path.parent) if e.name.startswith(prefix) and e.name.endswith(SUFFIX)]
    except FileNotFoundError:
        return removed
    for name in entries:
        token = name[len(prefix) : -len(SUFFIX)].split(".")[0]
        if "-" in token and not token_alive(token) or "-" not in token and baseline_legacy_stale(path.parent / name):
            try:
                os.unlink(path.parent / name)
                removed.append(name)
            except FileNotFoundError:
                pass
    return removed


def baseline_legacy_stale(path: Path, age_s: float = 24 * 3600) -> bool:
    """A temporary without an owner (written before owners were recorded): stale after a day."""
    try:
        return time.time() - path.stat().st_mtime > age_s
    except FileNotFoundError:
        return False


def _silent_unlink(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class BaselineStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _atomic_target(self, key: str):
        path = self.root / key
        fd, tmp = baseline_temporary_beside(path)  # also removes temporaries a killed writer of this key left
        return path, fd, tmp

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        path, fd, tmp = self._atomic_target(key)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            _silent_unlink(tmp)
            raise


# --- the run -------------------------------------------------------------------------------------
def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(put: Callable[[str, bytes], None], key: str, data: bytes) -> tuple[float, float]:
    cpu, wall = _cpu(), time.perf_counter()
    put(key, data)
    return _cpu() - cpu, time.perf_counter() - wall


def run(work: Path, objects: int, existing: int) -> dict[str, dict[str, list[float]]]:
    stores = {"old": BaselineStore(work / "old"), "new": LocalObjectStore(work / "new")}
    for name in stores:
        plate = work / name / "plate"
        plate.mkdir(parents=True)
        for i in range(existing):
            (plate / f"img{i:05d}-label.npy").write_bytes(b"x" * 200)
    results: dict[str, dict[str, list[float]]] = {}
    for size_name, size in SIZES.items():
        data = os.urandom(size)
        for store in stores.values():  # the first write of each path: not counted
            store.put_bytes(f"plate/warmup-{size_name}", data)
        cpu: dict[str, list[float]] = {"old": [], "new": []}
        wall: dict[str, list[float]] = {"old": [], "new": []}
        for i in range(objects):
            order = ("old", "new") if i % 2 == 0 else ("new", "old")
            for name in order:
                c, w = _timed(stores[name].put_bytes, f"plate/img{i:05d}-{size_name}-train.npy", data)
                cpu[name].append(c)
                wall[name].append(w)
        for name in stores:
            for i in range(objects):
                path = work / name / "plate" / f"img{i:05d}-{size_name}-train.npy"
                if path.read_bytes() != data:
                    raise SystemExit(f"{name}: {path} differs from what was written")
        results[size_name] = {
            "old_cpu": cpu["old"],
            "new_cpu": cpu["new"],
            "old_wall": wall["old"],
            "new_wall": wall["new"],
        }
    return results


def threshold_table(work: Path, objects: int) -> None:
    """Direct against buffered writes through today's store, by size (the threshold's evidence)."""
    store = LocalObjectStore(work / "threshold")
    saved = directio.DIRECT_MIN_BYTES
    print("size KiB  buffered cpu ms  direct cpu ms  buffered wall ms  direct wall ms")
    try:
        for size in (64 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20, 8 << 20):
            data = os.urandom(size)
            cpu = {"buffered": 0.0, "direct": 0.0}
            wall = {"buffered": 0.0, "direct": 0.0}
            for i in range(objects + 1):
                for mode in ("buffered", "direct") if i % 2 == 0 else ("direct", "buffered"):
                    directio.DIRECT_MIN_BYTES = 0 if mode == "direct" else 1 << 62
                    c, w = _timed(store.put_bytes, f"{size}/{mode}-{i}", data)
                    if i:  # the first pair warms up
                        cpu[mode] += c
                        wall[mode] += w
            f = 1e3 / objects
            print(
                f"{size >> 10:>8} {cpu['buffered'] * f:>15.2f} {cpu['direct'] * f:>14.2f} "
                f"{wall['buffered'] * f:>17.2f} {wall['direct'] * f:>15.2f}"
            )
    finally:
        directio.DIRECT_MIN_BYTES = saved
        shutil.rmtree(work / "threshold", ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=40, help="objects per size and path")
    parser.add_argument("--existing", type=int, default=1200, help="other objects already in each directory")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a new temporary directory)")
    parser.add_argument("--threshold", action="store_true", help="also print direct vs buffered by size")
    args = parser.parse_args(argv)
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="store-writes-", dir=args.dir))
    try:
        results = run(work, args.objects, args.existing)
        if args.threshold:  # after: freed page cache would make the buffered baseline look cheap
            threshold_table(work, args.objects)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.objects} objects per size and path, {args.existing} objects already in each directory, in {work}")
    header = ("size", "old cpu ms", "new cpu ms", "cpu x", "old wall ms", "new wall ms", "wall x")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (5, 11, 11, 6, 12, 12, 7), strict=True)))
    pairs: list[str] = []
    totals = {"old_cpu": 0.0, "new_cpu": 0.0, "old_wall": 0.0, "new_wall": 0.0}
    for size_name, r in results.items():
        mean = {k: 1e3 * sum(v) / len(v) for k, v in r.items()}
        for k, v in r.items():
            totals[k] += sum(v)
        cpu_ratio, wall_ratio = mean["old_cpu"] / mean["new_cpu"], mean["old_wall"] / mean["new_wall"]
        print(
            f"{size_name:>5} {mean['old_cpu']:>11.2f} {mean['new_cpu']:>11.2f} {cpu_ratio:>6.2f} "
            f"{mean['old_wall']:>12.2f} {mean['new_wall']:>12.2f} {wall_ratio:>7.2f}"
        )
        pairs += [f"write_cpu_ratio_{size_name}={cpu_ratio:.2f}", f"write_wall_ratio_{size_name}={wall_ratio:.2f}"]
    overall = [
        f"write_cpu_ratio={totals['old_cpu'] / totals['new_cpu']:.2f}",
        f"write_wall_ratio={totals['old_wall'] / totals['new_wall']:.2f}",
    ]
    print(" ".join(overall + pairs))


if __name__ == "__main__":
    main()
