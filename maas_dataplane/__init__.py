"""maas-iac's data plane: what runs inside containers, never on the operator's machine.

* :mod:`maas_dataplane.model_server`: the TensorFlow-Serving-compatible model server
  (``python -m maas_dataplane.model_server``).
* :mod:`maas_dataplane.contract`: the serving image's contract (ports, entrypoint variables)
  that the control plane builds containers against.
* :mod:`maas_dataplane.probe`: the health and status probe, a constant shell script that runs
  in any TF-Serving-compatible image, the official one included.
* :mod:`maas_dataplane.load_check`: loads SavedModel versions and reports which do not load.

This package imports nothing of the control plane (``maas_iac``); the serving image contains
only it. Importing it is cheap: TensorFlow and grpc load only with the model server.
"""
