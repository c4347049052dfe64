"""`bioims bbbc021 ...`: the BBBC021 dataset: synthesise, download, ingest, describe.

  bioims bbbc021 synth --out DIR [--plates P1,P2 | --n-plates N] [--fields-per-well K] [--size HxW] [--seed S]
  bioims bbbc021 download --out DIR [--plates ...] [--base-url URL] [--checksums FILE]
  bioims bbbc021 ingest DIR [--plates ...] [--label-mode standard|compound] [--embedding NAME]
  bioims bbbc021 describe [DIR]

All of them show progress, can be re-run after an interruption to finish the rest, and print a
summary (or one JSON object with --json). The logic lives in bioims.bbbc021.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from bioims import context
from bioims.bbbc021 import layout
from bioims.cli.common import EMBEDDING_NAME, EXIT_FAILED, EXIT_PARTIAL, CliError, console, emit
from bioims.cli.process_plate import ProgressObserver


def _plates(value: str | None) -> list[str] | None:
    if value is None:
        return None
    plates = [p.strip() for p in value.split(",") if p.strip()]
    if not plates:
        raise CliError("--plates needs at least one plate name, e.g. Week1_22123,Week2_24121")
    return plates


def _size(value: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise CliError(f"--size must be HxW, e.g. 1024x1280, not {value!r}") from None
    return height, width


@click.group("bbbc021")
def bbbc021() -> None:
    """The BBBC021 dataset (Caie et al. 2010): synthetic plates, download, ingestion."""


# --- synth -------------------------------------------------------------------------------------
@bbbc021.command("synth")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Target directory."
)
@click.option("--plates", default=None, help="Comma-separated plate names (default: all 55).")
@click.option(
    "--n-plates", type=click.IntRange(1, 55), default=None, help="The N plates covering the most annotated compounds."
)
@click.option("--fields-per-well", type=click.IntRange(1, 4), default=4, show_default=True)
@click.option("--size", default="1024x1280", show_default=True, help="Field size HxW in pixels.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--cell-scale", type=float, default=1.0, show_default=True, help="Cell size multiplier (1 = real size).")
@click.option("--workers", type=click.IntRange(1), default=1, show_default=True, help="Rendering processes.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def synth(
    out_dir: Path,
    plates: str | None,
    n_plates: int | None,
    fields_per_well: int,
    size: str,
    seed: int,
    cell_scale: float,
    workers: int,
    as_json: bool,
) -> None:
    """Generate synthetic BBBC021 plates into --out, in the layout of a real copy."""
    from bioims.bbbc021.design import load_design
    from bioims.bbbc021.synthetic.generate import SynthError, field_bytes, generate
    from bioims.bbbc021.synthetic.model import SynthConfig, recommended_roi

    if plates is not None and n_plates is not None:
        raise CliError("give --plates or --n-plates, not both")
    height, width = _size(size)
    try:
        config = SynthConfig(
            seed=seed, height=height, width=width, fields_per_well=fields_per_well, cell_scale=cell_scale
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    chosen = _plates(plates)
    if n_plates is not None:
        chosen = list(load_design().select_plates(n_plates))
    n = 55 if chosen is None else len(chosen)
    if not as_json:
        console.print(
            f"synthetic BBBC021: {n} plate(s) x 60 wells x {fields_per_well} field(s) of {height}x{width}, seed "
            f"{seed}, "
            f"about {n * 60 * fields_per_well * field_bytes(config) / 1e9:.2f} GB"
        )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=as_json,
    ) as progress:
        task = progress.add_task("fields", total=None)
        try:
            report = generate(
                out_dir,
                config,
                chosen,
                workers=workers,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        except (SynthError, KeyError, ValueError) as exc:
            raise CliError(str(exc).strip("'\"")) from None
    roi, min_voxels = recommended_roi(config)
    summary = {
        "out": str(report.out_dir),
        "plates": list(report.plates),
        "fields": report.fields_total,
        "written": report.fields_written,
        "skipped": report.fields_skipped,
        "seconds": round(report.seconds, 1),
        "recommendedRoiSize": roi,
        "recommendedMinVoxels": min_voxels,
    }
    if as_json:
        emit(summary, True)
    else:
        console.print(
            f"{report.fields_written} field(s) written, {report.fields_skipped} already there, in "
            f"{report.seconds:.1f} s; "
            f"ingest with: bioims bbbc021 ingest {report.out_dir}"
        )
        if (roi, min_voxels) != (128, 200):
            console.print(
                f"for these cells use ROI size {roi} and min-voxels {min_voxels} in the embedding configuration"
            )


# --- download ----------------------------------------------------------------------------------
class _Bars:
    """The downloader's progress protocol on rich progress bars (one per file)."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, Any] = {}
        self.lock = threading.Lock()

    def begin(self, name: str, total: int | None) -> None:
        with self.lock:
            if name not in self.tasks:
                self.tasks[name] = self.progress.add_task(name, total=total)
            else:
                self.progress.reset(self.tasks[name], total=total)

    def advance(self, name: str, n: int) -> None:
        self.progress.advance(self.tasks[name], n)

    def end(self, name: str) -> None:
        with self.lock:
            task = self.tasks.pop(name, None)
        if task is not None:
            self.progress.remove_task(task)
            self.progress.console.log(f"fetched {name}")


