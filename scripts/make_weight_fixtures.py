#!/usr/bin/env python3
"""Creates the weight-reading fixtures under Tests/SACModelTests/Fixtures/{gguf,tiny-llama}.

(a) gguf/types.gguf: one tensor per supported ggml type (F32, F16, BF16, Q8_0, Q4_0, Q4_1,
    Q4_K, Q6_K) at awkward shapes, with typed metadata of every kind and a custom alignment
    of 64; gguf/types_ref.json + gguf/types_ref_f32le.bin hold gguf-py's Float32
    dequantisation of every tensor (concatenated, little-endian) and the metadata values.
    gguf/types_v2.gguf is the same file with the version field set to 2 (v2 and v3 share
    the layout on little-endian machines).
(b) tiny-llama/f32: a random Llama (transformers, torch.manual_seed(0)) saved as
    model.safetensors + config.json; tiny-llama/logits.json + logits_f32le.bin: its logits
    for a fixed id sequence; tiny-llama/bf16-sharded: the same model in bfloat16 with small
    shards and model.safetensors.index.json.
(c) gguf/tiny-llama-f32.gguf and gguf/tiny-llama-q8_0.gguf: the same model converted to GGUF
    the way llama.cpp's convert_hf_to_gguf.py does (q/k rows permuted for interleaved RoPE).
(d) gguf/smollm2_rows.json + smollm2_rows_f32le.bin: rows of SmolLM2-135M-Instruct.Q4_1.gguf
    as dequantised by transformers (AutoModelForCausalLM.from_pretrained(gguf_file=...)), in
    Hugging Face layout, when the model file is present.

Run from the repository root: python3 scripts/make_weight_fixtures.py
"""
import json
import os
import shutil
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as Q
from gguf.constants import GGML_QUANT_SIZES

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "SACModelTests", "Fixtures")
GG = os.path.join(ROOT, "gguf")
TL = os.path.join(ROOT, "tiny-llama")


def random_blocks(rng, qtype, n_blocks):
    """Random but valid block bytes: random payload, finite f16 scales."""
    block, size = GGML_QUANT_SIZES[qtype]
    b = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)

    def f16(shape, lo, hi):
        return rng.uniform(lo, hi, size=shape).astype(np.float16).view(np.uint8).reshape(n_blocks, -1)

    if qtype == Q.Q4_K:  # d, dmin, scales[12], qs[128]
        b[:, 0:2] = f16((n_blocks, 1), -0.05, 0.05)
        b[:, 2:4] = f16((n_blocks, 1), -0.05, 0.05)
    elif qtype == Q.Q6_K:  # ql[128], qh[64], scales[16] int8, d
        b[:, 208:210] = f16((n_blocks, 1), -0.02, 0.02)
    else:
        raise ValueError(qtype)
    return b


