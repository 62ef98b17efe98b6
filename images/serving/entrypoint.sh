#!/bin/bash
# tensorflow/serving's /usr/bin/tf_serving_entrypoint.sh: ports 8500/8501,
# ${MODEL_BASE_PATH}/${MODEL_NAME}, and any extra arguments appended as server flags.
# exec keeps tini's signal forwarding direct.
exec tensorflow_model_server --port=8500 --rest_api_port=8501 \
    --model_name="${MODEL_NAME}" --model_base_path="${MODEL_BASE_PATH}/${MODEL_NAME}" "$@"