@bbbc021.command("download")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Target directory."
)
@click.option("--plates", default=None, help="Comma-separated plate names (default: all 55).")
@click.option(
    "--base-url", default=None, help="Where the files are published (default: the Broad Institute's BBBC site)."
)
@click.option(
    "--from-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Take the CSVs and plate zips from this local directory instead of the web.",
)
@click.option("--workers", type=click.IntRange(1, 16), default=4, show_default=True, help="Parallel plate downloads.")
@click.option(
    "--checksums",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="md5sum/sha256sum-style list to verify files against.",
)
@click.option("--keep-zips", is_flag=True, help="Keep the plate zips after unpacking.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def download(
    out_dir: Path,
    plates: str | None,
    base_url: str | None,
    from_dir: Path | None,
    workers: int,
    checksums: Path | None,
    keep_zips: bool,
    as_json: bool,
) -> None:
    """Download the published BBBC021 (CSVs and plate zips, about 40 GB) into --out; resumable.
    With --from-dir, the same files come from a local directory (zips fetched by hand)."""
    from bioims.bbbc021.download import DownloadError, read_checksums
    from bioims.bbbc021.download import download as run_download

    if base_url and from_dir:
        raise CliError("give --base-url or --from-dir, not both")
    try:
        sums = read_checksums(checksums) if checksums else None
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=as_json,
        ) as progress:
            report = run_download(
                out_dir,
                _plates(plates),
                base_url=base_url or layout.DEFAULT_BASE_URL,
                workers=workers,
                checksums=sums,
                keep_zips=keep_zips,
                progress=_Bars(progress),
                from_dir=from_dir,
            )
    except (DownloadError, ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    summary = {
        "out": str(report.out_dir),
        "csvsFetched": report.csvs_fetched,
        "platesFetched": report.plates_fetched,
        "platesSkipped": report.plates_skipped,
        "bytes": report.bytes_fetched,
        "seconds": round(report.seconds, 1),
    }
    if as_json:
        emit(summary, True)
    else:
        console.print(
            f"{len(report.plates_fetched)} plate(s) fetched, {len(report.plates_skipped)} already complete, "
            f"{report.bytes_fetched / 1e9:.2f} GB in {report.seconds:.0f} s; ingest with: bioims bbbc021 ingest "
            f"{report.out_dir}"
        )


# --- ingest ------------------------------------------------------------------------------------
class _Stages:
    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def stage(self, name: str, total: int | None = None) -> None:
        self.tasks[name] = self.progress.add_task(name, total=total)

    def advance(self, name: str, n: int = 1) -> None:
        self.progress.advance(self.tasks[name], n)

    def note(self, message: str) -> None:
        self.progress.console.log(message)


@bbbc021.command("ingest")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--plates", default=None, help="Comma-separated plate names (default: every plate directory present).")
@click.option(
    "--label-mode",
    type=click.Choice(("standard", "compound")),
    default="standard",
    show_default=True,
    help="standard: only the 103 annotated treatments (and DMSO) carry an MOA label; compound: every "
    "concentration of an annotated compound does (the original's rule).",
)
@click.option(
    "--embedding",
    type=EMBEDDING_NAME,
    default="bbbc021",
    show_default=True,
    help="Embedding name the training filter lists are written for.",
)
@click.option(
    "--source",
    default=None,
    help="Where the services read the TIFFs when not DIRECTORY itself: s3://bucket[/prefix] holding the same layout.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def ingest(
    directory: Path, plates: str | None, label_mode: str, embedding: str, source: str | None, as_json: bool
) -> None:
    """Ingest a local BBBC021 copy: labels, tags, plate uploads and training filter lists."""
    from bioims.bbbc021.ingest import IngestError
    from bioims.bbbc021.ingest import ingest as run_ingest

    bucket, prefix = None, ""
    if source is not None:
        if not source.startswith("s3://") or len(source) <= 5:
            raise CliError(f"--source must look like s3://bucket[/prefix], not {source!r}")
        bucket, _, prefix = source[5:].partition("/")
        prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
    ctx = context.get()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
    ) as progress:
        if ctx.settings.backend == "local" and not as_json:
            ctx.runtime.observer = ProgressObserver(progress)
        try:
            report = run_ingest(
                directory,
                _plates(plates),
                mode=label_mode,
                embedding=embedding,
                source_bucket=bucket,
                source_key=prefix,
                context=ctx,
                progress=_Stages(progress),
            )
        except IngestError as exc:
            raise CliError(str(exc)) from None
    summary = report.summary()
    if as_json:
        emit(summary, True)
    else:
        _print_ingest(report, embedding)
    if report.failed:  # some plates did not upload: 3 when others did, else 1
        raise click.exceptions.Exit(EXIT_PARTIAL if len(report.failed) < len(report.plates) else EXIT_FAILED)


