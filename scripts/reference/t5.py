"""A from-scratch T5 v1.1 (the flan-T5 architecture) in plain torch: the reference the C# engine is checked against.

Written from the published architecture, not from `transformers` (not installed here), but with the parameter names of
Hugging Face's `T5ForConditionalGeneration` so a real state dict would load into it:

* RMS norm without mean subtraction or bias, variance in fp32 (T5LayerNorm), eps from the config.
* Gated-GELU feed-forward with the tanh approximation (`gelu_new`): wo(gelu_new(wi_0 x) * wi_1 x).
* Attention without 1/sqrt(d_kv) scaling of q.k (T5 folds it into the init).
* Relative position buckets: a learned [num_buckets, num_heads] table in the first layer of each stack only; the
  resulting bias is shared by every later layer of that stack. Bidirectional in the encoder, causal (unidirectional)
  in the decoder, where the query position is the number of cached (past) positions when a KV cache is used.
  Cross-attention has no relative bias, only the encoder padding mask.
* Masking adds torch.finfo(float32).min, as Hugging Face does.
* Final RMS norm on both stacks; untied lm_head and, because tie_word_embeddings is false, NO d_model**-0.5 scaling
  of the decoder output before it.

The bucket of a relative distance is looked up in a constant table (`bucket_table`) computed once with Hugging
Face's float formula. The ONNX graphs embed the very same table, so the reference and the graphs cannot disagree on
a bucket because two libraries round a float log differently at a boundary.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch import nn

NEG = torch.finfo(torch.float32).min


@dataclass
class T5Config:
    vocab_size: int
    d_model: int
    d_kv: int
    d_ff: int
    num_layers: int
    num_decoder_layers: int
    num_heads: int
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    layer_norm_epsilon: float = 1e-6
    n_positions: int = 512
    decoder_start_token_id: int = 0
    eos_token_id: int = 1
    pad_token_id: int = 0

    @staticmethod
    def from_dict(d: dict) -> "T5Config":
        if d.get("feed_forward_proj", "gated-gelu") != "gated-gelu":
            raise ValueError("only T5 v1.1 (feed_forward_proj gated-gelu) is implemented")
        if d.get("tie_word_embeddings", False):
            raise ValueError("only untied lm_head (tie_word_embeddings false, as in T5 v1.1 / flan-T5) is implemented")
        names = T5Config.__dataclass_fields__.keys()
        c = T5Config(**{k: d[k] for k in names if k in d})
        if "num_decoder_layers" not in d:
            c.num_decoder_layers = c.num_layers
        return c

    @staticmethod
    def load(path: str) -> "T5Config":
        with open(path) as f:
            return T5Config.from_dict(json.load(f))


def hf_relative_position_bucket(relative_position: torch.Tensor, bidirectional: bool, num_buckets: int,
                                max_distance: int) -> torch.Tensor:
    """Hugging Face's `T5Attention._relative_position_bucket`, verbatim in meaning (relative = key - query)."""
    relative_buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    large = max_exact + (
        torch.log(relative_position.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return relative_buckets + torch.where(is_small, relative_position, large)


def bucket_table(bidirectional: bool, num_buckets: int, max_distance: int) -> torch.Tensor:
    """Bucket of every relative distance in [-max_distance, max_distance] (index = distance + max_distance).

    Every distance beyond max_distance falls in the last bucket of its side, so clamping the distance to that range
    before the lookup gives exactly Hugging Face's bucket for any distance.
    """
    rel = torch.arange(-max_distance, max_distance + 1, dtype=torch.long)
    return hf_relative_position_bucket(rel, bidirectional, num_buckets, max_distance)


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.variance_epsilon = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.variance_epsilon))


