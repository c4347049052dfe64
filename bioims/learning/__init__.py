"""Embedding networks, pair sampling, training loop, checkpoints and embedding inference.

Public API (import from the submodules; this package imports nothing heavy by itself):
  hyperparameters  TrainConfig, resolve_config, NETWORK_DEFAULTS, HyperparameterError
  networks         create_network, NETWORKS, Bbbc021Net, ResNetEmbedding, NetworkError
  manifest         select_training_images, inspect_images, build_training_manifest,
                   prepare_training_set, write/read_training_manifest, parse_exclusion_list,
                   TrainingManifest, TrainingSetError
  trainer          train_network, Trainer, TrainProgress, CheckpointMismatch
  modelcard        load_model, fetch_model, publish_model, ModelError
  inference        embed_rois, image_embedding, embed_image, embed_plate,
                   write/read_plate_embeddings, EmbeddingError (vectors as text: bioims.vectors)
  scriptmode       main (SageMaker script mode), run_script (local subprocess), parse_progress_line
"""
