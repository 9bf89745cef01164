"""Exports a real Hugging Face T5 v1.1 / flan-T5 checkpoint folder to the Optimum ONNX layout with export_onnx.py,
optionally in the decoder_attention_mask variant whose rows can join a running decode batch (continuous batching).

  /usr/bin/python3 scripts/reference/export_hf.py HF_DIR OUT_DIR [--decoder-attention-mask] [--check]
  /usr/bin/python3 scripts/reference/export_hf.py --self-test

HF_DIR is a checkpoint folder as the Hub has it (e.g. google/flan-t5-small downloaded elsewhere): config.json and
pytorch_model.bin (or shards listed in pytorch_model.bin.index.json), loaded with torch.load(weights_only=True) into
t5.T5, whose parameter names are Hugging Face's; encoder.embed_tokens / decoder.embed_tokens are tied to `shared`
(checked equal when present). model.safetensors is not read: Debian has no python3-safetensors package and there
is no PyPI here; a folder with only safetensors is refused with that reason. Weights are converted to float32.
config.json, generation_config.json and the tokenizer files present (spiece.model, tokenizer.json,
tokenizer_config.json, special_tokens_map.json) are copied to OUT_DIR. Only checkpoints whose float32 weights stay
under protobuf's 2 GB limit are supported (flan-t5-small and -base; not -large and up).

--check compares every graph under ONNX Runtime with the loaded torch model (check_onnx.check; needs the .NET SDK).
--self-test writes the demo model's weights as an HF-named pytorch_model.bin, exports it both ways and asserts the
graphs are byte-identical to models/demo and tests/Inference.Tests/Fixtures/tiny-join (same weights, same export).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_onnx  # noqa: E402
import t5  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
COPIED = ("config.json", "generation_config.json", "spiece.model", "tokenizer.json", "tokenizer_config.json",
          "special_tokens_map.json")
TIED = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight")


def read_state_dict(hf_dir: str) -> dict:
    single = os.path.join(hf_dir, "pytorch_model.bin")
    index = os.path.join(hf_dir, "pytorch_model.bin.index.json")
    if os.path.exists(single):
        files = [single]
    elif os.path.exists(index):
        with open(index) as f:
            files = [os.path.join(hf_dir, x) for x in sorted(set(json.load(f)["weight_map"].values()))]
    elif any(x.endswith(".safetensors") for x in os.listdir(hf_dir)):
        raise SystemExit(f"{hf_dir} has only safetensors weights, which this script cannot read (no safetensors "
                         "package here): use a checkpoint with pytorch_model.bin")
    else:
        raise SystemExit(f"{hf_dir} has no pytorch_model.bin nor pytorch_model.bin.index.json")
    sd = {}
    for path in files:
        sd.update(torch.load(path, map_location="cpu", weights_only=True))
    return sd


def load(hf_dir: str) -> t5.T5:
    """The checkpoint in hf_dir as a t5.T5 in eval mode (float32)."""
    config = os.path.join(hf_dir, "config.json")
    if not os.path.exists(config):
        raise SystemExit(f"{hf_dir} has no config.json")
    m = t5.T5(t5.T5Config.load(config))
    sd = read_state_dict(hf_dir)
    if "shared.weight" not in sd:
        raise SystemExit("the checkpoint has no shared.weight (the token embedding)")
    for name in TIED:
        t = sd.pop(name, None)
        if t is not None and not torch.equal(t, sd["shared.weight"]):
            raise SystemExit(f"{name} differs from shared.weight: untied input embeddings are not supported")
    expected = m.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    if missing or unexpected:
        raise SystemExit(f"checkpoint does not match the T5 v1.1 layout of config.json: missing {missing[:8]}, "
                         f"unexpected {unexpected[:8]}")
    for k, v in sd.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise SystemExit(f"{k}: shape {tuple(v.shape)} in the checkpoint, {tuple(expected[k].shape)} by config.json")
    m.load_state_dict({k: v.to(torch.float32) for k, v in sd.items()}, strict=True)
    m.eval()
    size = 4 * sum(p.numel() for p in m.parameters())
    if size >= 2 ** 31:
        raise SystemExit(f"{size / 2 ** 30:.1f} GiB of float32 weights: over protobuf's 2 GB limit, not supported")
    return m


def hf_state_dict(m: t5.T5) -> dict:
    """m's weights named as Hugging Face saves T5ForConditionalGeneration (with the tied embedding copies)."""
    sd = {k: v.clone() for k, v in m.state_dict().items()}
    for name in TIED:
        sd[name] = sd["shared.weight"].clone()
    return sd


