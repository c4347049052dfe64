"""Evaluation of trainings as their users run it (`bioims report`, the walkthrough, notebooks):
image profiles of a training read through the service clients (`profiles`) and the report of a
training against its leave-one-compound-out models and the other methods (`training`).

Client-side orchestration: it reads stored work through bioims.clients, so it works against
either backend from the user's machine. The statistics themselves are bioims.evaluation's.
"""
