"""The OpenAPI 3 document of the search service's HTTP API (served at /openapi.json)."""

from __future__ import annotations

from bioims import __version__
from bioims.search.query import DEFAULT_HITS, MAX_HITS, MAX_TAGS


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def document() -> dict:
    tag_list = {"type": "array", "items": {"type": "integer", "minimum": 0}, "maxItems": MAX_TAGS}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "bioimage-search search service",
            "version": __version__,
            "description": (
                "Exact nearest-neighbour search over image embeddings of a training, with tag filters "
                "applied inside the search. Reachable only from inside the deployment's network."
            ),
        },
        "paths": {
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness and what is loaded",
                    "responses": {
                        "200": {
                            "description": "Service is up",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
                        }
                    },
                }
            },
            "/trainings": {
                "get": {
                    "operationId": "listTrainings",
                    "summary": "Trainings loaded in the index",
                    "responses": {
                        "200": {
                            "description": "Loaded trainings",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "trainings": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Training"},
                                            }
                                        },
                                    }
                                }
                            },
                        }
                    },
                }
            },
            "/trainings/{trainId}": {
                "get": {
                    "operationId": "getTraining",
                    "summary": "One loaded training and its plates",
                    "parameters": [{"name": "trainId", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {
                            "description": "The training",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Training"}}},
                        },
                        "404": _error("Training not loaded"),
                    },
                }
            },
            "/search": {
                "post": {
                    "operationId": "search",
                    "summary": "k nearest images to an indexed image (never returned itself) or to a vector",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SearchQuery"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "Hits, best first",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SearchResult"}}},
                        },
                        "400": _error("Invalid query"),
                        "404": _error("Unknown trainId or queryImageId"),
                        "409": _error("A filter needs state that is not loaded (tag labels)"),
                        "413": _error("Request body too large"),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3 document"}},
                }
            },
        },
        "components": {
            "schemas": {
                "SearchQuery": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["trainId"],
                    "description": "Exactly one of queryImageId and vector.",
                    "properties": {
                        "trainId": {"type": "string"},
                        "queryImageId": {"type": "string"},
                        "vector": {"type": "array", "items": {"type": "number"}},
                        "metric": {"type": "string", "enum": ["Cosine", "Euclidean"], "default": "Cosine"},
                        "maxHits": {"type": "integer", "minimum": 1, "maximum": MAX_HITS, "default": DEFAULT_HITS},
                        "requireMoa": {
                            "type": "boolean",
                            "default": False,
                            "description": "Only images with a tag whose value starts with 'moa:'",
                        },
                        "inclusionTags": {**tag_list, "description": "Only images with any of these tag ids"},
                        "exclusionTags": {**tag_list, "description": "No images with any of these tag ids"},
                    },
                },
                "Hit": {
                    "type": "object",
                    "properties": {
                        "imageId": {"type": "string"},
                        "rank": {"type": "integer", "minimum": 0},
                        "distance": {
                            "type": "number",
                            "description": "Cosine distance 1 - cos, or Euclidean distance: the ranking metric",
                        },
                    },
                },
                "SearchResult": {
                    "type": "object",
                    "properties": {
                        "trainId": {"type": "string"},
                        "queryImageId": {"type": "string", "nullable": True},
                        "metric": {"type": "string"},
                        "maxHits": {"type": "integer"},
                        "candidateCount": {"type": "integer", "description": "Images the filters allowed"},
                        "hits": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
                    },
                },
                "Training": {
                    "type": "object",
                    "properties": {
                        "trainId": {"type": "string"},
                        "embeddingName": {"type": "string"},
                        "dimension": {"type": "integer"},
                        "images": {"type": "integer"},
                        "plates": {
                            "oneOf": [
                                {"type": "integer"},
                                {"type": "object", "additionalProperties": {"type": "integer"}},
                            ]
                        },
                    },
                },
                "Health": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "string", "enum": ["ok"]},
                        "trainings": {"type": "integer"},
                        "images": {"type": "integer"},
                        "uptimeSeconds": {"type": "number"},
                        "tags": {"type": "object"},
                        "loadErrors": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                },
            }
        },
    }
