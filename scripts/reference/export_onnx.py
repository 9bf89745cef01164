"""Exports a `t5.T5` to ONNX with Hugging Face Optimum's exact T5 interface (names, order, KV layout, dynamic axes).

Files (as `optimum-cli export onnx --task text2text-generation-with-past` writes them):
  encoder_model.onnx              input_ids, attention_mask -> last_hidden_state
  decoder_model.onnx              encoder_attention_mask, input_ids, encoder_hidden_states
                                  -> logits, present.{i}.decoder.key|value, present.{i}.encoder.key|value
  decoder_with_past_model.onnx    encoder_attention_mask, input_ids, past_key_values.{i}.decoder.key|value,
                                  past_key_values.{i}.encoder.key|value -> logits, present.{i}.decoder.key|value
                                  (no encoder_hidden_states; the encoder KV are not re-emitted)
  decoder_model_merged.onnx       the two decoders in one If on bool `use_cache_branch` [1]; inputs are the union
                                  (encoder_attention_mask, input_ids, encoder_hidden_states, past_key_values.*,
                                  use_cache_branch); outputs logits + every present.* (with cache, present.{i}.
                                  encoder.* pass the past ones through). Weights stored once, at the top level.
KV tensors are [batch, num_heads, seq, d_kv], float32. Opset 14.

Variant of this project (export_all(..., decoder_attention_mask=True); NOT an Optimum layout): lets new rows join a
running decode batch between steps (continuous batching). Rows then sit at different decoder positions, so
  decoder_with_past_model.onnx    gets the input decoder_attention_mask, int64 [batch_size,
                                  "past_decoder_sequence_length + 1"], right after input_ids: encoder_attention_mask,
                                  input_ids, decoder_attention_mask, past_key_values.*. 1 = attend, 0 = padding: a
                                  joining row's self-attention cache is left-padded (zeros) to the batch's cache length
                                  and its padding masked; the last column (the new token) is always 1. T5 has only
                                  relative position bias, so left padding keeps every row's positions exact, and a
                                  masked key gets exactly zero attention weight. All ones = the stock graph's result.
  decoder_model_merged.onnx       the same top-level input, after input_ids (encoder_attention_mask, input_ids,
                                  decoder_attention_mask, encoder_hidden_states, past_key_values.*, use_cache_branch);
                                  only the with-past branch (use_cache_branch true) reads it. With use_cache_branch
                                  false it is ignored but, like every graph input, must still be fed (e.g. ones
                                  [batch, decoder_sequence_length]).
encoder_model.onnx and decoder_model.onnx are unchanged (byte-identical to the stock export).
"""

from __future__ import annotations

import hashlib
import os
from typing import Dict, List

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper, TensorProto
from torch import nn

from t5 import T5

OPSET = 14


class EncoderWrapper(nn.Module):
    def __init__(self, m: T5):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        return self.m.encode(input_ids, attention_mask)


class DecoderWrapper(nn.Module):
    def __init__(self, m: T5):
        super().__init__()
        self.m = m

    def forward(self, encoder_attention_mask, input_ids, encoder_hidden_states):
        cross = self.m.cross_kv(encoder_hidden_states)
        logits, present = self.m.decode(input_ids, encoder_attention_mask, cross, None)
        out = [logits]
        for (k, v), (ck, cv) in zip(present, cross):
            out += [k, v, ck, cv]
        return tuple(out)


class DecoderWithPastWrapper(nn.Module):
    def __init__(self, m: T5):
        super().__init__()
        self.m = m

    def forward(self, encoder_attention_mask, input_ids, *past_flat):
        return self.step(encoder_attention_mask, input_ids, None, past_flat)

    def step(self, encoder_attention_mask, input_ids, decoder_attention_mask, past_flat):
        n = self.m.config.num_decoder_layers
        past = [(past_flat[4 * i], past_flat[4 * i + 1]) for i in range(n)]
        cross = [(past_flat[4 * i + 2], past_flat[4 * i + 3]) for i in range(n)]
        logits, present = self.m.decode(input_ids, encoder_attention_mask, cross, past, decoder_attention_mask)
        out = [logits]
        for k, v in present:
            out += [k, v]
        return tuple(out)


