"""Builds the tiny T5 with a flan-T5-like padded vocabulary and its greedy goldens
(tests/Inference.Tests/Fixtures/tiny-padded/).

  /usr/bin/python3 scripts/reference/make_tiny_padded.py

flan-T5's logits have 32128 rows: 32000 SentencePiece pieces, 100 sentinel ids (<extra_id_N>) and 28 rows of padding
that no token maps to. models/demo has exactly as many rows as pieces (1024), so it cannot show what the engine does
with the rows beyond the tokenizer's pieces. This model has the demo's architecture, its spiece.model (1024 pieces; the
tests link models/demo/spiece.model) and 1024 + 100 + 28 = 1152 rows, random weights (seed SEED). Hugging Face's
generate and a plain ONNX Runtime loop take the argmax over every row, so the goldens are chosen to contain ids in
both extra ranges. The spiece.model is not copied: the tests link the demo's.
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_onnx  # noqa: E402
import generate  # noqa: E402
import make_tiny  # noqa: E402
import t5  # noqa: E402

OUT_DIR = os.path.join(make_tiny.ROOT, "tests", "Inference.Tests", "Fixtures", "tiny-padded")
PIECES = 1024
SENTINELS = 100
CONFIG = dict(make_tiny.TINY, vocab_size=PIECES + SENTINELS + 28)
SEED = 4321
GREEDY_CASES = 12


def main():
    torch.set_num_threads(1)  # deterministic reductions
    os.makedirs(OUT_DIR, exist_ok=True)
    t0 = time.time()
    cfg_path = os.path.join(OUT_DIR, "config.json")
    make_tiny.write_json(cfg_path, CONFIG)
    make_tiny.write_json(os.path.join(OUT_DIR, "generation_config.json"), make_tiny.GENERATION)
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(make_tiny.MODEL_DIR, "spiece.model"))
    assert sp.get_piece_size() == PIECES
    m = t5.build(cfg_path, SEED, make_tiny.EOS_ROW_SCALE)
    export_onnx.export_all(m, OUT_DIR)
    export_onnx.check_interface(OUT_DIR, CONFIG["num_decoder_layers"])

    def kinds(out):
        return {"sentinel": any(PIECES <= t < PIECES + SENTINELS for t in out),
                "padding_row": any(t >= PIECES + SENTINELS for t in out)}

    cases = []
    seen = {"sentinel": 0, "padding_row": 0}
    for text, ids in make_tiny.candidates(sp, 400, seed=2024):
        if len(cases) >= GREEDY_CASES:
            break
        max_new = 20 if len(cases) % 3 else 32
        out, margin, _ = make_tiny.check_greedy(m, [ids], max_new, make_tiny.GREEDY_MARGIN)
        if margin[0] < make_tiny.GREEDY_MARGIN:
            continue
        k = kinds(out[0])
        # the first half of the cases must reach beyond the pieces: that is what this model is for
        if len(cases) < GREEDY_CASES // 2 and not (k["sentinel"] or k["padding_row"]):
            continue
        for key in seen:
            seen[key] += k[key]
        cases.append({"text": text, "input_ids": ids, "max_new_tokens": max_new, "output_ids": out[0],
                      "ends_with_eos": out[0][-1] == 1, "has_sentinel": k["sentinel"],
                      "has_padding_row": k["padding_row"], "min_top2_margin": round(margin[0], 6)})
    assert seen["sentinel"] >= 2 and seen["padding_row"] >= 2, seen

    rows = [c["input_ids"] for c in cases if c["max_new_tokens"] == 20][:4]
    out, margin, _ = make_tiny.check_greedy(m, rows, 20)
    assert min(margin) >= make_tiny.GREEDY_MARGIN, margin
    for r, o in zip(rows, out):
        assert generate.greedy(m, [r], 20)[0][0] == o, "batched row differs from the same input alone"

    goldens = {
        "about": "Greedy goldens of the tiny T5 with a padded vocabulary (1024 pieces + 100 sentinels + 28 padding "
                 f"rows = {CONFIG['vocab_size']} logits, random weights, seed {SEED}) from "
                 "scripts/reference/make_tiny_padded.py. Ids only; text is meaningless.",
        "conventions": {
            "input_ids": "SentencePiece encode(text) of models/demo/spiece.model, then </s> (id 1) appended",
            "output_ids": "argmax over all logits rows each step, WITHOUT the start token, WITH the final </s>",
            "has_sentinel": f"an output id in [{PIECES}, {PIECES + SENTINELS}) (<extra_id_N>)",
            "has_padding_row": f"an output id >= {PIECES + SENTINELS} (no token: decodes to nothing)",
        },
        "greedy": cases,
        "greedy_batch": {"input_ids": rows, "max_new_tokens": 20, "output_ids": out,
                         "min_top2_margin": round(min(margin), 6)},
    }
    make_tiny.write_json(os.path.join(OUT_DIR, "goldens.json"), goldens, indent=1)
    print(f"greedy {len(cases)} (sentinel {seen['sentinel']}, padding row {seen['padding_row']}), "
          f"batch rows {len(rows)}; {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
