"""Checks in torch that decoder_attention_mask lets rows join a running decode batch exactly (continuous batching).

  /usr/bin/python3 scripts/reference/check_decoder_mask.py [MODEL_DIR SEED EOS_ROW_SCALE]   (default: the demo model)

Row A starts alone; row B joins K_B steps later and row C K_C steps after that. A joining row runs its first step
alone without cache (as the engine does with decoder_model.onnx, the only graph that yields its cross-attention KV),
then its self-attention cache is LEFT-padded to the batch's cache length and the padding masked (decoder_attention_mask
0); its cross-attention KV are right-padded to the batch's encoder length and masked by encoder_attention_mask, as in
any padded batch. Then every batched step's logits of every row must equal the same row run alone (stock decode, no
mask) within TOL, with the same greedy tokens. Run twice: padding filled with zeros and with random values (the mask,
not the zeros, must make it exact); a control run without the mask (all ones) must differ, so the check can fail.
"""

from __future__ import annotations

import os
import sys
from typing import Dict, List

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import t5  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
TOL = 1e-5
STEPS = 24        # batched steps after the first join
JOIN = {1: 5, 2: 11}  # row -> the step of row A at which it joins (B after 5 steps, C after 11)


def prompts(c: t5.T5Config, seed: int = 7) -> List[torch.Tensor]:
    """Three prompts of different lengths ending in </s>, shape [1, L] each."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in (9, 4, 13):
        ids = torch.randint(3, c.vocab_size, (1, n), generator=g)
        ids[0, -1] = c.eos_token_id
        out.append(ids)
    return out


@torch.no_grad()
def alone(m: t5.T5, ids: torch.Tensor, steps: int):
    """Greedy on one row with the stock (unmasked) KV-cached decoder: per step logits [vocab] and the tokens fed."""
    mask = torch.ones_like(ids)
    cross = m.cross_kv(m.encode(ids, mask))
    tok = torch.tensor([[m.config.decoder_start_token_id]])
    past, logits, fed = None, [], []
    for _ in range(steps):
        fed.append(int(tok))
        lg, past = m.decode(tok, mask, cross, past)
        logits.append(lg[0, -1])
        tok = lg[:, -1].argmax(-1, keepdim=True)
    return logits, fed


class Row:
    """A row's state in the batch: encoder mask, cross KV [1, h, enc, d], self KV [1, h, len, d], next token."""

    def __init__(self, m: t5.T5, ids: torch.Tensor):
        self.enc_mask = torch.ones_like(ids)
        self.cross = m.cross_kv(m.encode(ids, self.enc_mask))
        start = torch.tensor([[m.config.decoder_start_token_id]])
        lg, self.past = m.decode(start, self.enc_mask, self.cross, None)  # the joining row's first step, alone
        self.first_logits = lg[0, -1]
        self.tok = lg[:, -1].argmax(-1, keepdim=True)
        self.valid = 1  # real (unpadded) self-attention positions


def pad_dim(t: torch.Tensor, n: int, dim: int, left: bool, fill: str, g: torch.Generator) -> torch.Tensor:
    extra = list(t.shape)
    extra[dim] = n - t.size(dim)
    pad = torch.zeros(extra) if fill == "zeros" else torch.randn(extra, generator=g) * 3.0
    return torch.cat([pad, t] if left else [t, pad], dim=dim)


class Batch:
    """The batch: stacked states, self KV left-padded to a common length, cross KV right-padded."""

    def __init__(self, fill: str, use_mask: bool = True):
        self.rows: List[Row] = []
        self.fill, self.use_mask = fill, use_mask
        self.g = torch.Generator().manual_seed(99)

    def inputs(self):
        L = max(r.past[0][0].size(2) for r in self.rows)
        E = max(r.enc_mask.size(1) for r in self.rows)
        n = len(self.rows[0].past)
        past = [tuple(torch.cat([pad_dim(r.past[i][j], L, 2, True, self.fill, self.g) for r in self.rows])
                      for j in (0, 1)) for i in range(n)]
        cross = [tuple(torch.cat([pad_dim(r.cross[i][j], E, 2, False, self.fill, self.g) for r in self.rows])
                       for j in (0, 1)) for i in range(n)]
        enc_mask = torch.cat([torch.cat([r.enc_mask, torch.zeros(1, E - r.enc_mask.size(1), dtype=torch.long)], 1)
                              for r in self.rows])
        dec_mask = torch.zeros(len(self.rows), L + 1, dtype=torch.long)
        for b, r in enumerate(self.rows):
            dec_mask[b, L - r.valid:] = 1  # the row's own cache (right-aligned) and the new token
        tok = torch.cat([r.tok for r in self.rows])
        return tok, enc_mask, cross, past, (dec_mask if self.use_mask else torch.ones_like(dec_mask))

    @torch.no_grad()
    def step(self, m: t5.T5) -> List[torch.Tensor]:
        tok, enc_mask, cross, past, dec_mask = self.inputs()
        lg, present = m.decode(tok, enc_mask, cross, past, dec_mask)
        out = []
        for b, r in enumerate(self.rows):
            # keep only the row's real positions: the next step re-pads to the (grown) common length
            r.valid += 1
            r.past = [(k[b:b + 1, :, -r.valid:], v[b:b + 1, :, -r.valid:]) for k, v in present]
            r.tok = lg[b:b + 1, -1].argmax(-1, keepdim=True)
            out.append(lg[b, -1])
        return out