class MaskedDecoderWithPastWrapper(DecoderWithPastWrapper):
    """The with-past decoder with decoder_attention_mask (this project's continuous-batching variant)."""

    def forward(self, encoder_attention_mask, input_ids, decoder_attention_mask, *past_flat):
        return self.step(encoder_attention_mask, input_ids, decoder_attention_mask, past_flat)


def kv_names(prefix: str, n: int, with_encoder: bool = True) -> List[str]:
    names = []
    for i in range(n):
        names += [f"{prefix}.{i}.decoder.key", f"{prefix}.{i}.decoder.value"]
        if with_encoder:
            names += [f"{prefix}.{i}.encoder.key", f"{prefix}.{i}.encoder.value"]
    return names


def _export(module, args, path, input_names, output_names, dynamic_axes):
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, do_constant_folding=True)


def export_all(m: T5, out_dir: str, merged: bool = True, decoder_attention_mask: bool = False) -> None:
    """Writes the four graphs (three without merged). decoder_attention_mask: the variant of the module docstring."""
    os.makedirs(out_dir, exist_ok=True)
    c = m.config
    n, H, D = c.num_decoder_layers, c.num_heads, c.d_kv
    # Trace with sizes that differ from each other (and from 1) so no size can be mistaken for another.
    b, enc, dec, past_len = 2, 7, 5, 3
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, c.vocab_size, (b, enc), generator=g)
    mask = torch.ones(b, enc, dtype=torch.long)
    mask[1, 5:] = 0

    _export(EncoderWrapper(m), (ids, mask), os.path.join(out_dir, "encoder_model.onnx"),
            ["input_ids", "attention_mask"], ["last_hidden_state"],
            {"input_ids": {0: "batch_size", 1: "encoder_sequence_length"},
             "attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
             "last_hidden_state": {0: "batch_size", 1: "encoder_sequence_length"}})

    with torch.no_grad():
        hidden = m.encode(ids, mask)
    dec_ids = torch.randint(3, c.vocab_size, (b, dec), generator=g)
    present_names = kv_names("present", n)
    axes = {"encoder_attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
            "input_ids": {0: "batch_size", 1: "decoder_sequence_length"},
            "encoder_hidden_states": {0: "batch_size", 1: "encoder_sequence_length"},
            "logits": {0: "batch_size", 1: "decoder_sequence_length"}}
    for name in present_names:
        axes[name] = {0: "batch_size", 2: "decoder_sequence_length" if ".decoder." in name
                      else "encoder_sequence_length_out"}
    _export(DecoderWrapper(m), (mask, dec_ids, hidden), os.path.join(out_dir, "decoder_model.onnx"),
            ["encoder_attention_mask", "input_ids", "encoder_hidden_states"], ["logits"] + present_names, axes)

    past_names = kv_names("past_key_values", n)
    past = []
    for i in range(n):
        past += [torch.randn(b, H, past_len, D, generator=g), torch.randn(b, H, past_len, D, generator=g),
                 torch.randn(b, H, enc, D, generator=g), torch.randn(b, H, enc, D, generator=g)]
    one = dec_ids[:, :1]
    axes = {"encoder_attention_mask": {0: "batch_size", 1: "encoder_sequence_length"},
            "input_ids": {0: "batch_size"},
            "logits": {0: "batch_size", 1: "decoder_sequence_length"}}
    for name in past_names:
        axes[name] = {0: "batch_size", 2: "past_decoder_sequence_length" if ".decoder." in name
                      else "encoder_sequence_length_out"}
    present_dec = kv_names("present", n, with_encoder=False)
    for name in present_dec:
        axes[name] = {0: "batch_size", 2: "past_decoder_sequence_length + 1"}
    path = os.path.join(out_dir, "decoder_with_past_model.onnx")
    if decoder_attention_mask:
        # traced with a left-padded row (padding varies per row, so nothing about it can be constant-folded)
        dec_mask = torch.ones(b, past_len + 1, dtype=torch.long)
        dec_mask[1, :2] = 0
        axes["decoder_attention_mask"] = {0: "batch_size", 1: "past_decoder_sequence_length + 1"}
        _export(MaskedDecoderWithPastWrapper(m), (mask, one, dec_mask, *past), path,
                ["encoder_attention_mask", "input_ids", "decoder_attention_mask"] + past_names,
                ["logits"] + present_dec, axes)
    else:
        _export(DecoderWithPastWrapper(m), (mask, one, *past), path,
                ["encoder_attention_mask", "input_ids"] + past_names, ["logits"] + present_dec, axes)

    if merged:
        merge_decoders(os.path.join(out_dir, "decoder_model.onnx"),
                       os.path.join(out_dir, "decoder_with_past_model.onnx"),
                       os.path.join(out_dir, "decoder_model_merged.onnx"), n, H, D, c.vocab_size)


