"""The downloader against a local HTTP server serving small generated plate zips."""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile

import pytest
import tifffile

from bioims.bbbc021 import csvs, layout
from bioims.bbbc021.design import Design, load_design_from_dir
from bioims.bbbc021.download import DownloadError, Fetcher, download, read_checksums
from bioims.bbbc021.synthetic.model import SynthConfig, SyntheticBbbc021

PLATES = ("Week1_22123", "Week2_24121")
WELLS = ("B02", "B03")
FAST = Fetcher(timeout=5, retries=3, backoff=0.01)


def _published_lines() -> list[str]:
    with gzip.open(csvs.packaged_path(layout.IMAGE_CSV_GZ), "rt", newline="") as handle:
        return handle.read().splitlines(keepends=True)


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def served(http_server, design: Design):
    """A miniature BBBC021 site: 2 plates x 2 wells x 4 sites, 32 x 40 TIFFs."""
    base_url, state = http_server
    lines = _published_lines()
    fields = design.fields[design.fields["plate"].isin(PLATES) & design.fields["well"].isin(WELLS)]
    (state.root / layout.IMAGE_CSV).write_text(
        lines[0] + "".join(lines[i + 1] for i in sorted(fields["image_row"])), newline=""
    )
    (state.root / layout.MOA_CSV).write_bytes(csvs.packaged_path(layout.MOA_CSV).read_bytes())
    (state.root / layout.COMPOUND_CSV).write_text('"compound","smiles"\n"taxol","CC(=O)O"\n"DMSO","CS(C)=O"\n')
    world = SyntheticBbbc021(SynthConfig(seed=0, height=32, width=40, cell_scale=0.2), design)
    contents: dict[str, dict[str, bytes]] = {}
    for plate in PLATES:
        files = {}
        for row in fields[fields["plate"] == plate].itertuples():
            image = world.render(plate, row.well, row.site)
            for channel, pixels in zip(layout.CHANNELS, image, strict=True):
                buffer = io.BytesIO()
                tifffile.imwrite(buffer, pixels)
                files[f"{plate}/{getattr(row, f'file_{channel}')}"] = buffer.getvalue()
        contents[plate] = files
        (state.root / layout.plate_zip_name(plate)).write_bytes(_zip_bytes(files))
    return base_url, state, contents


def _zip_requests(state) -> list[tuple[str, str | None]]:
    return [entry for entry in state.log if entry[0].endswith(".zip")]


def test_download_unpacks_into_the_layout_and_skips_on_rerun(served, tmp_path):
    base_url, state, contents = served
    out = tmp_path / "bbbc021"
    events = []

    class Recorder:
        def begin(self, name, total):
            events.append(("begin", name, total))

        def advance(self, name, n):
            events.append(("advance", name, n))

        def end(self, name):
            events.append(("end", name))

    report = download(out, base_url=base_url, workers=2, progress=Recorder(), fetcher=FAST)
    assert sorted(report.plates_fetched) == sorted(PLATES) and report.plates_skipped == []
    assert sorted(report.csvs_fetched) == sorted(layout.PUBLISHED_CSVS)
    for files in contents.values():
        for name, data in files.items():
            assert (out / name).read_bytes() == data
    assert not (out / layout.WORK_DIR).exists()  # zips deleted, staging gone
    local = load_design_from_dir(out)
    assert local.plates == PLATES and len(local.fields) == 16
    zip_name = layout.plate_zip_name(PLATES[0])
    assert ("end", zip_name) in events
    assert sum(n for kind, name, *rest in events if kind == "advance" and name == zip_name for n in rest) == len(
        (state.root / zip_name).read_bytes()
    )

    state.log.clear()
    again = download(out, base_url=base_url, fetcher=FAST)
    assert again.plates_fetched == [] and sorted(again.plates_skipped) == sorted(PLATES)
    assert state.log == []  # nothing requested: CSVs present, plates complete