@torch.no_grad()
def run(m: t5.T5, fill: str, use_mask: bool = True, verbose: bool = True) -> float:
    """Worst |batched - alone| logit difference over every row and step of the join scenario."""
    ps = prompts(m.config)
    total = JOIN[2] + STEPS
    ref = [alone(m, p, total) for p in ps]
    batch = Batch(fill, use_mask)
    rows: Dict[int, Row] = {0: Row(m, ps[0])}
    batch.rows.append(rows[0])
    worst = (rows[0].first_logits - ref[0][0][0]).abs().max().item()
    got_tokens = {0: [m.config.decoder_start_token_id]}
    a_step = 1  # steps row A has done
    while a_step < total:
        for r, at in JOIN.items():
            if at == a_step:
                rows[r] = Row(m, ps[r])
                batch.rows.append(rows[r])
                worst = max(worst, (rows[r].first_logits - ref[r][0][0]).abs().max().item())
                got_tokens[r] = [m.config.decoder_start_token_id]
        for b, r in enumerate(sorted(rows)):
            got_tokens[r].append(int(rows[r].tok))
        logits = batch.step(m)
        for b, r in enumerate(sorted(rows)):
            k = len(got_tokens[r]) - 1  # this row's step index
            worst = max(worst, (logits[b] - ref[r][0][k]).abs().max().item())
        a_step += 1
    if use_mask:
        for r in rows:
            n = len(got_tokens[r])
            assert got_tokens[r] == ref[r][1][:n], f"row {r}: batched tokens differ from alone"
    if verbose:
        print(f"join scenario (A; B joins after {JOIN[1]} steps, C after {JOIN[2]}; {total} steps of A), padding "
              f"{fill:6s}, mask {'on ' if use_mask else 'OFF'}: max |batched - alone| logits = {worst:.2e}")
    return worst


def padded_step_case(m: t5.T5, fill: str = "zeros"):
    """One batched with-past step right after B joined A (for check_onnx.py): (tok, enc_mask, cross, past,
    dec_mask) as torch tensors, plus the masked decode's (logits, present) and the rows' alone logits."""
    ps = prompts(m.config)
    ref = [alone(m, p, JOIN[1] + 2) for p in ps[:2]]
    batch = Batch(fill)
    batch.rows.append(Row(m, ps[0]))
    for _ in range(JOIN[1] - 1):
        batch.step(m)
    batch.rows.append(Row(m, ps[1]))
    tok, enc_mask, cross, past, dec_mask = batch.inputs()
    with torch.no_grad():
        logits, present = m.decode(tok, enc_mask, cross, past, dec_mask)
    return (tok, enc_mask, cross, past, dec_mask), (logits, present), [ref[0][0][JOIN[1]], ref[1][0][1]]


def main(model_dir: str, seed: int, eos_row_scale: float) -> None:
    torch.set_num_threads(1)
    m = t5.build(os.path.join(model_dir, "config.json"), seed, eos_row_scale)
    ok = True
    for fill in ("zeros", "random"):
        ok &= run(m, fill) <= TOL
    control = run(m, "zeros", use_mask=False)
    if control <= 1e-2:
        raise SystemExit(f"control without the mask agrees ({control:.2e}): the check cannot fail")
    if not ok:
        raise SystemExit(f"batched rows differ from the rows alone by more than {TOL}")
    print(f"every row's logits in the joined batch equal the row alone within {TOL:g}; without the mask they do not")


if __name__ == "__main__":
    if len(sys.argv) == 4:
        main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
    else:
        main(os.path.join(ROOT, "models", "demo"), 1234, 2.0)