# ---- merging ---------------------------------------------------------------------------------------------------------

def _rename_graph(g: onnx.GraphProto, prefix: str, keep: set, init_map: Dict[str, str]) -> None:
    """Prefixes every value produced inside g (so the two branches never share a name), maps initializer names to
    their shared top-level names, leaves outer inputs (`keep`) alone."""
    produced = set()
    for node in g.node:
        produced.update(o for o in node.output if o)

    def rn(name: str) -> str:
        if not name:
            return name
        if name in init_map:
            return init_map[name]
        if name in produced:
            return prefix + name
        if name in keep:
            return name
        raise AssertionError(f"unresolved value {name}")

    for node in g.node:
        for a in node.attribute:
            if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                raise AssertionError("nested subgraphs are not expected in the exported decoders")
        node.input[:] = [rn(x) for x in node.input]
        node.output[:] = [rn(x) for x in node.output]
        if node.name:
            node.name = prefix + node.name
    for vi in list(g.value_info):
        vi.name = rn(vi.name) if vi.name in produced else vi.name
    for o in g.output:
        o.name = rn(o.name)


def merge_decoders(no_past_path: str, with_past_path: str, out_path: str, n_layers: int, heads: int, d_kv: int,
                   vocab: int) -> None:
    a = onnx.load(no_past_path)
    b = onnx.load(with_past_path)

    # Deduplicate initializers by content: the same weight (possibly pre-transposed by constant folding) gets one
    # top-level name that both branches refer to, so the merged file stores each weight once.
    shared: Dict[bytes, onnx.TensorProto] = {}
    maps = []
    for m, tag in ((a, "a"), (b, "b")):
        mp = {}
        for t in m.graph.initializer:
            arr = numpy_helper.to_array(t)
            key = hashlib.sha256(str((t.data_type, tuple(t.dims))).encode() + arr.tobytes()).digest()
            if key not in shared:
                nt = numpy_helper.from_array(arr, name=f"shared_{len(shared)}_{t.name}".replace("onnx::", ""))
                shared[key] = nt
            mp[t.name] = shared[key].name
        maps.append(mp)

    a_inputs = {i.name: i for i in a.graph.input}
    b_inputs = {i.name: i for i in b.graph.input}
    keep = set(a_inputs) | set(b_inputs)

    ga, gb = a.graph, b.graph
    _rename_graph(ga, "no_past/", keep, maps[0])
    _rename_graph(gb, "with_past/", keep, maps[1])
    del ga.initializer[:]
    del gb.initializer[:]
    del ga.input[:]
    del gb.input[:]

    # with-past branch: pass the past encoder KV through as present.{i}.encoder.* to line up with the other branch
    b_out = {o.name: o for o in gb.output}
    new_outputs = [b_out["with_past/logits"]]
    for i in range(n_layers):
        new_outputs += [b_out[f"with_past/present.{i}.decoder.key"], b_out[f"with_past/present.{i}.decoder.value"]]
        for kind in ("key", "value"):
            src = f"past_key_values.{i}.encoder.{kind}"
            dst = f"with_past/present.{i}.encoder.{kind}"
            gb.node.append(helper.make_node("Identity", [src], [dst], name=f"with_past/identity_{i}_{kind}"))
            vi = onnx.ValueInfoProto()
            vi.CopyFrom(b_inputs[src])
            vi.name = dst
            new_outputs.append(vi)
    del gb.output[:]
    gb.output.extend(new_outputs)

    # Both branches must declare the same outputs: same element type and rank, symbolic dims named alike.
    out_names = ["logits"] + kv_names("present", n_layers)
    top_outputs = []
    for name, oa, ob in zip(out_names, ga.output, gb.output):
        assert oa.name == "no_past/" + name and ob.name == "with_past/" + name, (name, oa.name, ob.name)
        if name == "logits":
            dims = ["batch_size", "decoder_sequence_length", vocab]
        elif ".decoder." in name:
            dims = ["batch_size", heads, "present_decoder_sequence_length", d_kv]
        else:
            dims = ["batch_size", heads, "encoder_sequence_length_out", d_kv]
        for o in (oa, ob):
            o.type.CopyFrom(helper.make_tensor_type_proto(TensorProto.FLOAT, dims))
        top_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
    ga.name, gb.name = "no_past_branch", "with_past_branch"

    inputs = [a_inputs["encoder_attention_mask"], a_inputs["input_ids"], a_inputs["encoder_hidden_states"]]
    for name in kv_names("past_key_values", n_layers):
        inputs.append(b_inputs[name])
    inputs.append(helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1]))
    # input_ids of the merged decoder takes any length (the first step may feed a whole prefix)
    inputs[1] = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "decoder_sequence_length"])
    if "decoder_attention_mask" in b_inputs:  # the continuous-batching variant: read by the with-past branch only
        inputs.insert(2, b_inputs["decoder_attention_mask"])

    if_node = helper.make_node("If", ["use_cache_branch"], out_names, name="optimum::if",
                               then_branch=gb, else_branch=ga)
    graph = helper.make_graph([if_node], "merged_decoder", inputs, top_outputs, initializer=list(shared.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="scripts/reference/export_onnx.py")
    model.ir_version = a.ir_version
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, out_path)


