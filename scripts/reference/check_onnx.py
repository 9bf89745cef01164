"""Runs the exported graphs under ONNX Runtime (through the small C# runner in ortcheck/, since there is no Python
onnxruntime here) and compares every output with the torch reference, at sizes other than the ones traced.

  /usr/bin/python3 scripts/reference/check_onnx.py MODEL_DIR SEED EOS_ROW_SCALE [GOLDENS.json]
  e.g. check_onnx.py models/demo 1234 2.0 tests/Inference.Tests/Fixtures/tiny/goldens.json
       check_onnx.py .models/flan-t5-small-random 42 1.0

Checks: encoder (padded batch of 3); decoder_model (4 decoder tokens); decoder_with_past_model (1 token after a past
of 4, i.e. the relative bias at query position = past length); decoder_model_merged with use_cache_branch false
(past tensors of length 0) and true (present.*.encoder.* are the past ones passed through). Prints the largest
absolute difference per graph and fails above the tolerance. With GOLDENS.json, also replays every batch-1 greedy
golden end to end under ONNX Runtime, through the merged decoder and through the split pair.

For the decoder_attention_mask variant (export_onnx.py docstring; detected from decoder_with_past_model.onnx) the
runs above feed an all-ones mask, and one padded case is added for the split and the merged decoder: the batched
step right after row B joined row A (B's self-attention cache left-padded with zeros and masked; see
check_decoder_mask.py), compared with the torch reference's masked decode and, for the logits, with each row alone.
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_decoder_mask  # noqa: E402
import t5  # noqa: E402
from export_onnx import has_decoder_attention_mask, kv_names  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def _sources_digest() -> str:
    h = hashlib.sha256()
    for name in sorted(os.listdir(os.path.join(HERE, "ortcheck"))):
        if name.endswith((".cs", ".csproj")):
            with open(os.path.join(HERE, "ortcheck", name), "rb") as fh:
                h.update(name.encode() + fh.read())
    return h.hexdigest()[:12]


# keyed by the runner's sources, so an edited runner (or another checkout's) is never reused stale
RUNNER_DIR = os.path.join(tempfile.gettempdir(), "ortcheck-bin-" + _sources_digest())


def tensor(t: torch.Tensor) -> dict:
    dtype = {torch.int64: "int64", torch.float32: "float32", torch.bool: "bool"}[t.dtype]
    return {"dtype": dtype, "shape": list(t.shape), "data": t.flatten().tolist()}


def runner_path() -> str:
    runner = os.path.join(RUNNER_DIR, "ortcheck")
    if not os.path.exists(runner):
        subprocess.run(["dotnet", "build", os.path.join(HERE, "ortcheck"), "-c", "Release", "-o", RUNNER_DIR,
                        "--nologo", "-v", "q"], check=True)
    return runner


def run(runs):
    runner = runner_path()
    with tempfile.TemporaryDirectory() as d:
        req, resp = os.path.join(d, "req.json"), os.path.join(d, "resp.json")
        with open(req, "w") as f:
            json.dump({"runs": runs}, f)
        subprocess.run([runner, req, resp], check=True)
        with open(resp) as f:
            out = json.load(f)
    return [{k: torch.tensor(v["data"], dtype=torch.float32).view(v["shape"]) for k, v in r.items()} for r in out]


def main(model_dir: str, seed: int, eos_row_scale: float, tol: float = 2e-3) -> None:
    check(t5.build(os.path.join(model_dir, "config.json"), seed, eos_row_scale), model_dir, tol)


@torch.no_grad()
def check(m: t5.T5, model_dir: str, tol: float = 2e-3) -> None:
    """Compares the graphs in model_dir with the torch model m (random or loaded weights, e.g. export_hf.py's)."""
    c = m.config
    n, H, D = c.num_decoder_layers, c.num_heads, c.d_kv
    g = torch.Generator().manual_seed(5)
    lens = [11, 4, 7]
    ids = torch.zeros(3, 11, dtype=torch.long)
    mask = torch.zeros(3, 11, dtype=torch.long)
    for i, L in enumerate(lens):
        ids[i, :L] = torch.randint(3, c.vocab_size, (L,), generator=g)
        ids[i, L - 1] = 1
        mask[i, :L] = 1
    hidden = m.encode(ids, mask)
    cross = m.cross_kv(hidden)
    dec = torch.cat([torch.zeros(3, 1, dtype=torch.long), torch.randint(3, c.vocab_size, (3, 4), generator=g)], 1)
    logits_full, present_full = m.decode(dec[:, :4], mask, cross, None)
    logits_step, present_step = m.decode(dec[:, 4:], mask, cross, present_full)
    # the cached step must equal the last row of a full recompute
    logits_all, _ = m.decode(dec, mask, cross, None)
    assert (logits_all[:, 4] - logits_step[:, 0]).abs().max() < 1e-4

    past = {}
    for i in range(n):
        past[f"past_key_values.{i}.decoder.key"] = present_full[i][0]
        past[f"past_key_values.{i}.decoder.value"] = present_full[i][1]
        past[f"past_key_values.{i}.encoder.key"] = cross[i][0]
        past[f"past_key_values.{i}.encoder.value"] = cross[i][1]
    empty = {k: (torch.zeros(3, H, 0, D) if ".decoder." in k else torch.zeros(3, H, 0, D)) for k in past}
    f = lambda name: os.path.join(model_dir, name)
    masked = has_decoder_attention_mask(f("decoder_with_past_model.onnx"))
    # the variant's mask with no padding: past + new tokens, all attended
    ones = lambda q: {"decoder_attention_mask": tensor(torch.ones(3, 4 + q, dtype=torch.long))} if masked else {}
    runs = [
        {"model": f("encoder_model.onnx"), "inputs": {"input_ids": tensor(ids), "attention_mask": tensor(mask)}},
        {"model": f("decoder_model.onnx"), "inputs": {"encoder_attention_mask": tensor(mask),
                                                     "input_ids": tensor(dec[:, :4]),
                                                     "encoder_hidden_states": tensor(hidden)}},
        {"model": f("decoder_with_past_model.onnx"), "inputs": {"encoder_attention_mask": tensor(mask),
                                                               "input_ids": tensor(dec[:, 4:]), **ones(1),
                                                               **{k: tensor(v) for k, v in past.items()}}},
    ]
    merged = os.path.exists(f("decoder_model_merged.onnx"))
    if merged:
        runs.append({"model": f("decoder_model_merged.onnx"), "inputs": {
            "encoder_attention_mask": tensor(mask), "input_ids": tensor(dec[:, :4]),
            **({"decoder_attention_mask": tensor(torch.ones(3, 4, dtype=torch.long))} if masked else {}),
            "encoder_hidden_states": tensor(hidden), **{k: tensor(v) for k, v in empty.items()},
            "use_cache_branch": tensor(torch.tensor([False]))}})
        runs.append({"model": f("decoder_model_merged.onnx"), "inputs": {
            "encoder_attention_mask": tensor(mask), "input_ids": tensor(dec[:, 4:]), **ones(1),
            "encoder_hidden_states": tensor(hidden), **{k: tensor(v) for k, v in past.items()},
            "use_cache_branch": tensor(torch.tensor([True]))}})
    if masked:
        # a joined batch: row B's cache left-padded with zeros to row A's length, the padding masked
        (p_tok, p_enc_mask, p_cross, p_past, p_dec_mask), (p_logits, p_present), p_alone = \
            check_decoder_mask.padded_step_case(m)
        for b, ref in enumerate(p_alone):
            d = (p_logits[b, -1] - ref).abs().max().item()
            print(f"torch padded step, row {b}: max |masked batch - row alone| logits = {d:.2e}")
            assert d < 1e-4, d
        p_in = {"encoder_attention_mask": tensor(p_enc_mask), "input_ids": tensor(p_tok),
                "decoder_attention_mask": tensor(p_dec_mask)}
        for i in range(n):
            p_in[f"past_key_values.{i}.decoder.key"], p_in[f"past_key_values.{i}.decoder.value"] = \
                tensor(p_past[i][0]), tensor(p_past[i][1])
            p_in[f"past_key_values.{i}.encoder.key"], p_in[f"past_key_values.{i}.encoder.value"] = \
                tensor(p_cross[i][0]), tensor(p_cross[i][1])
        runs.append({"model": f("decoder_with_past_model.onnx"), "inputs": p_in})
        if merged:
            runs.append({"model": f("decoder_model_merged.onnx"), "inputs": {
                **p_in, "encoder_hidden_states": tensor(torch.zeros(2, p_enc_mask.size(1), c.d_model)),
                "use_cache_branch": tensor(torch.tensor([True]))}})
    out = run(runs)

    expect_first = {"logits": logits_full}
    for i in range(n):
        expect_first[f"present.{i}.decoder.key"], expect_first[f"present.{i}.decoder.value"] = present_full[i]
        expect_first[f"present.{i}.encoder.key"], expect_first[f"present.{i}.encoder.value"] = cross[i]
    expect_step = {"logits": logits_step}
    for i in range(n):
        expect_step[f"present.{i}.decoder.key"], expect_step[f"present.{i}.decoder.value"] = present_step[i]
    expect_merged_step = dict(expect_step)
    for i in range(n):
        expect_merged_step[f"present.{i}.encoder.key"], expect_merged_step[f"present.{i}.encoder.value"] = cross[i]

    checks = [("encoder_model", {"last_hidden_state": hidden}, ["last_hidden_state"]),
              ("decoder_model", expect_first, ["logits"] + kv_names("present", n)),
              ("decoder_with_past_model", expect_step, ["logits"] + kv_names("present", n, False))]
    if merged:
        checks += [("decoder_model_merged[use_cache_branch=false]", expect_first, ["logits"] + kv_names("present", n)),
                   ("decoder_model_merged[use_cache_branch=true]", expect_merged_step,
                    ["logits"] + kv_names("present", n))]
    if masked:
        expect_padded = {"logits": p_logits}
        for i in range(n):
            expect_padded[f"present.{i}.decoder.key"], expect_padded[f"present.{i}.decoder.value"] = p_present[i]
        checks.append(("decoder_with_past_model[joined, left-padded]", expect_padded,
                       ["logits"] + kv_names("present", n, False)))
        if merged:
            expect_merged_padded = dict(expect_padded)
            for i in range(n):
                expect_merged_padded[f"present.{i}.encoder.key"], expect_merged_padded[f"present.{i}.encoder.value"] \
                    = p_cross[i]
            checks.append(("decoder_model_merged[true, joined, left-padded]", expect_merged_padded,
                           ["logits"] + kv_names("present", n)))
    ok = True
    for (name, expect, names), got in zip(checks, out):
        assert list(got) == names, f"{name}: outputs {list(got)} != {names}"
        worst = 0.0
        for k in names:
            assert list(got[k].shape) == list(expect[k].shape), f"{name}.{k}: shape {got[k].shape} vs {expect[k].shape}"
            worst = max(worst, (got[k] - expect[k]).abs().max().item())
        argmax_same = True
        if "logits" in expect:
            argmax_same = bool((got["logits"].argmax(-1) == expect["logits"].argmax(-1)).all())
        print(f"{name:48s} max |onnxruntime - torch| = {worst:.2e}  argmax equal: {argmax_same}")
        ok &= worst <= tol and argmax_same
    if not ok:
        raise SystemExit("ONNX Runtime disagrees with the torch reference")
    print("all graphs agree with the torch reference")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
    if len(sys.argv) > 4:
        subprocess.run([runner_path(), "greedy", sys.argv[1], sys.argv[4]], check=True)