def make_types(rng):
    os.makedirs(GG, exist_ok=True)
    path = os.path.join(GG, "types.gguf")
    w = gguf.GGUFWriter(path, "sac-test")
    w.add_custom_alignment(64)
    meta = {}
    w.add_uint8("t.u8", 200); meta["t.u8"] = 200
    w.add_int8("t.i8", -100); meta["t.i8"] = -100
    w.add_uint16("t.u16", 60000); meta["t.u16"] = 60000
    w.add_int16("t.i16", -30000); meta["t.i16"] = -30000
    w.add_uint32("t.u32", 4000000000); meta["t.u32"] = 4000000000
    w.add_int32("t.i32", -2000000000); meta["t.i32"] = -2000000000
    w.add_uint64("t.u64", 2**62 + 3); meta["t.u64"] = 2**62 + 3
    w.add_int64("t.i64", -(2**61) - 5); meta["t.i64"] = -(2**61) - 5
    w.add_float32("t.f32", 0.1); meta["t.f32"] = float(np.float32(0.1))
    w.add_float64("t.f64", -1.25e-7); meta["t.f64"] = -1.25e-7
    w.add_bool("t.bool", True); meta["t.bool"] = True
    w.add_string("t.str", "héllo ✓"); meta["t.str"] = "héllo ✓"
    w.add_array("t.strs", ["a", "", "ünï"]); meta["t.strs"] = ["a", "", "ünï"]
    w.add_key_value("t.ints", [1, -2, 3], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.INT32)
    meta["t.ints"] = [1, -2, 3]
    w.add_key_value("t.floats", [0.5, -1.5], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.FLOAT32)
    meta["t.floats"] = [0.5, -1.5]

    tensors = []  # (name, qtype, numpy shape (rows.., cols), reference f32)

    def add_float(name, arr, qt):
        if qt == Q.F32:
            data = arr.astype(np.float32)
            w.add_tensor(name, data)
        elif qt == Q.F16:
            data = arr.astype(np.float16)
            w.add_tensor(name, data)
        elif qt == Q.BF16:
            data = gguf.quants.quantize(arr.astype(np.float32), Q.BF16)
            w.add_tensor(name, data, raw_dtype=Q.BF16)
        ref = gguf.quants.dequantize(np.asarray(data).reshape(-1).view(np.uint8) if qt == Q.BF16 else data, qt)
        tensors.append((name, qt, list(arr.shape), np.asarray(ref, dtype=np.float32).reshape(-1)))

    add_float("f32_5x7", rng.standard_normal((5, 7)), Q.F32)
    add_float("f32_13", rng.standard_normal((13,)), Q.F32)
    add_float("f32_2x3x5", rng.standard_normal((2, 3, 5)), Q.F32)
    add_float("f16_3x11", rng.standard_normal((3, 11)), Q.F16)
    add_float("bf16_7x3", rng.standard_normal((7, 3)) * 10, Q.BF16)

    for qt, shape in [(Q.Q8_0, (3, 96)), (Q.Q8_0, (1, 32)), (Q.Q4_0, (5, 160)), (Q.Q4_1, (3, 224)),
                      (Q.Q4_1, (1, 32))]:
        arr = rng.standard_normal(shape).astype(np.float32)
        data = gguf.quants.quantize(arr, qt)
        w.add_tensor(f"{qt.name.lower()}_{shape[0]}x{shape[1]}", data, raw_dtype=qt)
        ref = gguf.quants.dequantize(data, qt)
        tensors.append((f"{qt.name.lower()}_{shape[0]}x{shape[1]}", qt, list(shape),
                        np.asarray(ref, np.float32).reshape(-1)))
    for qt, shape in [(Q.Q4_K, (3, 512)), (Q.Q6_K, (3, 768)), (Q.Q6_K, (1, 256))]:
        block, size = GGML_QUANT_SIZES[qt]
        nb = shape[0] * shape[1] // block
        data = random_blocks(rng, qt, nb).reshape(shape[0], shape[1] // block * size)
        w.add_tensor(f"{qt.name.lower()}_{shape[0]}x{shape[1]}", data, raw_dtype=qt)
        ref = gguf.quants.dequantize(data, qt)
        assert np.all(np.isfinite(ref))
        tensors.append((f"{qt.name.lower()}_{shape[0]}x{shape[1]}", qt, list(shape),
                        np.asarray(ref, np.float32).reshape(-1)))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    index, blobs, off = [], [], 0
    for name, qt, shape, ref in tensors:
        index.append({"name": name, "type": qt.name, "shape": shape, "offset": off, "count": int(ref.size)})
        blobs.append(ref.astype("<f4").tobytes())
        off += ref.size
    with open(os.path.join(GG, "types_ref_f32le.bin"), "wb") as f:
        f.write(b"".join(blobs))
    with open(os.path.join(GG, "types_ref.json"), "w") as f:
        json.dump({"tensors": index, "metadata": meta, "alignment": 64}, f, indent=1, ensure_ascii=False)

    raw = bytearray(open(path, "rb").read())
    assert raw[4:8] == (3).to_bytes(4, "little")
    raw[4:8] = (2).to_bytes(4, "little")
    open(os.path.join(GG, "types_v2.gguf"), "wb").write(bytes(raw))


def permute(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute (HF → llama.cpp interleaved RoPE rows)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def make_tiny_llama():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
                      max_position_embeddings=128, rms_norm_eps=1e-5,
                      bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(cfg).eval()
    # Make the norms non-trivial so that a swapped norm is caught.
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
    f32dir = os.path.join(TL, "f32")
    shutil.rmtree(TL, ignore_errors=True)
    model.save_pretrained(f32dir, safe_serialization=True)
    ids = [1, 17, 5, 93, 42, 42, 0, 77, 2, 64, 31]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float().numpy()
    logits.astype("<f4").tofile(os.path.join(TL, "logits_f32le.bin"))
    with open(os.path.join(TL, "logits.json"), "w") as f:
        json.dump({"ids": ids, "shape": list(logits.shape), "dtype": "f32le",
                   "model": "tiny-llama/f32", "note": "logits of LlamaForCausalLM (eager, float32)"}, f, indent=1)
    sd = {k: v.detach().float().numpy().copy() for k, v in model.state_dict().items()}
    bdir = os.path.join(TL, "bf16-sharded")
    model.to(torch.bfloat16).save_pretrained(bdir, safe_serialization=True, max_shard_size="40KB")
    for p in os.listdir(bdir):
        if p.endswith(".json") and p not in ("config.json", "model.safetensors.index.json"):
            os.remove(os.path.join(bdir, p))
    for p in os.listdir(f32dir):
        if p.endswith(".json") and p != "config.json":
            os.remove(os.path.join(f32dir, p))

    for qt in (Q.F32, Q.Q8_0):
        path = os.path.join(GG, f"tiny-llama-{qt.name.lower()}.gguf")
        w = gguf.GGUFWriter(path, "llama")
        w.add_context_length(cfg.max_position_embeddings)
        w.add_embedding_length(cfg.hidden_size)
        w.add_block_count(cfg.num_hidden_layers)
        w.add_feed_forward_length(cfg.intermediate_size)
        w.add_head_count(cfg.num_attention_heads)
        w.add_head_count_kv(cfg.num_key_value_heads)
        w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
        w.add_rope_freq_base(10000.0)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_token_list([f"t{i}" for i in range(cfg.vocab_size)])

        def put(name, arr):
            arr = np.ascontiguousarray(arr.astype(np.float32))
            if arr.ndim == 2 and qt != Q.F32:
                w.add_tensor(name, gguf.quants.quantize(arr, qt), raw_dtype=qt)
            else:
                w.add_tensor(name, arr)
        put("token_embd.weight", sd["model.embed_tokens.weight"])
        put("output_norm.weight", sd["model.norm.weight"])
        put("output.weight", sd["lm_head.weight"])
        for i in range(cfg.num_hidden_layers):
            p = f"model.layers.{i}."
            put(f"blk.{i}.attn_q.weight", permute(sd[p + "self_attn.q_proj.weight"], cfg.num_attention_heads))
            put(f"blk.{i}.attn_k.weight", permute(sd[p + "self_attn.k_proj.weight"], cfg.num_key_value_heads))
            put(f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"])
            put(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"])
            put(f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
            put(f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"])
            put(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"])
            put(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"])
            put(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    # Reference for the Q8_0 file: gguf-py dequantisation of each HF-layout tensor.
    ref = {}
    for k, v in sd.items():
        if v.ndim == 2:
            ref[k] = gguf.quants.dequantize(gguf.quants.quantize(np.ascontiguousarray(v), Q.Q8_0), Q.Q8_0)
    blobs, index, off = [], [], 0
    for k in sorted(ref):
        index.append({"name": k, "shape": list(ref[k].shape), "offset": off})
        blobs.append(ref[k].astype("<f4").tobytes())
        off += ref[k].size
    open(os.path.join(GG, "tiny-llama-q8_0_ref_f32le.bin"), "wb").write(b"".join(blobs))
    json.dump({"tensors": index}, open(os.path.join(GG, "tiny-llama-q8_0_ref.json"), "w"), indent=1)


def make_smollm2_rows():
    path = os.path.expanduser("~/.cache/sac/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    if not os.path.exists(path):
        print("skip smollm2 rows: model absent", file=sys.stderr)
        return
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                                 torch_dtype=torch.float32)
    sd = model.state_dict()
    picks = [
        ("model.layers.0.self_attn.q_proj.weight", [0, 1, 2, 31, 32, 64, 65, 66, 575]),
        ("model.layers.0.self_attn.k_proj.weight", [0, 1, 2, 32, 64, 65, 66, 191]),
        ("model.layers.0.self_attn.v_proj.weight", [0, 5, 191]),
        ("model.layers.0.self_attn.o_proj.weight", [0, 575]),
        ("model.layers.29.self_attn.q_proj.weight", [3, 100]),
        ("model.layers.29.self_attn.k_proj.weight", [7, 150]),
        ("model.layers.0.mlp.gate_proj.weight", [0, 1535]),
        ("model.layers.0.mlp.up_proj.weight", [1]),
        ("model.layers.0.mlp.down_proj.weight", [0, 575]),
        ("model.embed_tokens.weight", [0, 1, 49151]),
    ]
    vectors = ["model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
               "model.norm.weight"]
    index, blobs, off = [], [], 0
    for name, rows in picks:
        t = sd[name].float().numpy()
        for r in rows:
            index.append({"name": name, "row": r, "shape": list(t.shape), "offset": off, "count": t.shape[1]})
            blobs.append(t[r].astype("<f4").tobytes())
            off += t.shape[1]
    for name in vectors:
        t = sd[name].float().numpy()
        index.append({"name": name, "row": -1, "shape": list(t.shape), "offset": off, "count": t.shape[0]})
        blobs.append(t.astype("<f4").tobytes())
        off += t.shape[0]
    open(os.path.join(GG, "smollm2_rows_f32le.bin"), "wb").write(b"".join(blobs))
    json.dump({"model": os.path.basename(path), "rows": index,
               "tied": "lm_head.weight" not in dict(model.named_parameters())},
              open(os.path.join(GG, "smollm2_rows.json"), "w"), indent=1)


if __name__ == "__main__":
    rng = np.random.default_rng(1234)
    os.makedirs(GG, exist_ok=True)
    make_types(rng)
    make_tiny_llama()
    make_smollm2_rows()
    total = 0
    for d in (GG, TL):
        for base, _, files in os.walk(d):
            total += sum(os.path.getsize(os.path.join(base, f)) for f in files)
    print(f"fixtures written: {total} bytes")