def test_interrupted_transfer_resumes_with_range(served, tmp_path):
    base_url, state, contents = served
    name = layout.plate_zip_name(PLATES[0])
    state.truncate_once.add(name)
    download(tmp_path / "out", [PLATES[0]], base_url=base_url, fetcher=FAST)
    requests = [r for r in _zip_requests(state) if r[0] == name]
    assert len(requests) == 2 and requests[0][1] is None
    size = len((state.root / name).read_bytes())
    assert requests[1][1] == f"bytes={size // 2}-"
    for file, data in contents[PLATES[0]].items():
        assert (tmp_path / "out" / file).read_bytes() == data


def test_partial_file_is_restarted_when_the_server_ignores_range(served, tmp_path):
    base_url, state, contents = served
    out = tmp_path / "out"
    name = layout.plate_zip_name(PLATES[1])
    (out / layout.WORK_DIR).mkdir(parents=True)
    (out / layout.WORK_DIR / f"{name}.part").write_bytes(b"stale bytes of an older attempt")
    state.ignore_range = True
    download(out, [PLATES[1]], base_url=base_url, fetcher=FAST)
    for file, data in contents[PLATES[1]].items():
        assert (out / file).read_bytes() == data


def test_checksums(served, tmp_path):
    base_url, state, _ = served
    name = layout.plate_zip_name(PLATES[0])
    good = hashlib.md5((state.root / name).read_bytes()).hexdigest()
    listing = tmp_path / "md5.txt"
    listing.write_text(f"{good}  {name}\n")
    assert read_checksums(listing) == {name: good}
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download(out, [PLATES[0]], base_url=base_url, checksums={name: "0" * 32}, fetcher=FAST)
    assert not (out / PLATES[0]).exists()
    assert not (out / layout.WORK_DIR / f"{name}.part").exists()
    download(out, [PLATES[0]], base_url=base_url, checksums=read_checksums(listing), fetcher=FAST)
    assert (out / PLATES[0]).is_dir()
    listing.write_text("not a checksum line\n")
    with pytest.raises(DownloadError, match="hex digest"):
        read_checksums(listing)


def test_bad_zips_fail_their_plate_only(served, tmp_path):
    base_url, state, contents = served
    # Plate 0: a truncated zip (served whole, so the size check passes). Plate 1: fine.
    broken = layout.plate_zip_name(PLATES[0])
    data = (state.root / broken).read_bytes()
    (state.root / broken).write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match=f"{PLATES[0]}.*not a valid zip"):
        download(out, base_url=base_url, workers=2, fetcher=FAST)
    assert not (out / PLATES[0]).exists()
    assert (out / PLATES[1]).is_dir()
    assert not (out / layout.WORK_DIR / broken).exists()  # deleted so a re-run fetches it again

    # A zip missing a listed TIFF, then one with a member escaping the directory.
    files = dict(contents[PLATES[0]])
    files.pop(next(iter(files)))
    (state.root / broken).write_bytes(_zip_bytes(files))
    with pytest.raises(DownloadError, match="lacks 1 of the 24 files"):
        download(out, base_url=base_url, fetcher=FAST)
    (state.root / broken).write_bytes(_zip_bytes({**contents[PLATES[0]], "../escape.tif": b"II*\x00"}))
    with pytest.raises(DownloadError, match="unsafe member"):
        download(out, base_url=base_url, fetcher=FAST)
    assert not (tmp_path / "escape.tif").exists() and not (out / PLATES[0]).exists()
    # A listed file that is not a TIFF.
    bad = dict(contents[PLATES[0]])
    bad[next(iter(bad))] = b"plain text, no TIFF header"
    (state.root / broken).write_bytes(_zip_bytes(bad))
    with pytest.raises(DownloadError, match="not a TIFF"):
        download(out, base_url=base_url, fetcher=FAST)
    # Fixed on the server: the re-run completes the missing plate only.
    (state.root / broken).write_bytes(_zip_bytes(contents[PLATES[0]]))
    report = download(out, base_url=base_url, fetcher=FAST)
    assert report.plates_fetched == [PLATES[0]] and report.plates_skipped == [PLATES[1]]


