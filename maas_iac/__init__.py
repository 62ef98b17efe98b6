"""maas-iac: declarative Model-as-a-Service infrastructure on Pulumi.

One YAML spec per model service (``models/*.yaml``); ``pulumi up`` on a stack resolves the
model's Git revision, builds a content-addressed TensorFlow Serving image, runs health-gated
replicas behind a router, creates the model's Kafka topics and announces each deployed version.
"""
