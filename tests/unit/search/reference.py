"""An independent brute-force reference for the search engine: float64 numpy distances to every
allowed image, filters evaluated with Python sets, order (distance, imageId)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MOA_LABELS = {1: "moa:Actindisruptors", 2: "moa:Eg5inhibitors", 3: "moa:DNAdamage", 4: "moa:Kinaseinhibitors"}
COMPOUND_LABELS = {10 + i: f"compound:c{i}" for i in range(8)}
BATCH_LABELS = {30: "batch:Week1", 31: "batch:Week2"}
LABELS = {**MOA_LABELS, **COMPOUND_LABELS, **BATCH_LABELS}


@dataclass
class Dataset:
    image_ids: list[str]
    vectors: np.ndarray  # float32 (n, d)
    plates: list[str]  # plate of each image
    tags: dict[str, list[int]] = field(default_factory=dict)

    def plate_rows(self, plate: str) -> np.ndarray:
        return np.flatnonzero(np.asarray(self.plates) == plate)


def random_data(n: int, d: int, seed: int, plates: int = 3) -> Dataset:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, d)).astype(np.float32)
    return _with_tags(vectors, rng, plates)


def clustered_data(n: int, d: int, seed: int, clusters: int = 6, spread: float = 0.3, plates: int = 3) -> Dataset:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d))
    labels = rng.integers(0, clusters, n)
    vectors = (centres[labels] + spread * rng.standard_normal((n, d))).astype(np.float32)
    return _with_tags(vectors, rng, plates)


def _with_tags(vectors: np.ndarray, rng: np.random.Generator, plates: int) -> Dataset:
    n = vectors.shape[0]
    # Shuffled ids, so id order is not row order.
    ids = [f"img{v:05d}" for v in rng.permutation(n)]
    plate_of = [f"plate{p}" for p in rng.integers(0, plates, n)]
    tags: dict[str, list[int]] = {}
    for image_id in ids:
        kind = rng.random()
        if kind < 0.1:
            continue  # untagged
        if kind < 0.2:
            tags[image_id] = [int(rng.choice(list(BATCH_LABELS)))]  # tagged, but no MOA
            continue
        chosen = {int(rng.choice(list(MOA_LABELS))), int(rng.choice(list(COMPOUND_LABELS)))}
        if rng.random() < 0.5:
            chosen.add(int(rng.choice(list(BATCH_LABELS))))
        tags[image_id] = sorted(chosen)
    return Dataset(ids, vectors, plate_of, tags)


def allowed(data: Dataset, inclusion=(), exclusion=(), require_moa=False, labels=LABELS) -> list[int]:
    out = []
    for row, image_id in enumerate(data.image_ids):
        tags = set(data.tags.get(image_id, ()))
        if inclusion and not tags & set(inclusion):
            continue
        if exclusion and tags & set(exclusion):
            continue
        if require_moa and not any(labels.get(t, "").startswith("moa:") for t in tags):
            continue
        out.append(row)
    return out


def brute_force(
    data: Dataset,
    *,
    query_id: str | None = None,
    vector: np.ndarray | None = None,
    k: int,
    metric: str = "Cosine",
    inclusion=(),
    exclusion=(),
    require_moa=False,
) -> tuple[list[str], np.ndarray]:
    rows = [r for r in allowed(data, inclusion, exclusion, require_moa) if data.image_ids[r] != query_id]
    q = (data.vectors[data.image_ids.index(query_id)] if query_id is not None else vector).astype(np.float64)
    candidates = data.vectors[rows].astype(np.float64)
    if metric == "Cosine":
        distance = 1.0 - candidates @ q / (np.linalg.norm(candidates, axis=1) * np.linalg.norm(q))
    else:
        distance = np.sqrt(((candidates - q) ** 2).sum(axis=1))
    order = sorted(range(len(rows)), key=lambda j: (distance[j], data.image_ids[rows[j]]))[:k]
    return [data.image_ids[rows[j]] for j in order], distance[order]


def min_gap(distances: np.ndarray) -> float:
    """Smallest non-zero gap between sorted distances (data sanity: no near-ties)."""
    values = np.sort(distances)
    gaps = np.diff(values)
    gaps = gaps[gaps > 0]
    return float(gaps.min()) if gaps.size else np.inf


def load(engine, data: Dataset, train_id: str = "train1", embedding: str = "emb1", labels=LABELS) -> None:
    for plate in sorted(set(data.plates)):
        rows = data.plate_rows(plate)
        engine.add_plate(train_id, embedding, plate, [data.image_ids[r] for r in rows], data.vectors[rows])
        engine.set_plate_tags(
            embedding,
            plate,
            {data.image_ids[r]: data.tags[data.image_ids[r]] for r in rows if data.image_ids[r] in data.tags},
        )
    engine.set_tag_labels(labels)
