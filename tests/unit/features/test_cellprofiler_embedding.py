"""A CellProfiler-feature training through the paths a network's embeddings take: recorded by the
embedding service (no SageMaker), embedded by the embedding-compute workflow and job, re-run
without changes, searched, and reported with the default profiling recipe; `bioims embed
--cellprofiler` and `bioims report` do the same from the command line."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from click.testing import CliRunner

import bioims
from bioims import keys
from bioims.cli.main import main_group
from bioims.features.cellprofiler import DEFAULT_GROUPS, feature_names, roi_features
from bioims.features.plates import image_profile, plate_normalize
from bioims.learning.inference import read_plate_embeddings
from bioims.vectors import decode_vector
from tests.unit.features import require_cp_measure
from tests.unit.learning.learning_roiset import cell_rois, write_image
from tests.unit.learning.service_screen import COMPOUNDS, EMBEDDING, HEIGHT, MOAS, SPEC, WIDTH, call, error

require_cp_measure()

CHANNELS = ["dapi", "actin"]


def _upload(ctx, name: str, seed: int) -> tuple[str, list[dict]]:
    """A validated plate: two wells of two sites per compound and of DMSO, with ROI files and ROI
    documents as process-plate writes them (channel order and parameters)."""
    images = []
    for c, compound in enumerate(("DMSO", *COMPOUNDS)):
        label = "DMSO" if c == 0 else MOAS[(c - 1) // 2]
        for well in range(2):
            for site in range(2):
                images.append(
                    {
                        "wellSourceId": f"W{c}{well}",
                        "imageSourceId": f"{name}-{compound}-{well}-{site}",
                        "sourceBucket": "/data",
                        "sourceKey": "",
                        "category": "moa",
                        "label": label,
                        "subclassType": "compound",
                        "subclass": compound,
                    }
                )
    key = f"manifests/{name}.json"
    ctx.stores.resource_bucket.put_bytes(key, json.dumps({"plateSourceId": name, "images": images}).encode())
    plate_id = call(
        ctx, "image-management", "populateSourcePlate", inputBucket=ctx.stores.resource_bucket.bucket, inputKey=key
    )["plateId"]
    rows = ctx.service("image-management").plate_images(plate_id)
    for row in rows:
        call(
            ctx,
            "image-management",
            "applyInspectionResult",
            inspectionResult={
                "imageId": row["imageId"],
                "valid": True,
                "width": WIDTH,
                "height": HEIGHT,
                "depth": 1,
                "channels": len(CHANNELS),
            },
        )
    assert call(ctx, "image-management", "validatePlate", plateId=plate_id)["status"] == "VALIDATED"
    rng = np.random.default_rng(seed)
    for row in rows:
        compound = ("DMSO", *COMPOUNDS).index(row["trainSubclass"])
        count = (
            0 if row["imageSourceId"].endswith("-0-1") and compound == 1 else SPEC.rois_per_image
        )  # one image without ROIs
        rois = cell_rois(rng, max(compound - 1, 0) // 2, compound, SPEC, count)
        write_image(ctx.stores.data, EMBEDDING, plate_id, row["imageId"], rois, 0, compound)
        document = {"roi": [], "channels": CHANNELS, "parameters": {"segmentationChannel": "dapi"}}
        ctx.stores.data.put_bytes(keys.roi_json_key(EMBEDDING, plate_id, row["imageId"]), json.dumps(document).encode())
    return plate_id, rows


@pytest.fixture
def screen(local_ctx):
    call(
        local_ctx,
        "training-configuration",
        "createEmbedding",
        embedding={
            "embeddingName": EMBEDDING,
            "inputWidth": WIDTH,
            "inputHeight": HEIGHT,
            "inputChannels": len(CHANNELS),
            "roiWidth": SPEC.size,
            "roiHeight": SPEC.size,
            "segmentationChannel": "dapi",
        },
    )
    return local_ctx, dict(_upload(local_ctx, name, seed) for seed, name in enumerate(("Week1_P1", "Week2_P2")))


def _npy(store, key: str) -> np.ndarray:
    return np.load(io.BytesIO(store.get_bytes(key)))


def test_record_embed_rerun_search_and_report(screen, tmp_path):
    ctx, plates = screen
    recorded = call(ctx, "embedding", "createFeatureTraining", trainId="cp1", embeddingName=EMBEDDING)
    assert recorded["training"]["kind"] == "cellprofiler" and recorded["training"]["status"] == "trained"
    assert recorded["card"]["groups"] == list(DEFAULT_GROUPS)
    assert (
        call(ctx, "embedding", "createFeatureTraining", trainId="cp1", embeddingName=EMBEDDING)["card"]
        == recorded["card"]
    )
    assert (
        error(
            ctx,
            "embedding",
            "createFeatureTraining",
            trainId="cp1",
            embeddingName=EMBEDDING,
            groups=["intensity", "feret"],
        )[0]
        == 409
    )
    assert (
        error(ctx, "embedding", "createFeatureTraining", trainId="cp9", embeddingName=EMBEDDING, groups=["haralick"])[0]
        == 400
    )
    assert error(ctx, "embedding", "createFeatureTraining", trainId="cp9", embeddingName="nope")[0] == 404

    assert call(ctx, "embedding", "startComputeEmbedding", trainId="cp1")["status"] == "SUCCEEDED"
    status = call(ctx, "embedding", "getEmbeddingStatus", trainId="cp1")
    assert status["complete"] and status["status"] == "embedded"
    store = ctx.stores.data
    names = feature_names(CHANNELS)
    arrays = {}
    for plate_id, rows in plates.items():
        with_rois = sorted(
            r["imageId"] for r in rows if not r["imageSourceId"].startswith(f"{r['plateSourceId']}-{COMPOUNDS[0]}-0-1")
        )
        ids, matrix = arrays[plate_id] = read_plate_embeddings(store, "cp1", plate_id)
        assert ids == with_rois and matrix.shape == (len(ids), len(names))
        # recomputed here from the ROI tensors: the ROI files and the plate-normalised image vectors
        per_roi = []
        for image_id in ids:
            rois = _npy(store, keys.roi_tensor_key(EMBEDDING, plate_id, image_id))
            expected, _ = roi_features(rois, CHANNELS, 0)
            stored = _npy(store, keys.roi_embedding_key("cp1", plate_id, image_id))
            np.testing.assert_array_equal(stored, expected)
            per_roi.append(image_profile(stored))
        control = np.array(
            [
                r["imageSourceId"].split("-")[1] == "DMSO"
                for r in sorted(rows, key=lambda r: r["imageId"])
                if r["imageId"] in ids
            ]
        )
        assert control.sum() == 4
        np.testing.assert_allclose(matrix, plate_normalize(np.stack(per_roi), control), rtol=1e-5, atol=1e-5)
        train_rows = {r["imageId"]: r for r in ctx.service("image-management").plate_train_rows(plate_id, "cp1")}
        assert set(train_rows) == set(ids)
        np.testing.assert_array_equal(decode_vector(train_rows[ids[0]]["embedding"]), matrix[0])
    # evaluation reads the raw image means (the recipe's input), not the per-plate vectors of search
    from bioims.profiling.columns import IMAGE_ID
    from bioims.reports.profiles import training_profiles

    profiles = training_profiles("cp1", context=ctx).set_index(IMAGE_ID)
    for plate_id, (ids, _) in arrays.items():
        for image_id in ids:
            stored = _npy(store, keys.roi_embedding_key("cp1", plate_id, image_id))
            np.testing.assert_array_equal(
                profiles.loc[image_id, [f"e{i}" for i in range(len(names))]].to_numpy(float), image_profile(stored)
            )
    # a re-run measures nothing again and changes nothing
    assert call(ctx, "embedding", "startComputeEmbedding", trainId="cp1")["status"] == "SUCCEEDED"
    for plate_id, (ids, matrix) in arrays.items():
        again_ids, again = read_plate_embeddings(store, "cp1", plate_id)
        assert again_ids == ids and np.array_equal(again, matrix)

    search = bioims.client("search")
    assert search.startTrainingLoad(trainId="cp1")["status"] == "SUCCEEDED"
    query = arrays[sorted(arrays)[0]][0][0]
    answer = search.searchByImageId(trainId="cp1", queryImageId=query, maxHits=5)
    assert (
        answer["status"] == "completed"
        and len(answer["hits"]) == 5
        and query not in {h["imageId"] for h in answer["hits"]}
    )

    from bioims.reports.training import report_training

    summary, paths = report_training("cp1", tmp_path / "report", level="well", n_boot=20, context=ctx)
    assert summary["kind"] == "cellprofiler" and summary["recipe"] == "default" and summary["left_out_trainings"] == 0
    assert summary["nsc"]["total"] > 0 and paths["report"].is_file()

    # the same from the command line, with other groups
    run = CliRunner().invoke(
        main_group,
        ["embed", "cp2", "--cellprofiler", EMBEDDING, "--groups", "intensity,correlation", "--json"],
        catch_exceptions=False,
    )
    assert run.exit_code == 0, run.output
    result = json.loads(run.output.strip().splitlines()[-1])
    assert result["status"] == "SUCCEEDED" and result["complete"]
    ids, matrix = read_plate_embeddings(ctx.stores.data, "cp2", sorted(plates)[0])
    assert matrix.shape[1] == len(feature_names(CHANNELS, ("intensity", "correlation")))
    report = CliRunner().invoke(
        main_group,
        ["report", "cp2", "--level", "well", "--bootstrap", "20", "--json", "--out", str(tmp_path / "r")],
        catch_exceptions=False,
    )
    assert report.exit_code == 0, report.output
    assert json.loads(report.output)["recipe"] == "default"
    bad = CliRunner().invoke(main_group, ["embed", "cp3", "--groups", "intensity"])
    assert bad.exit_code == 1 and "--cellprofiler" in bad.output