def gelu_new(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class DenseGatedGeluDense(nn.Module):
    def __init__(self, c: T5Config):
        super().__init__()
        self.wi_0 = nn.Linear(c.d_model, c.d_ff, bias=False)
        self.wi_1 = nn.Linear(c.d_model, c.d_ff, bias=False)
        self.wo = nn.Linear(c.d_ff, c.d_model, bias=False)

    def forward(self, x):
        return self.wo(gelu_new(self.wi_0(x)) * self.wi_1(x))


class Attention(nn.Module):
    def __init__(self, c: T5Config, has_relative_attention_bias: bool):
        super().__init__()
        self.n_heads, self.d_kv = c.num_heads, c.d_kv
        inner = c.num_heads * c.d_kv
        self.q = nn.Linear(c.d_model, inner, bias=False)
        self.k = nn.Linear(c.d_model, inner, bias=False)
        self.v = nn.Linear(c.d_model, inner, bias=False)
        self.o = nn.Linear(inner, c.d_model, bias=False)
        if has_relative_attention_bias:
            self.relative_attention_bias = nn.Embedding(c.relative_attention_num_buckets, c.num_heads)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        # [batch, seq, heads*d_kv] -> [batch, heads, seq, d_kv] (the Optimum KV layout)
        return x.view(x.size(0), -1, self.n_heads, self.d_kv).transpose(1, 2)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        scores = torch.matmul(q, k.transpose(3, 2)) + bias  # no 1/sqrt(d_kv): T5 has none
        weights = torch.softmax(scores.float(), dim=-1).type_as(scores)
        out = torch.matmul(weights, v)  # [b, h, q, d_kv]
        out = out.transpose(1, 2).contiguous()
        return self.o(out.view(out.size(0), -1, self.n_heads * self.d_kv))


class EncoderBlock(nn.Module):
    def __init__(self, c: T5Config, first: bool):
        super().__init__()
        self.layer = nn.ModuleList([SelfAttentionLayer(c, first), FFLayer(c)])


class DecoderBlock(nn.Module):
    def __init__(self, c: T5Config, first: bool):
        super().__init__()
        self.layer = nn.ModuleList([SelfAttentionLayer(c, first), CrossAttentionLayer(c), FFLayer(c)])


class SelfAttentionLayer(nn.Module):
    def __init__(self, c: T5Config, first: bool):
        super().__init__()
        self.SelfAttention = Attention(c, first)
        self.layer_norm = RMSNorm(c.d_model, c.layer_norm_epsilon)


class CrossAttentionLayer(nn.Module):
    def __init__(self, c: T5Config):
        super().__init__()
        self.EncDecAttention = Attention(c, False)
        self.layer_norm = RMSNorm(c.d_model, c.layer_norm_epsilon)


class FFLayer(nn.Module):
    def __init__(self, c: T5Config):
        super().__init__()
        self.DenseReluDense = DenseGatedGeluDense(c)
        self.layer_norm = RMSNorm(c.d_model, c.layer_norm_epsilon)

    def forward(self, x):
        return x + self.DenseReluDense(self.layer_norm(x))


class Stack(nn.Module):
    def __init__(self, c: T5Config, n: int, decoder: bool):
        super().__init__()
        block = DecoderBlock if decoder else EncoderBlock
        self.block = nn.ModuleList([block(c, i == 0) for i in range(n)])
        self.final_layer_norm = RMSNorm(c.d_model, c.layer_norm_epsilon)
        table = bucket_table(not decoder, c.relative_attention_num_buckets, c.relative_attention_max_distance)
        self.register_buffer("bucket_table", table, persistent=False)
        self.max_distance = c.relative_attention_max_distance

    def position_bias(self, query_start, q_len, k_len) -> torch.Tensor:
        """[1, heads, q_len, k_len] relative bias for queries query_start.. and keys 0..k_len-1.

        Written with tensor ops on traced sizes so the ONNX export keeps every length dynamic.
        """
        device = self.bucket_table.device
        ctx = torch.arange(q_len, dtype=torch.long, device=device)[:, None] + query_start
        mem = torch.arange(k_len, dtype=torch.long, device=device)[None, :]
        rel = torch.clamp(mem - ctx, -self.max_distance, self.max_distance) + self.max_distance
        buckets = self.bucket_table[rel]  # [q, k]
        values = self.block[0].layer[0].SelfAttention.relative_attention_bias(buckets)  # [q, k, h]
        return values.permute(2, 0, 1).unsqueeze(0)


class T5(nn.Module):
    """T5ForConditionalGeneration (v1.1) with explicit encoder / cached decoder steps."""

    def __init__(self, c: T5Config):
        super().__init__()
        self.config = c
        self.shared = nn.Embedding(c.vocab_size, c.d_model)
        self.encoder = Stack(c, c.num_layers, decoder=False)
        self.decoder = Stack(c, c.num_decoder_layers, decoder=True)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)

    # ---- init ----------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def init_random(self, seed: int, eos_row_scale: float = 1.0) -> None:
        """Random weights whose greedy output varies (see shared/notes/facts.md): a plain T5 init is too flat.

        eos_row_scale multiplies the lm_head row of </s>: with 1.0 a random model almost never ends a sequence
        (0 of 300 greedy runs of 40 tokens on the tiny model); 2.0 makes about a third of them end, which the tiny
        fixture needs to exercise stopping on EOS."""
        c = self.config
        g = torch.Generator().manual_seed(seed)

        def normal(p, std):
            p.copy_(torch.randn(p.shape, generator=g) * std)

        for name, p in self.named_parameters():  # named_parameters order is fixed by construction
            leaf = name.split(".")[-2]
            if name.endswith("layer_norm.weight") or name.endswith("final_layer_norm.weight"):
                p.copy_(1.0 + (torch.rand(p.shape, generator=g) * 0.2 - 0.1))
            elif name == "shared.weight":
                normal(p, 1.0)
            elif name == "lm_head.weight":
                normal(p, c.d_model ** -0.5)
            elif leaf == "relative_attention_bias":
                normal(p, 1.0)
            elif leaf == "q":
                normal(p, (c.d_model * math.sqrt(c.d_kv)) ** -0.5)
            elif leaf in ("k", "v"):
                normal(p, c.d_model ** -0.5)
            elif leaf == "o":
                normal(p, (c.num_heads * c.d_kv) ** -0.5)
            elif leaf in ("wi_0", "wi_1"):
                normal(p, c.d_model ** -0.5)
            elif leaf == "wo":
                normal(p, c.d_ff ** -0.5)
            else:
                raise AssertionError(f"no init rule for {name}")
        self.lm_head.weight[c.eos_token_id] *= eos_row_scale

    # ---- encoder -------------------------------------------------------------------------------------------------
    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.shared(input_ids)
        n = input_ids.size(1)
        mask = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * NEG  # [b, 1, 1, k]
        bias = self.encoder.position_bias(0, n, n) + mask
        for blk in self.encoder.block:
            sa = blk.layer[0]
            h = sa.layer_norm(x)
            a = sa.SelfAttention
            x = x + a.attend(a.split(a.q(h)), a.split(a.k(h)), a.split(a.v(h)), bias)
            x = blk.layer[1](x)
        return self.encoder.final_layer_norm(x)

    def cross_kv(self, encoder_hidden_states: torch.Tensor) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for blk in self.decoder.block:
            a = blk.layer[1].EncDecAttention
            out.append((a.split(a.k(encoder_hidden_states)), a.split(a.v(encoder_hidden_states))))
        return out

    # ---- decoder -------------------------------------------------------------------------------------------------
    def decode(self, input_ids: torch.Tensor, encoder_attention_mask: torch.Tensor,
               cross: List[Tuple[torch.Tensor, torch.Tensor]],
               past: Optional[List[Tuple[torch.Tensor, torch.Tensor]]] = None,
               decoder_attention_mask: Optional[torch.Tensor] = None):
        """One decoder call. input_ids [b, q]; past = per layer (key, value) [b, h, past, d_kv] or None.

        Returns (logits [b, q, vocab], present self-attention KV per layer, [b, h, past+q, d_kv]).
        Query positions are past..past+q-1 for the relative bias and for the causal mask.

        decoder_attention_mask (optional, any integer dtype) [b, past+q]: 1 = attend, 0 = padding. Lets rows at
        different decoder positions share one batch: a row that joins later has its self-attention cache left-padded
        (with anything, zeros in practice) to the batch's cache length and those key positions masked. T5's only
        position information is the relative bias, so left padding shifts a row's query and keys alike and leaves
        every real key-query distance unchanged; a masked key gets exactly zero weight (exp(finfo.min - max) = 0).
        None (the stock Optimum decoders) builds exactly the same graph as before the option existed.
        """
        x = self.shared(input_ids)
        q_len = input_ids.size(1)
        past_len = past[0][0].size(2) if past is not None else 0
        k_len = past_len + q_len
        bias = self.decoder.position_bias(past_len, q_len, k_len)
        # causal mask: query i (absolute position past_len+i) sees keys j <= past_len+i; always built (not only
        # for q_len > 1) so that no Python branch on a traced length is baked into an ONNX export
        i = torch.arange(q_len)[:, None] + past_len
        j = torch.arange(k_len)[None, :]
        causal = (j > i).to(torch.float32)[None, None] * NEG  # [1, 1, q, k]
        if decoder_attention_mask is None:
            bias = bias + causal
        else:
            # minimum, not a sum, of the two additive masks: NEG + NEG would overflow to -inf and a row of -inf
            # softmaxes to NaN; NEG plus a finite bias stays finite (the bias is absorbed)
            padding = (1.0 - decoder_attention_mask[:, None, None, :].to(torch.float32)) * NEG  # [b, 1, 1, k]
            bias = bias + torch.minimum(causal, padding)
        cross_mask = (1.0 - encoder_attention_mask[:, None, None, :].to(torch.float32)) * NEG
        present = []
        for li, blk in enumerate(self.decoder.block):
            sa = blk.layer[0]
            h = sa.layer_norm(x)
            a = sa.SelfAttention
            k, v = a.split(a.k(h)), a.split(a.v(h))
            if past is not None:
                k = torch.cat([past[li][0], k], dim=2)
                v = torch.cat([past[li][1], v], dim=2)
            present.append((k, v))
            x = x + a.attend(a.split(a.q(h)), k, v, bias)
            ca = blk.layer[1]
            h = ca.layer_norm(x)
            c = ca.EncDecAttention
            x = x + c.attend(c.split(c.q(h)), cross[li][0], cross[li][1], cross_mask)
            x = blk.layer[2](x)
        x = self.decoder.final_layer_norm(x)
        return self.lm_head(x), present  # untied: no d_model**-0.5 scaling


def build(config_path: str, seed: int, eos_row_scale: float = 1.0) -> T5:
    m = T5(T5Config.load(config_path))
    m.init_random(seed, eos_row_scale)
    m.eval()
    return m