def describe(path: str) -> str:
    m = onnx.load(path, load_external_data=False)

    def fmt(v):
        t = v.type.tensor_type
        dims = [d.dim_param or d.dim_value for d in t.shape.dim]
        return f"{v.name}: {TensorProto.DataType.Name(t.elem_type).lower()}{dims}"

    lines = [f"{os.path.basename(path)} ({os.path.getsize(path) / 2**20:.2f} MiB, opset "
             f"{m.opset_import[0].version}, {len(m.graph.initializer)} initializers)"]
    lines += ["  in  " + fmt(v) for v in m.graph.input]
    lines += ["  out " + fmt(v) for v in m.graph.output]
    return "\n".join(lines)


def has_decoder_attention_mask(path: str) -> bool:
    """Whether a decoder graph is the continuous-batching variant (takes decoder_attention_mask)."""
    m = onnx.load(path, load_external_data=False)
    return any(v.name == "decoder_attention_mask" for v in m.graph.input)


def check_interface(out_dir: str, n_layers: int) -> None:
    """Asserts the Optimum names and order of every graph's inputs and outputs, or those of the
    decoder_attention_mask variant (module docstring) when decoder_with_past_model.onnx has that input; the merged
    decoder must then be the variant too."""
    def names(f, kind):
        m = onnx.load(os.path.join(out_dir, f), load_external_data=False)
        onnx.checker.check_model(m)
        return [v.name for v in getattr(m.graph, kind)]

    assert names("encoder_model.onnx", "input") == ["input_ids", "attention_mask"]
    assert names("encoder_model.onnx", "output") == ["last_hidden_state"]
    assert names("decoder_model.onnx", "input") == ["encoder_attention_mask", "input_ids", "encoder_hidden_states"]
    assert names("decoder_model.onnx", "output") == ["logits"] + kv_names("present", n_layers)
    masked = has_decoder_attention_mask(os.path.join(out_dir, "decoder_with_past_model.onnx"))
    dec_mask = ["decoder_attention_mask"] if masked else []
    assert names("decoder_with_past_model.onnx", "input") == (["encoder_attention_mask", "input_ids"] + dec_mask
                                                             + kv_names("past_key_values", n_layers))
    assert names("decoder_with_past_model.onnx", "output") == ["logits"] + kv_names("present", n_layers, False)
    if masked:
        m = onnx.load(os.path.join(out_dir, "decoder_with_past_model.onnx"), load_external_data=False)
        t = next(v for v in m.graph.input if v.name == "decoder_attention_mask").type.tensor_type
        assert t.elem_type == TensorProto.INT64, t
        assert [d.dim_param for d in t.shape.dim] == ["batch_size", "past_decoder_sequence_length + 1"], t
    if os.path.exists(os.path.join(out_dir, "decoder_model_merged.onnx")):
        assert names("decoder_model_merged.onnx", "input") == (
            ["encoder_attention_mask", "input_ids"] + dec_mask + ["encoder_hidden_states"]
            + kv_names("past_key_values", n_layers) + ["use_cache_branch"])
        assert names("decoder_model_merged.onnx", "output") == ["logits"] + kv_names("present", n_layers)
