"""Reference decoding over `t5.T5`: greedy (KV-cached and full-recompute) and Hugging Face beam search.

Beam search reproduces `transformers` `generate(num_beams=K)` as implemented by `BeamSearchScorer` /
`BeamHypotheses` in transformers 4.38-4.49 (no logits processors, num_return_sequences 1):
  * scores are log_softmax(logits) in fp32, added to the running beam score (sum of token log-probs);
    beam 0 starts at 0, beams 1..K-1 at -1e9 so the first step expands beam 0 only;
  * per batch row, the top 2*K of the K*vocab candidates (torch.topk, sorted descending) are walked in order:
    an EOS candidate of rank < K becomes a finished hypothesis (ranks >= K are skipped), any other candidate
    becomes the next running beam, until K running beams are filled;
  * a finished hypothesis scores  sum_logprobs / generated_len ** length_penalty  where generated_len counts the
    generated tokens INCLUDING the final EOS and EXCLUDING the decoder start token (HF >= 4.38:
    generated_len = cur_len - decoder_prompt_len with cur_len = input_ids.shape[-1] + 1, decoder_prompt_len 1);
    the hypothesis list keeps the best K (add if fewer than K or score > worst_score; worst_score starts at 1e9);
  * a row is done when it has K finished hypotheses and either early_stopping is True, or (early_stopping False)
    worst_score >= best_candidate_score / (cur_len - 1) ** length_penalty, where best_candidate_score is the
    highest of this step's 2*K candidate scores (EOS candidates included) and cur_len - 1 is the number of tokens
    generated including this step's;
  * generation stops when every row is done or after max_new_tokens steps; then every row that is not done adds
    all K running beams as hypotheses with generated_len = number of generated tokens (no EOS) and their running
    score; the result is the highest-scoring hypothesis. Output ids exclude the decoder start token and end with
    EOS (id 1) exactly when the chosen hypothesis was finished by EOS.
"""

from __future__ import annotations

from typing import List, Optional

import torch

from t5 import T5


