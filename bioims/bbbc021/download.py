"""Download the published BBBC021 (CSVs and plate zips) into the local layout (see `layout`).

Per file: streamed to `DIR/.bbbc021-download/<name>.part`, resumed with an HTTP Range request after
an interruption (a server that ignores Range restarts the file), checked against the size the
server announced and, when known, a checksum, then renamed into place. Per plate: the zip is
unpacked into a staging directory, checked to hold every TIFF the image CSV lists for the plate
(each starting with a TIFF header), and the plate directory appears in one rename. A plate whose
directory already holds every listed file is skipped, so a re-run only fetches what is missing.
One failing plate does not stop the others; the error lists what failed, and a re-run resumes.

`from_dir` takes the same files from a local directory instead of the web (zips and CSVs fetched
by hand, a mounted copy of the original's bucket): copied through the same partial files, size and
checksum checks and unpacking. A directory that already holds the unpacked layout needs no download:
`bioims bbbc021 ingest DIR` reads it in place.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import shutil
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

from bioims.bbbc021 import csvs, layout
from bioims.bbbc021.design import Design, build_design

CHUNK = 1 << 20
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_UNSATISFIABLE = re.compile(r"bytes \*/(\d+)")


class DownloadError(RuntimeError):
    """A download failed; the message says what and what was kept (re-run to resume)."""


class _Retryable(DownloadError):
    """A transfer ended early or the connection failed: worth another attempt."""


class Progress(Protocol):
    """Where the downloader reports progress (the CLI shows it as rich progress bars)."""

    def begin(self, name: str, total: int | None) -> None: ...

    def advance(self, name: str, n: int) -> None: ...

    def end(self, name: str) -> None: ...


class _Silent:
    def begin(self, name: str, total: int | None) -> None:
        pass

    def advance(self, name: str, n: int) -> None:
        pass

    def end(self, name: str) -> None:
        pass


@dataclass
class DownloadReport:
    out_dir: Path
    csvs_fetched: list[str] = field(default_factory=list)
    plates_fetched: list[str] = field(default_factory=list)
    plates_skipped: list[str] = field(default_factory=list)
    bytes_fetched: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Fetcher:
    """HTTP GET of one file with resume, size and checksum checks."""

    timeout: float = 60.0
    retries: int = 4
    backoff: float = 1.0

    def fetch(
        self,
        url: str,
        dest: Path,
        part: Path,
        *,
        checksum: str | None = None,
        progress: Progress | None = None,
        name: str | None = None,
    ) -> int:
        """Download `url` to `dest` through the partial file `part`; returns bytes transferred."""
        progress = progress or _Silent()
        name = name or dest.name
        transferred = 0
        attempt = 0
        while True:
            try:
                transferred += self._attempt(url, part, progress, name)
                break
            except _Retryable as exc:
                attempt += 1
                if attempt > self.retries:
                    raise DownloadError(f"{url}: {exc} (gave up after {attempt} attempts; re-run to resume)") from exc
                time.sleep(self.backoff * 2 ** (attempt - 1))
        progress.end(name)
        _verify_and_place(url, part, dest, checksum)
        return transferred

    def _attempt(self, url: str, part: Path, progress: Progress, name: str) -> int:
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:
                match = _UNSATISFIABLE.match(exc.headers.get("Content-Range", "") or "")
                if match and int(match.group(1)) == have:
                    progress.begin(name, have)
                    progress.advance(name, have)
                    return 0  # the partial file is already complete
                part.unlink()
                raise _Retryable("partial file does not match the server's file; restarting") from exc
            if exc.code >= 500:
                raise _Retryable(f"server error {exc.code}") from exc
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise _Retryable(f"connection failed: {exc}") from exc
        with response:
            if response.status == 206:
                match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != have:
                    raise DownloadError(f"{url}: unusable Content-Range {response.headers.get('Content-Range')!r}")
                total = None if match.group(3) == "*" else int(match.group(3))
                mode = "ab"
            elif response.status == 200:
                length = response.headers.get("Content-Length")
                total = int(length) if length is not None else None
                have = 0  # the server ignored Range: start over
                mode = "wb"
            else:
                raise DownloadError(f"{url}: unexpected HTTP status {response.status}")
            progress.begin(name, total)
            if have:
                progress.advance(name, have)
            transferred = 0
            try:
                with open(part, mode) as out:
                    while True:
                        chunk = response.read(CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        transferred += len(chunk)
                        progress.advance(name, len(chunk))
            except (OSError, urllib.error.URLError, http.client.HTTPException) as exc:
                raise _Retryable(f"transfer interrupted after {have + transferred} bytes: {exc}") from exc
        size = part.stat().st_size
        if total is not None and size != total:
            raise _Retryable(f"transfer ended at {size} of {total} bytes")
        return transferred


@dataclass(frozen=True)
class LocalFetcher:
    """Copy of one file from a local directory, with the HTTP fetcher's guarantees: through the
    partial file (an interrupted copy continues where it stopped), size and checksum checked."""

    def fetch(
        self,
        url: str,
        dest: Path,
        part: Path,
        *,
        checksum: str | None = None,
        progress: Progress | None = None,
        name: str | None = None,
    ) -> int:
        """Copy the file at path `url` to `dest` through `part`; returns bytes copied."""
        progress = progress or _Silent()
        name = name or dest.name
        source = Path(url)
        if not source.is_file():
            raise DownloadError(f"{source} not found")
        total = source.stat().st_size
        have = part.stat().st_size if part.exists() else 0
        if have > total:  # not a prefix of this file: start over
            have = 0
        progress.begin(name, total)
        if have:
            progress.advance(name, have)
        copied = 0
        with open(source, "rb") as src, open(part, "ab" if have else "wb") as out:
            src.seek(have)
            for chunk in iter(lambda: src.read(CHUNK), b""):
                out.write(chunk)
                copied += len(chunk)
                progress.advance(name, len(chunk))
        if part.stat().st_size != total:
            raise DownloadError(f"{source}: copied {part.stat().st_size} of {total} bytes (the file changed?); re-run")
        progress.end(name)
        _verify_and_place(str(source), part, dest, checksum)
        return copied


def _verify_and_place(origin: str, part: Path, dest: Path, checksum: str | None) -> None:
    """Check a finished partial file against its checksum (deleting it on a mismatch), then
    move it into place."""
    if checksum:
        actual = _digest(part, checksum)
        if actual.lower() != checksum.lower():
            part.unlink()
            raise DownloadError(
                f"{origin}: checksum mismatch (expected {checksum}, got {actual}); the file was deleted"
            )
    part.replace(dest)


def _digest(path: Path, expected: str) -> str:
    algorithm = {32: "md5", 40: "sha1", 64: "sha256"}.get(len(expected))
    if algorithm is None:
        raise DownloadError(f"checksum {expected!r} is neither md5, sha1 nor sha256 hex")
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_checksums(path: Path | str) -> dict[str, str]:
    """`<hex digest>  <file name>` lines (md5sum/sha256sum output) -> {file name: digest}."""
    out: dict[str, str] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}", parts[0]):
            raise DownloadError(f"{path}:{number}: expected '<hex digest>  <file name>', got {line!r}")
        out[parts[1].lstrip("*")] = parts[0]
    return out


# --- plates ------------------------------------------------------------------------------------
def expected_files(design: Design, plate: str) -> set[str]:
    rows = design.plate_fields(plate)
    return set(rows["file_dapi"]) | set(rows["file_tubulin"]) | set(rows["file_actin"])


def plate_complete(root: Path, design: Design, plate: str) -> bool:
    """True when DIR/<plate> holds every file the image CSV lists for the plate."""
    directory = layout.plate_dir(root, plate)
    if not directory.is_dir():
        return False
    present = {p.name for p in directory.iterdir()}
    return expected_files(design, plate) <= present


def _safe_members(archive: zipfile.ZipFile, zip_path: Path) -> list[zipfile.ZipInfo]:
    members = []
    for info in archive.infolist():
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
            raise DownloadError(f"{zip_path.name}: refusing unsafe member path {info.filename!r}")
        if not info.is_dir():
            members.append(info)
    return members


def unpack_plate(zip_path: Path, root: Path, design: Design, plate: str, work: Path) -> None:
    """Unpack a plate zip into DIR/<plate> (one rename), after checking it holds every listed TIFF."""
    wanted = expected_files(design, plate)
    staging = work / f"{plate}.unpack"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        try:
            archive = zipfile.ZipFile(zip_path)
        except zipfile.BadZipFile as exc:
            raise DownloadError(f"{zip_path.name} is not a valid zip file ({exc})") from exc
        with archive:
            found: dict[str, zipfile.ZipInfo] = {}
            for info in _safe_members(archive, zip_path):
                base = PurePosixPath(info.filename.replace("\\", "/")).name
                if base in wanted:
                    if base in found:
                        raise DownloadError(f"{zip_path.name}: {base} appears twice in the archive")
                    found[base] = info
            missing = sorted(wanted - set(found))
            if missing:
                raise DownloadError(
                    f"{zip_path.name} lacks {len(missing)} of the {len(wanted)} files the image CSV lists "
                    f"for {plate}, e.g. {missing[0]}"
                )
            for base, info in found.items():
                target = staging / base
                try:
                    with archive.open(info) as source, open(target, "wb") as out:
                        shutil.copyfileobj(source, out, CHUNK)
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    raise DownloadError(f"{zip_path.name}: {base} is corrupt ({exc})") from exc
                with open(target, "rb") as handle:
                    if handle.read(4) not in TIFF_MAGIC:
                        raise DownloadError(f"{zip_path.name}: {base} is not a TIFF file")
        final = layout.plate_dir(root, plate)
        if final.exists():
            old = work / f"{plate}.old"
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            staging.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --- the whole download ------------------------------------------------------------------------
def download(
    out_dir: Path | str,
    plates: Iterable[str] | None = None,
    *,
    base_url: str = layout.DEFAULT_BASE_URL,
    workers: int = 4,
    checksums: Mapping[str, str] | None = None,
    keep_zips: bool = False,
    progress: Progress | None = None,
    fetcher: Fetcher | LocalFetcher | None = None,
    from_dir: Path | str | None = None,
) -> DownloadReport:
    """Fetch the CSVs and the plates (default: every plate of the image CSV) into `out_dir`,
    from `base_url`, or from the local directory `from_dir` holding the published files."""
    started = time.perf_counter()
    if not isinstance(workers, int) or workers < 1:
        raise DownloadError(f"workers must be a positive integer, not {workers!r}")
    if from_dir is not None:
        source_dir = Path(from_dir).expanduser().resolve()
        if not source_dir.is_dir():
            raise DownloadError(f"{source_dir} is not a directory")
        location = lambda name: str(source_dir / name)  # noqa: E731
        fetcher = fetcher or LocalFetcher()
    else:
        location = lambda name: layout.url_for(base_url, name)  # noqa: E731
        fetcher = fetcher or Fetcher()
    root = Path(out_dir)
    work = root / layout.WORK_DIR
    work.mkdir(parents=True, exist_ok=True)
    checksums = dict(checksums or {})
    report = DownloadReport(root)

    for name in layout.PUBLISHED_CSVS:
        if (root / name).is_file():
            continue
        if from_dir is not None and name == layout.COMPOUND_CSV and not Path(location(name)).is_file():
            continue  # nothing reads the SMILES: a local copy without them is complete
        report.bytes_fetched += fetcher.fetch(
            location(name),
            root / name,
            work / f"{name}.part",
            checksum=checksums.get(name),
            progress=progress,
        )
        report.csvs_fetched.append(name)
    tables = {}
    for name, reader in (
        (layout.IMAGE_CSV, csvs.read_image_csv),
        (layout.MOA_CSV, csvs.read_moa_csv),
        (layout.COMPOUND_CSV, csvs.read_compound_csv),
    ):
        if name == layout.COMPOUND_CSV and not (root / name).is_file():
            continue  # only when taken from a local copy that has none (see above)
        try:
            tables[name] = reader(root / name)
        except csvs.Bbbc021DataError as exc:
            if name in report.csvs_fetched:  # fetched by this run: remove it; a user's own copy stays
                (root / name).unlink(missing_ok=True)
                raise DownloadError(f"the downloaded {name} is unusable and was removed: {exc}") from exc
            raise DownloadError(f"{name} already in {root} is unusable (fix or delete it): {exc}") from exc
    design = build_design(tables[layout.IMAGE_CSV], tables[layout.MOA_CSV])

    wanted = list(design.plates) if plates is None else list(dict.fromkeys(plates))
    unknown = [p for p in wanted if p not in set(design.plates)]
    if unknown:
        raise DownloadError(f"plate(s) not in the image CSV: {', '.join(unknown)}")
    todo: list[str] = []
    for plate in wanted:
        (report.plates_skipped if plate_complete(root, design, plate) else todo).append(plate)

    def one(plate: str) -> int:
        name = layout.plate_zip_name(plate)
        zip_path = work / name
        fetched = 0
        if not zip_path.is_file():
            fetched = fetcher.fetch(
                location(name),
                zip_path,
                work / f"{name}.part",
                checksum=checksums.get(name),
                progress=progress,
            )
        try:
            unpack_plate(zip_path, root, design, plate, work)
        except DownloadError as exc:
            zip_path.unlink(missing_ok=True)
            raise DownloadError(f"{exc} (the zip was deleted; a re-run downloads it again)") from exc
        if not keep_zips:
            zip_path.unlink()
        return fetched

    failures: list[str] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(one, plate): plate for plate in todo}
        for future in as_completed(futures):
            plate = futures[future]
            try:
                report.bytes_fetched += future.result()
                report.plates_fetched.append(plate)
            except DownloadError as exc:
                failures.append(f"{plate}: {exc}")
    report.plates_fetched.sort(key=wanted.index)
    report.seconds = time.perf_counter() - started
    if failures:
        raise DownloadError(
            f"{len(failures)} of {len(todo)} plate(s) failed ({len(report.plates_fetched)} finished, kept); "
            "re-run to resume:\n  " + "\n  ".join(sorted(failures))
        )
    if not keep_zips and not any(work.iterdir()):
        work.rmdir()
    return report
