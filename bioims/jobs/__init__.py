"""The jobs that perform stored work: read a stored plate, image or training through the data
services and the stores, call the science (bioims.imaging, learning, features), write the outputs
and record status and telemetry.

Each module is one kind of stored work: plate flat fields (`flatfields`), one image's ROIs
(`rois`), inspection and default thumbnails (`artifacts`), a plate's embeddings for a training
(`embeddings`, sharing `plate_embeddings` between `network_embeddings` and
`feature_embeddings`), field-statistics profiles (`fieldstats`), with the pieces they share:
image status per embedding (`status`), parameters from the configuration service
(`parameters`), training labels (`labels`), message-log lines (`telemetry`).

They take the Context (bioims.context) and use its typed service accessors; the science packages
below never see a service. The composite services (image-artifact, embedding) and the container
job table (bioims.workflows.jobs) call them.
"""
