#!/usr/bin/env bash
# The Python environment of the OTLP receiver the tracing tests run (scripts/otlp-receiver.py): a venv in
# .build/otlp-venv with the opentelemetry-proto package from PyPI. Quick when it is already there; prints the
# venv's python on success. Fails loudly when the package cannot be installed (the tests then fail too).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/otlp-venv
python="$venv/bin/python"
check() { "$python" -c "import opentelemetry.proto.collector.trace.v1.trace_service_pb2" 2>/dev/null; }
if [ -x "$python" ] && check; then
    echo "$PWD/$python"
    exit 0
fi
mkdir -p .build
rm -rf "$venv"
python3 -m venv "$venv" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check "opentelemetry-proto>=1.20" >&2
check || { echo "opentelemetry-proto does not import in $venv" >&2; exit 1; }
echo "$PWD/$python"
