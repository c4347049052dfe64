"""Evaluation of profiles: NSC and NSCB (cosine 1-NN on other compounds / other batches) at
treatment, well or image level, the original's compound vote, MOA-retrieval mAP (copairs),
confusion matrices, bootstrap intervals, figures and reports."""

from bioims.evaluation.bootstrap import bootstrap_ci
from bioims.evaluation.confusion import confusion_dict, confusion_frame, confusion_matrix, neighbour_label_matrix
from bioims.evaluation.evaluate import evaluate, summary_only
from bioims.evaluation.neighbours import NeighbourResult, nsc, nsc_left_out, nscb
from bioims.evaluation.prepare import EvaluationError, Prepared, prepare
from bioims.evaluation.report import compound_table, write_report
from bioims.evaluation.retrieval import MapResult, mean_average_precision
from bioims.evaluation.vote import CompoundVoteResult, compound_vote

__all__ = [
    "CompoundVoteResult",
    "EvaluationError",
    "MapResult",
    "NeighbourResult",
    "Prepared",
    "bootstrap_ci",
    "compound_table",
    "compound_vote",
    "confusion_dict",
    "confusion_frame",
    "confusion_matrix",
    "evaluate",
    "mean_average_precision",
    "neighbour_label_matrix",
    "nsc",
    "nsc_left_out",
    "nscb",
    "prepare",
    "summary_only",
    "write_report",
]
