"""SageMaker script-mode training entry (also run as a subprocess by the local backend).

SageMaker sets SM_CHANNEL_TRAINING, SM_MODEL_DIR, SM_HOSTS, SM_CURRENT_HOST and SM_NUM_GPUS and
passes the embedding's hyperparameters as `--name value`; see bioims.learning.scriptmode for the
full contract. `model_fn` keeps the original's inference contract (docs/original.md §4.8).
"""

from __future__ import annotations

import sys

from bioims.learning.modelcard import load_model
from bioims.learning.scriptmode import main


def model_fn(model_dir: str):
    """The trained network in eval mode on the best available device."""
    from bioims.learning.device import select_device

    net, _card = load_model(model_dir, select_device("auto"))
    return net


if __name__ == "__main__":
    sys.exit(main())
