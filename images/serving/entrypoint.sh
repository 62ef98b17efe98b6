#!/bin/bash
# tensorflow/serving's /usr/bin/tf_serving_entrypoint.sh: ports 8500/8501,
# ${MODEL_BASE_PATH}/${MODEL_NAME}, and any extra arguments appended as server flags.
# exec keeps tini's signal forwarding direct.
# A first argument that is an absolute path is a command of its own instead (server flags always
# start with '--'): the Kafka bridge runs as `/opt/maas/python/bin/python3 -m maas_dataplane.bridge`.
case "${1:-}" in
    /*) exec "$@" ;;
esac
exec tensorflow_model_server --port=8500 --rest_api_port=8501 \
    --model_name="${MODEL_NAME}" --model_base_path="${MODEL_BASE_PATH}/${MODEL_NAME}" "$@"
