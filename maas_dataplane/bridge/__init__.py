"""The inference-over-Kafka bridge: ``python -m maas_dataplane.bridge``.

Answers ``<stack>.<model>.requests`` on ``<stack>.<model>.predictions`` (and
``<stack>.<model>.errors``) through the model's gRPC API, exactly once: consume, predict and
produce in one Kafka transaction per batch. Modules: ``messages`` (the record contract),
``config`` (flags and environment), ``inference`` (batching, retries, TF Serving's JSON),
``loop`` (the transactional loop, rebalances, fencing), ``main``.
"""
