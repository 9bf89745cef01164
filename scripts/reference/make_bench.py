"""Writes a random-weight model of the exact flan-t5-small shape in the Optimum ONNX layout (for benchmarks).

  /usr/bin/python3 scripts/reference/make_bench.py OUT_DIR [--seed 42] [--decoder-attention-mask]

--decoder-attention-mask exports the with-past and merged decoders in the project's decoder_attention_mask variant
(export_onnx.py docstring), which lets rows join a running decode batch; the encoder and decoder_model are unchanged.

Uses the repository's copies of the real non-weight files (tests/Inference.Tests/Fixtures/flan-t5-small/:
config.json, generation_config.json, spiece.model). Weights are random (init in t5.T5.init_random with the
plain lm_head, so generations rarely end early): text is meaningless, speed and memory are real.
"""

import argparse
import json
import os
import shutil
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_onnx  # noqa: E402
import t5  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
REAL = os.path.join(ROOT, "tests", "Inference.Tests", "Fixtures", "flan-t5-small")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--decoder-attention-mask", action="store_true",
                    help="with-past and merged decoders take decoder_attention_mask (rows can join a running batch)")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    t0 = time.time()
    os.makedirs(args.out_dir, exist_ok=True)
    for f in ("generation_config.json", "spiece.model"):
        shutil.copyfile(os.path.join(REAL, f), os.path.join(args.out_dir, f))
    # flan-t5-small's config plus "random_weights": true (not a Hugging Face key): the app then says its text is meaningless.
    with open(os.path.join(REAL, "config.json")) as f:
        config = json.load(f)
    config["random_weights"] = True
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    m = t5.build(os.path.join(args.out_dir, "config.json"), args.seed)
    print(f"{sum(p.numel() for p in m.parameters()) / 1e6:.1f} M parameters, built in {time.time() - t0:.1f} s")
    export_onnx.export_all(m, args.out_dir, decoder_attention_mask=args.decoder_attention_mask)
    export_onnx.check_interface(args.out_dir, m.config.num_decoder_layers)
    for f in sorted(os.listdir(args.out_dir)):
        if f.endswith(".onnx"):
            print(export_onnx.describe(os.path.join(args.out_dir, f)).splitlines()[0])
    print(f"done in {time.time() - t0:.1f} s -> {args.out_dir}")


if __name__ == "__main__":
    main()
