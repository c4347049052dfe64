"""Writing a synthetic BBBC021 copy to disk, in the layout of a real one (see `layout`).

DIR/<plate>/<Image_FileName_*> 16-bit single-page TIFFs with the published file names, the MOA CSV
byte-for-byte, and an image CSV holding exactly the published lines of the fields on disk (so an
ingest of DIR finds every listed file). `DIR/synthetic.json` records the configuration; generating
into a directory made with another configuration is refused.

Crash-safe and resumable: each TIFF is written to a temporary name and renamed, a field counts as
done when its three files exist, a re-run renders only missing fields, and the CSVs are rewritten
at the end from what is on disk.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from bioims.bbbc021 import csvs, layout
from bioims.bbbc021.design import Design, load_design
from bioims.bbbc021.synthetic.model import SynthConfig, SyntheticBbbc021, bank_warmup

PROVENANCE = "synthetic.json"
TMP_MARK = ".tmp-"

Progress = Callable[[int, int], None]  # (fields done, fields total)


class SynthError(RuntimeError):
    """The generation cannot start or continue (bad target directory, no space); nothing was
    written for the failing step."""


@dataclass(frozen=True)
class SynthReport:
    out_dir: Path
    plates: tuple[str, ...]
    fields_total: int
    fields_written: int
    fields_skipped: int
    seconds: float


def field_bytes(config: SynthConfig) -> int:
    """Approximate size on disk of one field (three uncompressed 16-bit TIFFs)."""
    return 3 * (config.height * config.width * 2 + 512)


def _channel_paths(root: Path, row) -> list[Path]:
    return [root / row.plate / getattr(row, f"file_{channel}") for channel in layout.CHANNELS]


def _write_tiff(path: Path, image: np.ndarray) -> None:
    tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}")
    tifffile.imwrite(tmp, image, photometric="minisblack")
    os.replace(tmp, path)


# --- worker side (one world per process) -------------------------------------------------------
_WORLD: SyntheticBbbc021 | None = None


def _init_worker(config: SynthConfig) -> None:
    global _WORLD
    _WORLD = SyntheticBbbc021(config)
    bank_warmup(config)


def _render_well(root: str, plate: str, well: str, fields: Sequence[tuple[int, Sequence[str]]]) -> int:
    assert _WORLD is not None, "worker not initialised"
    written = 0
    for site, names in fields:
        image = _WORLD.render(plate, well, site)
        for channel_image, name in zip(image, names, strict=True):
            _write_tiff(Path(root) / plate / name, channel_image)
        written += 1
    return written


# --- driver ------------------------------------------------------------------------------------
def _check_target(out_dir: Path, config: SynthConfig) -> None:
    provenance = out_dir / PROVENANCE
    if provenance.is_file():
        try:
            previous = json.loads(provenance.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SynthError(f"{provenance} is unreadable ({exc}); remove it or choose another --out") from exc
        wanted = dataclasses.asdict(config)
        if previous.get("config") != wanted:
            raise SynthError(
                f"{out_dir} holds a synthetic set made with {previous.get('config')}; "
                f"refusing to mix it with {wanted} (choose another --out)"
            )
    elif out_dir.is_dir() and any(out_dir.iterdir()):
        foreign = [p.name for p in out_dir.iterdir() if p.name not in (layout.MOA_CSV, layout.IMAGE_CSV)]
        if foreign:
            raise SynthError(
                f"{out_dir} is not empty and holds no {PROVENANCE} (found {', '.join(sorted(foreign)[:3])}); "
                "choose an empty or new directory"
            )


def generate(
    out_dir: Path | str,
    config: SynthConfig = SynthConfig(),
    plates: Iterable[str] | None = None,
    *,
    workers: int = 1,
    progress: Progress | None = None,
) -> SynthReport:
    """Generate `plates` (default: all 55) of the synthetic BBBC021 into `out_dir`, rendering with
    `workers` processes; `progress(done, total)` is called as fields complete."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    design = load_design()
    wanted = tuple(design.plates) if plates is None else tuple(dict.fromkeys(plates))
    if not wanted:
        raise SynthError("no plates to generate")
    unknown = [p for p in wanted if p not in set(design.plates)]
    if unknown:
        raise SynthError(f"plate(s) not in the BBBC021 design: {', '.join(unknown)}")
    if not isinstance(workers, int) or workers < 1:
        raise SynthError(f"workers must be a positive integer, not {workers!r}")
    _check_target(out_dir, config)

    fields = design.fields[design.fields["plate"].isin(wanted) & (design.fields["site"] <= config.fields_per_well)]
    todo: dict[tuple[str, str], list[tuple[int, list[str]]]] = {}
    skipped = 0
    for row in fields.itertuples(index=False):
        paths = _channel_paths(out_dir, row)
        if all(p.is_file() for p in paths):
            skipped += 1
            continue
        todo.setdefault((row.plate, row.well), []).append((int(row.site), [p.name for p in paths]))
    missing = sum(len(v) for v in todo.values())

    out_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out_dir).free
    need = missing * field_bytes(config)
    if need > free:
        raise SynthError(
            f"{missing} fields need about {need / 1e9:.1f} GB but {out_dir} has {free / 1e9:.1f} GB free; "
            "generate fewer plates, fewer fields per well or smaller images"
        )
    (out_dir / PROVENANCE).write_text(
        json.dumps({"generator": "bioims.bbbc021.synthetic", "config": dataclasses.asdict(config)}, indent=2) + "\n"
    )
    for plate in wanted:
        (out_dir / plate).mkdir(exist_ok=True)
        for stale in (out_dir / plate).glob(f"*{TMP_MARK}*"):
            stale.unlink()

    total = len(fields)
    done = skipped
    if progress:
        progress(done, total)
    jobs = [(str(out_dir), plate, well, sites) for (plate, well), sites in todo.items()]
    if workers == 1 or len(jobs) <= 1:
        global _WORLD
        _WORLD = SyntheticBbbc021(config, design)
        for job in jobs:
            done += _render_well(*job)
            if progress:
                progress(done, total)
    else:
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(config,)) as pool:
            for written in pool.map(_render_well, *zip(*jobs, strict=True), chunksize=1):
                done += written
                if progress:
                    progress(done, total)

    write_csvs(out_dir, design, config)
    return SynthReport(out_dir, wanted, total, missing, skipped, time.perf_counter() - started)


def write_csvs(out_dir: Path, design: Design, config: SynthConfig) -> int:
    """Write the MOA CSV (published bytes) and the image CSV listing the fields whose three files
    are on disk, as the published lines. Returns the number of fields listed."""
    fields = design.fields
    present = np.array(
        [all(p.is_file() for p in _channel_paths(out_dir, row)) for row in fields.itertuples(index=False)], dtype=bool
    )
    rows = np.sort(fields.loc[present, "image_row"].to_numpy())
    with gzip.open(csvs.packaged_path(layout.IMAGE_CSV_GZ), "rt", encoding="utf-8", newline="") as handle:
        lines = handle.read().splitlines(keepends=True)
    if len(lines) != len(design.fields) + 1:
        raise SynthError("the packaged image CSV does not have one line per field; cannot subset it")
    tmp = out_dir / f"{layout.IMAGE_CSV}{TMP_MARK}{os.getpid()}"
    tmp.write_text(lines[0] + "".join(lines[i + 1] for i in rows), encoding="utf-8", newline="")
    os.replace(tmp, out_dir / layout.IMAGE_CSV)
    shutil.copyfile(csvs.packaged_path(layout.MOA_CSV), out_dir / layout.MOA_CSV)
    return int(present.sum())