def export(hf_dir: str, out_dir: str, decoder_attention_mask: bool, check: bool = False) -> None:
    torch.set_num_threads(1)  # deterministic reductions, as make_tiny.py
    m = load(hf_dir)
    os.makedirs(out_dir, exist_ok=True)
    for f in COPIED:
        if os.path.exists(os.path.join(hf_dir, f)):
            shutil.copyfile(os.path.join(hf_dir, f), os.path.join(out_dir, f))
    export_onnx.export_all(m, out_dir, decoder_attention_mask=decoder_attention_mask)
    export_onnx.check_interface(out_dir, m.config.num_decoder_layers)
    for f in sorted(os.listdir(out_dir)):
        if f.endswith(".onnx"):
            print(export_onnx.describe(os.path.join(out_dir, f)).splitlines()[0])
    if check:
        import check_onnx
        check_onnx.check(m, out_dir)


def self_test() -> None:
    import make_tiny
    demo = make_tiny.MODEL_DIR
    m = t5.build(os.path.join(demo, "config.json"), make_tiny.SEED, make_tiny.EOS_ROW_SCALE)
    with tempfile.TemporaryDirectory() as d:
        hf = os.path.join(d, "hf")
        os.makedirs(hf)
        for f in ("config.json", "generation_config.json", "spiece.model"):
            shutil.copyfile(os.path.join(demo, f), os.path.join(hf, f))
        torch.save(hf_state_dict(m), os.path.join(hf, "pytorch_model.bin"))
        cases = [(False, {f: demo for f in ("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx",
                                            "decoder_model_merged.onnx")}),
                 (True, {"encoder_model.onnx": demo, "decoder_model.onnx": demo,
                         **{f: make_tiny.JOIN_DIR for f in make_tiny.JOIN_FILES}})]
        for masked, expected in cases:
            out = os.path.join(d, "masked" if masked else "stock")
            export(hf, out, masked, check=masked)
            for f, ref_dir in expected.items():
                with open(os.path.join(out, f), "rb") as a, open(os.path.join(ref_dir, f), "rb") as b:
                    if a.read() != b.read():
                        raise SystemExit(f"self-test: {f} (decoder_attention_mask={masked}) differs from "
                                         f"{os.path.relpath(ref_dir, ROOT)}/{f}")
            print(f"self-test: decoder_attention_mask={masked}: all four graphs byte-identical to "
                  f"{sorted(set(os.path.relpath(x, ROOT) for x in expected.values()))}")
        # a checkpoint whose embedding copies are untied must be refused, not silently exported
        sd = hf_state_dict(m)
        sd["decoder.embed_tokens.weight"][0, 0] += 1.0
        torch.save(sd, os.path.join(hf, "pytorch_model.bin"))
        try:
            load(hf)
            raise AssertionError("an untied decoder.embed_tokens was accepted")
        except SystemExit as e:
            print(f"self-test: refused as expected: {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("hf_dir", nargs="?")
    ap.add_argument("out_dir", nargs="?")
    ap.add_argument("--decoder-attention-mask", action="store_true",
                    help="with-past and merged decoders take decoder_attention_mask (rows can join a running batch)")
    ap.add_argument("--check", action="store_true", help="compare every graph under ONNX Runtime with torch")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        self_test()
    elif args.hf_dir and args.out_dir:
        export(args.hf_dir, args.out_dir, args.decoder_attention_mask, args.check)
    else:
        ap.error("give HF_DIR and OUT_DIR, or --self-test")


if __name__ == "__main__":
    main()