def pad_batch(rows: List[List[int]], pad_id: int = 0):
    n = max(len(r) for r in rows)
    ids = torch.full((len(rows), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    return ids, mask


@torch.no_grad()
def greedy(m: T5, rows: List[List[int]], max_new_tokens: int, use_cache: bool = True):
    """Per-row greedy ids (right-padded batch; finished rows are fed pad, as HF does).

    Returns (ids per row without the start token, with EOS if produced; min top1-top2 margin per row;
    list of per-step logits [b, vocab])."""
    c = m.config
    ids, mask = pad_batch(rows, c.pad_token_id)
    enc = m.encode(ids, mask)
    cross = m.cross_kv(enc)
    b = len(rows)
    seq = torch.full((b, 1), c.decoder_start_token_id, dtype=torch.long)
    out = [[] for _ in range(b)]
    margin = [float("inf")] * b
    finished = [False] * b
    past = None
    step_logits = []
    for _ in range(max_new_tokens):
        if use_cache:
            logits, past = m.decode(seq[:, -1:], mask, cross, past)
        else:
            logits, _ = m.decode(seq, mask, cross, None)
        last = logits[:, -1, :].float()
        step_logits.append(last)
        top2 = torch.topk(last, 2, dim=-1)
        nxt = top2.indices[:, 0].clone()
        for r in range(b):
            if finished[r]:
                nxt[r] = c.pad_token_id
                continue
            margin[r] = min(margin[r], (top2.values[r, 0] - top2.values[r, 1]).item())
            out[r].append(int(nxt[r]))
            if int(nxt[r]) == c.eos_token_id:
                finished[r] = True
        seq = torch.cat([seq, nxt[:, None]], dim=1)
        if all(finished):
            break
    return out, margin, step_logits


class BeamHypotheses:
    def __init__(self, num_beams: int, length_penalty: float, early_stopping: bool):
        self.num_beams, self.length_penalty, self.early_stopping = num_beams, length_penalty, early_stopping
        self.beams = []  # (score, ids incl. start token, finished_by_eos)
        self.worst_score = 1e9
        self.scores_seen = []  # every score compared, for the robustness margin

    def __len__(self):
        return len(self.beams)

    def add(self, hyp: List[int], sum_logprobs: float, generated_len: int, eos: bool) -> None:
        score = sum_logprobs / (generated_len ** self.length_penalty)
        self.scores_seen.append(score)
        if len(self) < self.num_beams or score > self.worst_score:
            self.beams.append((score, hyp, eos))
            if len(self) > self.num_beams:
                sorted_scores = sorted([(s, idx) for idx, (s, _, _) in enumerate(self.beams)])
                del self.beams[sorted_scores[0][1]]
                self.worst_score = sorted_scores[1][0]
            else:
                self.worst_score = min(score, self.worst_score)

    def is_done(self, best_sum_logprobs: float, cur_len: int, decoder_prompt_len: int = 1):
        """Returns (done, margin of the heuristic comparison or None)."""
        if len(self) < self.num_beams:
            return False, None
        if self.early_stopping:
            return True, None
        highest_attainable = best_sum_logprobs / (cur_len - decoder_prompt_len) ** self.length_penalty
        return self.worst_score >= highest_attainable, abs(self.worst_score - highest_attainable)


@torch.no_grad()
def beam_search(m: T5, rows: List[List[int]], num_beams: int, max_new_tokens: int, length_penalty: float = 1.0,
                early_stopping: bool = False, use_cache: bool = True):
    """HF beam search (see module docstring). Returns (ids per row, min ranking margin over the run, decoder steps
    run: fewer than max_new_tokens when every row was done early)."""
    c = m.config
    K, B = num_beams, len(rows)
    ids, mask = pad_batch(rows, c.pad_token_id)
    enc = m.encode(ids, mask).repeat_interleave(K, dim=0)
    mask_e = mask.repeat_interleave(K, dim=0)
    cross = m.cross_kv(enc)
    seqs = torch.full((B * K, 1), c.decoder_start_token_id, dtype=torch.long)
    beam_scores = torch.zeros(B, K)
    beam_scores[:, 1:] = -1e9
    beam_scores = beam_scores.view(-1)
    hyps = [BeamHypotheses(K, length_penalty, early_stopping) for _ in range(B)]
    done = [False] * B
    past = None
    min_margin = float("inf")
    steps = 0
    for _ in range(max_new_tokens):
        steps += 1
        if use_cache:
            logits, present = m.decode(seqs[:, -1:], mask_e, cross, past)
        else:
            logits, present = m.decode(seqs, mask_e, cross, None)
        scores = torch.log_softmax(logits[:, -1, :].float(), dim=-1)
        scores = scores + beam_scores[:, None]
        V = scores.shape[-1]
        scores = scores.view(B, K * V)
        top_s, top_t = torch.topk(scores, 2 * K + 1, dim=1, largest=True, sorted=True)
        # robustness: the order of the 2K+1 best candidates must not hinge on float noise
        for bi in range(B):
            if not done[bi]:
                gaps = (top_s[bi, :-1] - top_s[bi, 1:])
                gaps = gaps[top_s[bi, 1:] > -1e8]  # ignore the -1e9 dummy beams of the first step
                if len(gaps):
                    min_margin = min(min_margin, gaps.min().item())
        top_s, top_t = top_s[:, :2 * K], top_t[:, :2 * K]
        idx = torch.div(top_t, V, rounding_mode="floor")
        tok = top_t % V
        cur_len = seqs.shape[1] + 1
        next_scores = torch.zeros(B, K)
        next_tokens = torch.full((B, K), c.pad_token_id, dtype=torch.long)
        next_idx = torch.zeros(B, K, dtype=torch.long)
        for bi in range(B):
            if done[bi]:
                next_idx[bi] = bi * K  # HF points at beam 0 of the batch; any beam works for a finished row
                continue
            beam_idx = 0
            for rank in range(2 * K):
                t, s, src = int(tok[bi, rank]), top_s[bi, rank].item(), bi * K + int(idx[bi, rank])
                if t == c.eos_token_id:
                    if rank >= K:
                        continue
                    hyps[bi].add(seqs[src].tolist(), s, generated_len=cur_len - 1, eos=True)
                else:
                    next_scores[bi, beam_idx] = s
                    next_tokens[bi, beam_idx] = t
                    next_idx[bi, beam_idx] = src
                    beam_idx += 1
                if beam_idx == K:
                    break
            d, mg = hyps[bi].is_done(top_s[bi].max().item(), cur_len, 1)
            if mg is not None:
                min_margin = min(min_margin, mg)
            done[bi] = done[bi] or d
        beam_scores = next_scores.view(-1)
        sel = next_idx.view(-1)
        seqs = torch.cat([seqs[sel], next_tokens.view(-1, 1)], dim=1)
        past = [(k[sel], v[sel]) for k, v in present] if use_cache else None
        if all(done):
            break
    results = []
    for bi in range(B):
        h = hyps[bi]
        if not done[bi]:
            for j in range(K):
                h.add(seqs[bi * K + j].tolist(), beam_scores[bi * K + j].item(), generated_len=seqs.shape[1] - 1,
                      eos=False)
        ss = sorted(h.scores_seen)
        for a, b2 in zip(ss, ss[1:]):
            min_margin = min(min_margin, b2 - a)
        best = sorted(h.beams, key=lambda x: x[0])[-1]
        ids_out = best[1][1:] + ([c.eos_token_id] if best[2] else [])
        results.append(ids_out)
    return results, min_margin, steps