def test_unknown_plates_and_missing_files(served, tmp_path):
    base_url, state, _ = served
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match="not in the image CSV: Week3_25421"):
        download(out, ["Week3_25421"], base_url=base_url, fetcher=FAST)
    assert not _zip_requests(state)
    (state.root / layout.plate_zip_name(PLATES[1])).unlink()
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(out, [PLATES[1]], base_url=base_url, fetcher=FAST)
    with pytest.raises(DownloadError, match="connection failed"):
        download(
            tmp_path / "nowhere", base_url="http://127.0.0.1:9/", fetcher=Fetcher(timeout=1, retries=1, backoff=0.01)
        )


def test_bad_csv_from_server(served, tmp_path):
    base_url, state, _ = served
    (state.root / layout.IMAGE_CSV).write_text("TableNumber,ImageNumber\n1,2\n")
    out = tmp_path / "out"
    with pytest.raises(
        DownloadError, match="downloaded BBBC021_v1_image.csv is unusable and was removed.*lacks column"
    ):
        download(out, base_url=base_url, fetcher=FAST)
    assert not _zip_requests(state)
    assert not (out / layout.IMAGE_CSV).exists()  # fetched by this run and bad: removed
    (out / layout.IMAGE_CSV).write_text("TableNumber\n1\n")  # the user's own file stays
    with pytest.raises(DownloadError, match="already in .* is unusable"):
        download(out, base_url=base_url, fetcher=FAST)
    assert (out / layout.IMAGE_CSV).exists()


def test_from_dir_copies_local_zips_with_the_same_checks(served, tmp_path):
    """`from_dir`: the published files from a local directory; nothing is requested over HTTP."""
    _, state, contents = served
    source = state.root
    (source / layout.COMPOUND_CSV).unlink()  # optional in a local copy: nothing reads it
    name = layout.plate_zip_name(PLATES[0])
    out = tmp_path / "out"
    # An interrupted earlier copy continues from its partial file (the checksum proves the join).
    whole = (source / name).read_bytes()
    (out / layout.WORK_DIR).mkdir(parents=True)
    (out / layout.WORK_DIR / f"{name}.part").write_bytes(whole[: len(whole) // 3])
    first = download(out, [PLATES[0]], from_dir=source, checksums={name: hashlib.md5(whole).hexdigest()})
    csv_bytes = sum((source / n).stat().st_size for n in (layout.IMAGE_CSV, layout.MOA_CSV))
    assert first.plates_fetched == [PLATES[0]] and sorted(first.csvs_fetched) == sorted(
        [layout.IMAGE_CSV, layout.MOA_CSV]
    )
    assert first.bytes_fetched == csv_bytes + len(whole) - len(whole) // 3
    assert not (out / layout.COMPOUND_CSV).exists()
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download(tmp_path / "bad", [PLATES[0]], from_dir=source, checksums={name: "0" * 32})
    assert not (tmp_path / "bad" / PLATES[0]).exists()
    report = download(out, from_dir=source, workers=2)
    assert report.plates_fetched == [PLATES[1]] and report.plates_skipped == [PLATES[0]] and report.csvs_fetched == []
    for files in contents.values():
        for file, data in files.items():
            assert (out / file).read_bytes() == data
    assert state.log == []
    assert load_design_from_dir(out).plates == PLATES

    # A missing zip fails its plate only; a bad zip is refused as from the web.
    other = tmp_path / "other"
    (source / layout.plate_zip_name(PLATES[1])).unlink()
    (source / name).write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DownloadError) as caught:
        download(other, from_dir=source)
    assert "not a valid zip" in str(caught.value) and f"{layout.plate_zip_name(PLATES[1])} not found" in str(
        caught.value
    )
    assert not (other / PLATES[0]).exists() and not (other / PLATES[1]).exists()
    with pytest.raises(DownloadError, match="is not a directory"):
        download(other, from_dir=tmp_path / "absent")
