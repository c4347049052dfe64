"""Embedding networks, pair sampling, training loop, checkpoints and embedding inference.

Public API (import from the submodules; this package imports nothing heavy by itself):
  hyperparameters  TrainConfig, resolve_config, split_build_parameters, NETWORK_DEFAULTS,
                   HyperparameterError
  networks         create_network, NETWORKS ("bbbc021-1", "bioims-resnet"), Bbbc021Net,
                   ResNetEmbedding, NetworkError
  manifest         select_training_images, inspect_images, build_training_manifest,
                   prepare_training_set, write/read_training_manifest, parse_exclusion_list,
                   TrainingManifest, TrainingSetError
  sampling         RoiTable, PairSampler, minibatch_rng          roifiles  RoiReader, inspect_roi_files
  trainer          train_network, write_untrained_model, Trainer, TrainProgress, CheckpointMismatch
  validation       ValidationPlan, evaluate (val_loss, val_knn_accuracy on held-out wells)
  modelcard        load_model, fetch_model, publish_model, write_model, ModelError
  inference        embed_rois, image_embedding, embed_image, embed_plate,
                   write/read_plate_embeddings, EmbeddingError (vectors as text: bioims.vectors)
  jobs             embedding_compute (the "embedding-compute" container job)
  scriptmode       main (SageMaker script mode / container `train`)
  progress         the BIOIMS_PROGRESS line format and its text (no torch)
"""
