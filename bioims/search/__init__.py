"""Nearest-neighbour search over image embeddings: an exact FAISS index per trainId, tag filters
applied inside the search, snapshots in the object store, and the queue/HTTP service around it.

    engine = SearchEngine(stores.data)          # or SearchEngine() for memory only
    engine.load()                               # rebuild from snapshots
    engine.add_plate(train_id, "bbbc021", plate_id, image_ids, vectors)
    engine.set_plate_tags("bbbc021", plate_id, {image_id: [tag ids]})
    engine.set_tag_labels({1: "moa:Actindisruptors", ...})
    result = engine.search({"trainId": train_id, "queryImageId": image_id, "maxHits": 10,
                            "requireMoa": True, "exclusionTags": [51]})
    result.hits()                               # [{imageId, rank, distance}], best first
"""

from bioims.search.engine import SearchEngine, SearchResult, pin_faiss_thread
from bioims.search.query import DEFAULT_HITS, MAX_HITS, Metric, SearchQuery, TagFilter, parse_query

__all__ = [
    "DEFAULT_HITS",
    "MAX_HITS",
    "Metric",
    "SearchEngine",
    "SearchQuery",
    "SearchResult",
    "TagFilter",
    "parse_query",
    "pin_faiss_thread",
]