def _print_ingest(report, embedding: str) -> None:
    for plate in report.plates:
        console.print(
            f"{plate.plate}: {plate.status} plateId {plate.plate_id} ({plate.images} images) {plate.workflow}"
        )
    if report.absent:
        console.print(f"{len(report.absent)} plate(s) of the image CSV have no directory here (not ingested)")
    console.print(
        f"labels: {', '.join(f'{c} {len(v)}' for c, v in report.label_indices.items())}; tags: {report.tags}; "
        f"filter lists: {len(report.filters)} ({report.filter_images} images) under train-filter/{embedding}/"
    )


# --- describe ----------------------------------------------------------------------------------
@bbbc021.command("describe")
@click.argument("directory", required=False, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the facts as one JSON object.")
def describe(directory: Path | None, as_json: bool) -> None:
    """Facts of the BBBC021 design (the packaged CSVs, or those of DIRECTORY)."""
    from bioims.bbbc021.csvs import Bbbc021DataError
    from bioims.bbbc021.design import load_design, load_design_from_dir
    from bioims.bbbc021.labels import labelled_count

    try:
        design = load_design_from_dir(directory) if directory else load_design()
    except Bbbc021DataError as exc:
        raise CliError(str(exc)) from None
    f = design.fields
    facts = {
        "fields": len(f),
        "plates": len(design.plates),
        "weeks": len(design.weeks),
        "wells": int(f[["plate", "well"]].drop_duplicates().shape[0]),
        "compounds": int(f["compound"].nunique()),
        "annotatedCompounds": len(design.annotated_compounds),
        "annotatedTreatments": len(design.annotated_treatments),
        "moas": len(design.moas),
        "labelledFieldsStandard": labelled_count(f, "standard"),
        "labelledFieldsCompound": labelled_count(f, "compound"),
    }
    if directory is not None:
        facts["platesPresent"] = sum((Path(directory) / p).is_dir() for p in design.plates)
    emit(facts, as_json)
