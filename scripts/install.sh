#!/usr/bin/env bash
# Install fcjax with everything its test suite uses, into the active Python environment (make and activate a venv
# first: python3 -m venv .venv && . .venv/bin/activate). Versions are pinned by requirements/ci-constraints.txt.
#
#   core + [tf,test]        fcjax, TensorFlow (CPU) for TFDS's tf.data path and .pb conversion, pytest
#   torch==2.13.0 (CPU)     test-only: writes reference .pth files and runs the Lucent reference model. Users never
#                           need it (fcjax reads .pth itself). Pinned exactly: a bare or ranged `torch` pulls a CUDA
#                           build of several GB.
#   torch-lucent, kornia    the PyTorch reference (Lucent), without its deps (they would pull CUDA torch and a
#                           torchvision that does not import beside torch 2.13.0 CPU)
#   playwright              drives Debian's chromium for the atlas report's browser test (apt-get install chromium;
#                           the test skips without a browser). Its own browser download is not used.
#
# FCJAX_INSTALL_CORE_ONLY=1 installs the core alone (jax, flax, optax, orbax, numpy, tfds, matplotlib).
set -euo pipefail
cd "$(dirname "$0")/.."
C=requirements/ci-constraints.txt
pip() { python -m pip --disable-pip-version-check "$@"; }

if [ "${FCJAX_INSTALL_CORE_ONLY:-0}" = 1 ]; then
  pip install --quiet -c "$C" -e .
  exit 0
fi
pip install --quiet -c "$C" "torch==2.13.0"
pip install --quiet -c "$C" -e ".[tf,test]"
pip install --quiet -c "$C" --no-deps "torch-lucent==0.1.8" "kornia==0.4.1"
pip install --quiet -c "$C" "playwright==1.65.2"
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  # The browser test of the atlas report; best effort (it skips, saying why, without a browser).
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "install.sh: chromium not installed; the browser test will skip" >&2
fi
echo "fcjax installed: $(python -c 'import fcjax; print(fcjax.__version__)')"
