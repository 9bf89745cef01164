#!/usr/bin/env bash
# Writes a random-weight model of the exact flan-t5-small shape (77M parameters) in the Optimum ONNX layout:
# encoder_model.onnx, decoder_model.onnx, decoder_with_past_model.onnx, decoder_model_merged.onnx, config.json,
# generation_config.json, spiece.model. Real flan-T5 weights cannot be downloaded here; speed and memory of this
# model are those of the real one, its text is meaningless.
#   scripts/make-bench-model.sh [OUT_DIR]        (default .models/flan-t5-small-random, gitignored)
#   CHECK=1 scripts/make-bench-model.sh          also compares every graph under ONNX Runtime with the torch
#                                                reference (needs the .NET SDK; see scripts/reference/check_onnx.py)
#   DECODER_MASK=1 scripts/make-bench-model.sh .models/flan-t5-small-random-join
#                                                the variant whose rows can join a running decode batch (continuous
#                                                batching): decoder_with_past_model.onnx and decoder_model_merged.onnx
#                                                take decoder_attention_mask [batch, past + 1] after input_ids (not an
#                                                Optimum layout; see scripts/reference/export_onnx.py)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/.models/flan-t5-small-random}"
seed="${SEED:-42}"

# Debian's torch/onnx (there is no PyPI here); OpenBLAS makes Debian's torch ~10x faster than the reference BLAS.
packages=(python3-torch python3-onnx python3-numpy python3-sentencepiece libopenblas0-pthread)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "installing ${missing[*]}" >&2
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"
fi

start=$(date +%s)
mask_flag=()
[[ "${DECODER_MASK:-0}" == "1" ]] && mask_flag=(--decoder-attention-mask)
/usr/bin/python3 "$root/scripts/reference/make_bench.py" "$out" --seed "$seed" "${mask_flag[@]}"
if [[ "${CHECK:-0}" == "1" ]]; then
  /usr/bin/python3 "$root/scripts/reference/check_onnx.py" "$out" "$seed" 1.0
fi
echo "make-bench-model: $(( $(date +%s) - start )) s"
ls -l "$out"
