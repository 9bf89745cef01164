"""Builds the committed tiny T5 model (models/demo/) and its goldens (tests/Inference.Tests/Fixtures/tiny/goldens.json).

  /usr/bin/python3 scripts/reference/make_tiny.py            # config, onnx, goldens (keeps the committed spiece.model)
  /usr/bin/python3 scripts/reference/make_tiny.py --goldens  # goldens only
  /usr/bin/python3 scripts/reference/make_tiny.py --spiece   # also retrain spiece.model from tiny_corpus.txt
  /usr/bin/python3 scripts/reference/make_tiny.py --join-fixture   # only tests/Inference.Tests/Fixtures/tiny-join/:
      the demo model's decoder_with_past_model.onnx and decoder_model_merged.onnx exported with decoder_attention_mask
      (export_onnx.py's continuous-batching variant); asserts the variant's encoder and decoder_model are
      byte-identical to models/demo's, so tests may assemble the full model from models/demo + these two files

The model is the exact T5 v1.1 architecture at toy size with RANDOM weights (seed SEED): its text is meaningless.
Every golden comes from the KV-cached reference loop and is asserted equal to a full recompute without cache.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_onnx  # noqa: E402
import generate  # noqa: E402
import make_corpus  # noqa: E402
import t5  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
MODEL_DIR = os.path.join(ROOT, "models", "demo")
GOLDEN_DIR = os.path.join(ROOT, "tests", "Inference.Tests", "Fixtures", "tiny")
JOIN_DIR = os.path.join(ROOT, "tests", "Inference.Tests", "Fixtures", "tiny-join")
JOIN_FILES = ("decoder_with_past_model.onnx", "decoder_model_merged.onnx")
CORPUS = os.path.join(HERE, "tiny_corpus.txt")
SEED = 1234
EOS_ROW_SCALE = 2.0
GREEDY_MARGIN = 0.01   # min top1 - top2 logit gap at every greedy step
BEAM_MARGIN = 0.001    # min gap between any two compared beam scores (log-prob units)
HEURISTIC_MARGIN = 5e-4  # the same for the longer early_stopping-heuristic cases
DEMO_PROMPT = "Where is Ganymede located in the solar system?"

TINY = {
    "architectures": ["T5ForConditionalGeneration"],
    "d_ff": 128, "d_kv": 16, "d_model": 64, "decoder_start_token_id": 0, "dense_act_fn": "gelu_new",
    "dropout_rate": 0.1, "eos_token_id": 1, "feed_forward_proj": "gated-gelu", "initializer_factor": 1.0,
    "is_encoder_decoder": True, "is_gated_act": True, "layer_norm_epsilon": 1e-06, "model_type": "t5",
    "n_positions": 512, "num_decoder_layers": 2, "num_heads": 4, "num_layers": 2, "pad_token_id": 0,
    # Not a Hugging Face key: tells the app (playground, POST /api/tokenize) that this model's text is meaningless.
    "random_weights": True,
    "relative_attention_max_distance": 128, "relative_attention_num_buckets": 32, "tie_word_embeddings": False,
    "torch_dtype": "float32", "use_cache": True, "vocab_size": 1024,
}
GENERATION = {"decoder_start_token_id": 0, "eos_token_id": 1, "pad_token_id": 0}


def write_json(path, obj, indent=2):
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")


def train_spiece(vocab_size: int) -> None:
    import sentencepiece as spm
    if not os.path.exists(CORPUS):
        make_corpus.main(CORPUS, lines=3000)
    prefix = os.path.join(MODEL_DIR, "spiece")
    spm.SentencePieceTrainer.train(
        input=CORPUS, model_prefix=prefix, vocab_size=vocab_size, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
        normalization_rule_name="nmt_nfkc", character_coverage=1.0, num_threads=1, minloglevel=2)
    os.remove(prefix + ".vocab")


def candidates(sp, n: int, seed: int):
    """(text, ids with </s>) pairs of 1..60 tokens: the empty prompt, the demo prompt, then generated English."""
    r = random.Random(seed)
    out = [("", [1]), (DEMO_PROMPT, sp.encode(DEMO_PROMPT) + [1])]
    while len(out) < n:
        words = " ".join(make_corpus.sentence(r) for _ in range(4)).split()
        text = " ".join(words[:r.randrange(1, 48)])
        ids = sp.encode(text) + [1]
        if len(ids) <= 60:
            out.append((text, ids))
    return out


def check_greedy(m, rows, max_new, min_margin=None):
    """Cached greedy, asserted equal (ids) and close (logits) to a full recompute without cache (the recompute is
    skipped for a candidate whose margin already rules it out)."""
    a, margin, la = generate.greedy(m, rows, max_new, use_cache=True)
    if min_margin is not None and min(margin) < min_margin:
        return a, margin, la
    b, _, lb = generate.greedy(m, rows, max_new, use_cache=False)
    assert a == b, "KV-cached greedy differs from full recompute"
    diff = max((x - y).abs().max().item() for x, y in zip(la, lb))
    assert diff < 1e-4, f"cached vs recomputed logits differ by {diff}"
    return a, margin, la


def check_beam(m, rows, k, max_new, lp, early, margin=BEAM_MARGIN, with_steps=False):
    a, mg, steps = generate.beam_search(m, rows, k, max_new, lp, early, use_cache=True)
    if mg >= margin:
        b, _, steps_b = generate.beam_search(m, rows, k, max_new, lp, early, use_cache=False)
        assert a == b and steps == steps_b, "KV-cached beam search differs from full recompute"
    return (a, mg, steps) if with_steps else (a, mg)


def goldens(m, sp) -> dict:
    cands = candidates(sp, 400, seed=2024)
    tok = [{"text": t, "ids": i[:-1]} for t, i in cands[:12]]

    # ---- greedy, batch 1: one input per length band, margin >= GREEDY_MARGIN at every step --------------------------
    bands = [(1, 1), (2, 3), (4, 6), (7, 9), (10, 13), (14, 18), (19, 24), (25, 31), (32, 39), (40, 48), (49, 55),
             (56, 60)]
    greedy_cases, used = [], set()
    want_eos, want_max = 0, 0
    for band in bands + [(2, 60)] * 4:
        for ci, (text, ids) in enumerate(cands):
            if ci in used or not band[0] <= len(ids) <= band[1]:
                continue
            max_new = 20 if len(greedy_cases) % 3 else 32
            out, margin, logits = check_greedy(m, [ids], max_new, GREEDY_MARGIN)
            if margin[0] < GREEDY_MARGIN:
                continue
            ends = out[0][-1] == 1
            # the four extra cases prefer whichever ending (EOS / max_new_tokens) is scarcer so far
            if band == (2, 60) and ends != (want_eos <= want_max):
                continue
            used.add(ci)
            want_eos += ends
            want_max += not ends
            greedy_cases.append({"text": text, "input_ids": ids, "max_new_tokens": max_new, "output_ids": out[0],
                                 "ends_with_eos": ends, "min_top2_margin": round(margin[0], 6)})
            break
    demo = next((g for g in greedy_cases if g["text"] == DEMO_PROMPT), None)
    if demo is None:  # the demo prompt is the main job's: record it when its margins allow
        out, margin, _ = check_greedy(m, [cands[1][1]], 20, GREEDY_MARGIN)
        if margin[0] >= GREEDY_MARGIN:
            greedy_cases.append({"text": DEMO_PROMPT, "input_ids": cands[1][1], "max_new_tokens": 20,
                                 "output_ids": out[0], "ends_with_eos": out[0][-1] == 1,
                                 "min_top2_margin": round(margin[0], 6)})

    # ---- first-step logits top-5 (float tolerance check) ------------------------------------------------------------
    first = greedy_cases[1]
    _, _, logits = check_greedy(m, [first["input_ids"]], 1)
    top = torch.topk(logits[0][0], 5)
    first_step = {"text": first["text"], "input_ids": first["input_ids"], "decoder_input_ids": [0],
                  "top5": [{"id": int(i), "logit": float(v)} for v, i in zip(top.values, top.indices)]}

    # ---- right-padded greedy batch: rows of different lengths, each stopping on its own ----------------------------
    pool = sorted(greedy_cases, key=lambda g: len(g["input_ids"]))
    eos_rows = [g for g in pool if g["ends_with_eos"] and g["max_new_tokens"] == 20]
    other = [g for g in pool if g not in eos_rows[:2] and g["max_new_tokens"] == 20]
    rows = (eos_rows[:2] + other[::max(1, len(other) // 3)])[:5]
    rows = rows[1::2] + rows[0::2]  # lengths not in order, so padding lands in the middle of the batch too
    batch_ids = [g["input_ids"] for g in rows]
    out, margin, _ = check_greedy(m, batch_ids, 20)
    for g, o in zip(rows, out):
        single, _, _ = generate.greedy(m, [g["input_ids"]], 20)
        assert single[0] == o, "batched row differs from the same input alone"
    assert min(margin) >= GREEDY_MARGIN, margin
    padded, mask = generate.pad_batch(batch_ids)
    greedy_batch = {"texts": [g["text"] for g in rows], "input_ids": batch_ids, "padded_input_ids": padded.tolist(),
                    "attention_mask": mask.tolist(), "max_new_tokens": 20, "output_ids": out,
                    "min_top2_margin": round(min(margin), 6)}

    # ---- beam search -------------------------------------------------------------------------------------------------
    beam_cases = []
    per_flag = {False: 0, True: 0}
    differing = 0
    for text, ids in cands[2:]:
        if min(per_flag.values()) >= 5 and differing >= 2:
            break
        res = {False: check_beam(m, [ids], 4, 20, 1.0, False)}
        if res[False][1] < BEAM_MARGIN:
            continue
        res[True] = check_beam(m, [ids], 4, 20, 1.0, True)
        if res[True][1] < BEAM_MARGIN:
            continue
        differs = res[False][0] != res[True][0]
        if per_flag[False] >= 5 and not differs:
            continue
        differing += differs
        for early in (False, True):
            per_flag[early] += 1
            beam_cases.append({"text": text, "input_ids": ids, "num_beams": 4, "length_penalty": 1.0,
                               "early_stopping": early, "max_new_tokens": 20, "output_ids": res[early][0][0],
                               "differs_from_other_early_stopping": differs,
                               "min_score_margin": round(res[early][1], 6)})
    # a length_penalty != 1 case and a batched beam case
    extra = []
    for text, ids in cands[40:]:
        out, mg = check_beam(m, [ids], 4, 20, 2.0, False)
        if mg >= BEAM_MARGIN:
            extra.append({"text": text, "input_ids": ids, "num_beams": 4, "length_penalty": 2.0,
                          "early_stopping": False, "max_new_tokens": 20, "output_ids": out[0],
                          "min_score_margin": round(mg, 6)})
            break
    beam_batch = None
    two = [beam_cases[0], beam_cases[2]] if len(beam_cases) > 2 else []
    if two:
        rows2 = [two[0]["input_ids"], two[1]["input_ids"]]
        out, mg = check_beam(m, rows2, 4, 20, 1.0, False)
        for r, o in zip(rows2, out):
            assert generate.beam_search(m, [r], 4, 20, 1.0, False)[0][0] == o, "batched beam row differs"
        if mg >= BEAM_MARGIN:
            beam_batch = {"input_ids": rows2, "num_beams": 4, "length_penalty": 1.0, "early_stopping": False,
                          "max_new_tokens": 20, "output_ids": out, "min_score_margin": round(mg, 6)}

    # early_stopping false ending before max_new_tokens through the heuristic (worst finished score >= best
    # attainable): needs more room (40 tokens) and a slightly smaller margin, 5e-4, still far above the ~1e-5 by
    # which ONNX Runtime and torch sums of log-probs differ here
    heuristic = []
    for text, ids in cands[2:]:
        if len(heuristic) >= 6:
            break
        out, mg, steps = check_beam(m, [ids], 4, 40, 1.0, False, HEURISTIC_MARGIN, with_steps=True)
        if mg < HEURISTIC_MARGIN or steps >= 40:
            continue
        out_t, mg_t, steps_t = check_beam(m, [ids], 4, 40, 1.0, True, HEURISTIC_MARGIN, with_steps=True)
        if mg_t < HEURISTIC_MARGIN:
            continue
        for early, o, g_, st in ((False, out, mg, steps), (True, out_t, mg_t, steps_t)):
            heuristic.append({"text": text, "input_ids": ids, "num_beams": 4, "length_penalty": 1.0,
                              "early_stopping": early, "max_new_tokens": 40, "output_ids": o[0],
                              "differs_from_other_early_stopping": out[0] != out_t[0],
                              "decoder_steps": st, "min_score_margin": round(g_, 6)})

    return {
        "about": "Token-for-token goldens of the committed tiny T5 v1.1 model (models/demo, random weights, seed "
                 f"{SEED}) from scripts/reference/make_tiny.py. Ids only; text is meaningless.",
        "model_dir": "models/demo",
        "conventions": {
            "input_ids": "SentencePiece encode(text) of models/demo/spiece.model, then </s> (id 1) appended",
            "output_ids": "generated ids WITHOUT the decoder start token (0), WITH the final </s> (1) if produced",
            "decoder_start_token_id": 0, "eos_token_id": 1, "pad_token_id": 0,
            "greedy": "argmax each step; stop at </s> or after max_new_tokens; in a batch a finished row is fed "
                      "pad (0) and stops on its own. Every step's top1-top2 logit margin >= %g." % GREEDY_MARGIN,
            "beam": "transformers 4.38-4.49 BeamSearchScorer: log_softmax scores summed; top 2*num_beams "
                    "candidates per step; EOS candidates of rank < num_beams finish a hypothesis; hypothesis score = "
                    "sum_logprobs / generated_len ** length_penalty, generated_len = generated tokens INCLUDING the "
                    "final </s> (excluding the start token); rows not done at max_new_tokens add their running "
                    "beams with generated_len = generated tokens; early_stopping true: done when num_beams "
                    "hypotheses are finished; false: done when also worst finished score >= best candidate "
                    "score of the step / (generated tokens incl. this step's) ** length_penalty. See "
                    "scripts/reference/generate.py. Every compared score differs by >= %g (>= %g in the cases with "
                    "decoder_steps, which end before max_new_tokens)." % (BEAM_MARGIN, HEURISTIC_MARGIN),
        },
        "tokenization": tok,
        "greedy": greedy_cases,
        "greedy_batch": greedy_batch,
        "first_step_logits": first_step,
        "beam": beam_cases + extra + heuristic,
        "beam_batch": beam_batch,
    }


def join_fixture(m) -> None:
    """The two decoders of the demo model that take decoder_attention_mask, in JOIN_DIR (its README.md is kept)."""
    import shutil
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        export_onnx.export_all(m, d, decoder_attention_mask=True)
        export_onnx.check_interface(d, TINY["num_decoder_layers"])
        for f in ("encoder_model.onnx", "decoder_model.onnx"):
            with open(os.path.join(d, f), "rb") as a, open(os.path.join(MODEL_DIR, f), "rb") as b:
                if a.read() != b.read():
                    raise SystemExit(f"the variant's {f} differs from models/demo/{f}: rerun make_tiny.py first")
        os.makedirs(JOIN_DIR, exist_ok=True)
        for f in JOIN_FILES:
            shutil.copyfile(os.path.join(d, f), os.path.join(JOIN_DIR, f))
            print(export_onnx.describe(os.path.join(JOIN_DIR, f)))
    print("encoder_model.onnx and decoder_model.onnx of the variant are byte-identical to models/demo's")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--goldens", action="store_true", help="only regenerate goldens.json")
    ap.add_argument("--spiece", action="store_true",
                    help="also retrain spiece.model (then rerun tokenizer_goldens.py --basic for the demo model)")
    ap.add_argument("--join-fixture", action="store_true",
                    help="only write the decoder_attention_mask decoders to tests/Inference.Tests/Fixtures/tiny-join")
    args = ap.parse_args()
    torch.set_num_threads(1)  # deterministic reductions
    if args.join_fixture:
        join_fixture(t5.build(os.path.join(MODEL_DIR, "config.json"), SEED, EOS_ROW_SCALE))
        return
    os.makedirs(MODEL_DIR, exist_ok=True)
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    t0 = time.time()
    cfg_path = os.path.join(MODEL_DIR, "config.json")
    if args.spiece or not os.path.exists(os.path.join(MODEL_DIR, "spiece.model")):
        train_spiece(TINY["vocab_size"])
    if not args.goldens:
        write_json(cfg_path, TINY)
        write_json(os.path.join(MODEL_DIR, "generation_config.json"), GENERATION)
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(MODEL_DIR, "spiece.model"))
    assert sp.get_piece_size() == TINY["vocab_size"]
    m = t5.build(cfg_path, SEED, EOS_ROW_SCALE)
    if not args.goldens:
        export_onnx.export_all(m, MODEL_DIR)
        export_onnx.check_interface(MODEL_DIR, TINY["num_decoder_layers"])
        for f in sorted(os.listdir(MODEL_DIR)):
            if f.endswith(".onnx"):
                print(export_onnx.describe(os.path.join(MODEL_DIR, f)))
    g = goldens(m, sp)
    write_json(os.path.join(GOLDEN_DIR, "goldens.json"), g, indent=1)
    print(f"greedy {len(g['greedy'])} (eos {sum(x['ends_with_eos'] for x in g['greedy'])}), "
          f"batch rows {len(g['greedy_batch']['input_ids'])}, beam {len(g['beam'])}, "
          f"beam_batch {g['beam_batch'] is not None}; {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
