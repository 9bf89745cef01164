#!/usr/bin/python3
"""Writes the golden corpus that pins T5Tokenizer (C#) to SentencePiece's own ids.

Run with Debian's python3-sentencepiece (0.1.97), which is what the C# port is checked against:

    /usr/bin/python3 scripts/reference/tokenizer_goldens.py \
        [--model tests/Inference.Tests/Fixtures/flan-t5-small/spiece.model] \
        [--out tests/Inference.Tests/Fixtures/tokenizer/flan-t5-small] [--generated 400]

Writes these files (one JSON object per line, UTF-8, escaped to ASCII so invisible characters stay reviewable):
  <out>.golden.jsonl         a header {"model_sha256", "sentencepiece"}, then {"text", "ids" (sp.encode, no EOS),
                              "decoded" (sp.decode(ids)), "decoded_skip_special" (sp.decode without pad/eos/unk)}
  <out>.decode.golden.jsonl  {"ids" (random id sequences, incl. control and unk ids), "decoded",
                              "decoded_skip_special"}
  <out>.user-defined.golden.jsonl  the model with USER_DEFINED_SYMBOLS appended as USER_DEFINED pieces (ids
                              from the vocabulary size up): a first line {"user_defined_symbols": [...]},
                              then the .golden.jsonl fields for the handwritten texts and a few using the symbols
  <out>.unicode.golden.jsonl same fields as .golden.jsonl (raw UTF-8): every BMP code point (surrogates
                              excepted) in runs of 128 plus a sample of the other planes, to pin the charsmap
--basic writes only the first two (used for the tiny demo model:
    --model models/demo/spiece.model --out tests/Inference.Tests/Fixtures/tokenizer/demo --basic
    --generated 150 --decode-cases 60).
The texts are handwritten edge cases plus texts generated from a fixed seed, so reruns are byte-identical.
"""
import argparse
import hashlib
import json
import random
import sys

import sentencepiece

HANDWRITTEN = [
    "",
    " ",
    "   ",
    "\t",
    "\n",
    "\r\n",
    " \t\n ",
    "Where is Ganymede located in the solar system?",
    "translate English to German: The house is wonderful.",
    "summarize: studies have shown that owning a dog is good for you",
    "Answer the following question. Who wrote 'Pride and Prejudice'?",
    "Q: Can Geoffrey Hinton have a conversation with George Washington? Give the rationale before answering.",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "Hello, world!",
    "hello world",
    "  leading spaces",
    "trailing spaces   ",
    "multiple     internal      spaces",
    "tabs\tbetween\twords",
    "new\nlines\n\nand\n\n\nmore",
    "mixed \t \n whitespace \r\n runs",
    "\u3000ideographic\u3000space\u3000",
    "no\u00a0break\u00a0space",
    "thin\u2009space and en\u2002space",
    "zero\u200bwidth\u200bspace",
    "1,000,000",
    ",000",
    "1,000",
    "$1,000,000.00",
    "10,000 people and 100,000 more",
    ",000,000",
    "3.14159265358979323846",
    "0",
    "007",
    "1234567890",
    "12345678901234567890123456789012345678901234567890",
    "-42 +17 1e10 0x1F 0b1010",
    "2026-11-29T05:00:00Z",
    "phone: +1 (555) 123-4567",
    "https://example.com/path/to/page?query=1&other=two#fragment",
    "http://www.google.com",
    "user.name+tag@example.co.uk",
    "C:\\Windows\\System32\\drivers\\etc\\hosts",
    "/usr/local/bin/python3 -m pip install --upgrade pip",
    "def f(x):\n    return x ** 2 + 3 * x - 1\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "public static async Task<int> MainAsync(string[] args) => await Task.FromResult(0);",
    "SELECT * FROM users WHERE id = 42 AND name LIKE '%bob%';",
    "<html><body><p class=\"x\">Hi</p></body></html>",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "x = y if a != b else z  # comment",
    "caf\u00e9",
    "cafe\u0301",
    "na\u00efve r\u00e9sum\u00e9",
    "nai\u0308ve re\u0301sume\u0301",
    "\u00c5ngstr\u00f6m",
    "A\u030angstro\u0308m",
    "\u212bngstr\u00f6m",
    "Stra\u00dfe",
    "\u0130stanbul \u0131\u0131",
    "\u00bd \u00bc \u00be \u2153",
    "x\u00b2 + y\u00b3 = z\u2074",
    "H\u2082O and CO\u2082",
    "\uff46\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48",
    "\uff21\uff22\uff23\uff11\uff12\uff13\uff01\uff1f",
    "\u2460\u2461\u2462 \u2474 \u2488",
    "\ufb01nance \ufb02ower \ufb00",
    "\u338f \u3396 \u33a1 \u2122 \u2121",
    "\u2160 \u2161 \u2162 \u216b",
    "\u2026 \u2014 \u2013 \u00ab\u00bb \u201c\u201d \u2018\u2019",
    "\uff61\uff62\uff63 \uff76\uff80\uff76\uff85",
    "\u30ab\u30bf\u30ab\u30ca \u3072\u3089\u304c\u306a",
    "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3067\u3059\u3002",
    "\u4e2d\u6587\u6d4b\u8bd5\uff0c\u4f60\u597d\u4e16\u754c\uff01",
    "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc785\ub2c8\ub2e4",
    "\u1100\u1161\u11a8",
    "\U0001F600",
    "\U0001F600\U0001F601\U0001F602",
    "I love \U0001F355 and \U0001F37A!",
    "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466",
    "\U0001F44D\U0001F3FD \U0001F44B\U0001F3FF",
    "\U0001F1FA\U0001F1F8 \U0001F1E9\U0001F1EA",
    "\u2764\ufe0f \u263a\ufe0e",
    "\U0001D400\U0001D401\U0001D402 \U0001D538",
    "\U00020000\U0002A6D6",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "mixed \u05e2\u05d1\u05e8\u05d9\u05ea and English",
    "\u202eright-to-left override\u202c",
    "\u200f\u200e marks",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
    "\u0393\u03b5\u03b9\u03b1 \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
    "Vi\u1ec7t Nam",
    "\u16a0\u16a2\u16a6\u16a8\u16b1",
    "\u16a0\u16a2 and \u16a6\u16a8",
    "\U00010000\U00010001",
    "\x00",
    "a\x00b",
    "\x01\x02\x03",
    "bell\x07 and escape\x1b[0m",
    "del\x7f",
    "\x85next line",
    "\u2028line separator\u2029paragraph",
    "\ufeffBOM at start",
    "\ufffd replacement",
    "</s>",
    "<pad> <unk> </s>",
    "text with </s> in the middle",
    "<extra_id_0> fill <extra_id_1>",
    "\u2581",
    "\u2581\u2581\u2581",
    "\u2581leading",
    "trailing\u2581",
    "in\u2581the\u2581middle",
    "\u2581 \u2581",
    "Supercalifragilisticexpialidocious",
    "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch",
    "a" * 100,
    "ab" * 60,
    "x" * 1000,
    "!!!!!!!!!!",
    "?!?!?!?!",
    "......",
    "--------",
    "=====",
    "*** *** ***",
    "(((nested)))",
    "\"quoted\" 'single' `back`",
    "don't won't can't it's",
    "e.g. i.e. etc. U.S.A.",
    "#hashtag @mention",
    "100% 50\u00b0C \u20ac5 \u00a35 \u00a55",
    "\u00a9 \u00ae \u00b6 \u00a7",
    "\u2200x\u2208\u211d: x\u00b2\u22650",
    "\u221a2 \u2248 1.414 \u2260 \u221e",
    "\u2192 \u2190 \u2191 \u2193 \u21d2",
    "\u2500\u2502\u250c\u2510",
    "\u2603\u2604\u2605",
    "\u00e0\u00e1\u00e2\u00e3\u00e4\u00e5\u00e6\u00e7\u00e8\u00e9\u00ea\u00eb",
    "\u0100\u0101\u0102\u0103\u0104\u0105",
    "The year 1999 and 2000.",
    "I have 3 apples, 14 oranges and 159 pears.",
    "A.B.C.D.E",
    "snake_case_identifier and camelCaseIdentifier and PascalCase",
    "kebab-case-words-here",
    "UPPER_SNAKE_CASE_CONSTANT",
    "   \u3000  \t ",
    "a b",
    "a  b",
    " a",
    "a ",
    ".",
    "?",
    "\u00e9",
    "e\u0301",
    "\U0001F600 ",
    " \U0001F600",
    "\u3000",
    "\u00a0",
]

# Appended to the model as USER_DEFINED pieces for the user-defined golden set (T5 itself has none).
USER_DEFINED_SYMBOLS = ["<sep>", "Gany", "[MASK]", "ab"]
USER_DEFINED_TEXTS = ["a<sep>b", "<sep><sep>", " <sep> ", "Ganymede [MASK] is", "ababab", "x[MASK]y",
                      "<sep> leading", "trailing <sep>", "Gany Ganymede GANY"]

WORDS = (
    "the of and to in is was for on that with as by at from this be have are it an not or which "
    "question answer translate summarize German French English model token sentence language water "
    "house dog cat river mountain computer serverless function queue storage blob completion prompt "
    "Ganymede Jupiter Saturn Paris Berlin Tokyo Amazon Azure Google international unbelievable "
    "antidisestablishmentarianism photosynthesis cryptocurrency electroencephalography"
).split()

POOLS = {
    "ascii": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "digits": "0123456789",
    "punct": "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "space": " \t\n\r\u3000\u00a0\u2009\u200b\u2581",
    "accents": "\u00e0\u00e9\u00ee\u00f5\u00fc\u00f1\u00e7\u00c5\u00d8\u0142\u0151\u015f\u0301\u0308\u0327\u030a",
    "compat": "\uff41\uff42\uff43\uff21\uff10\uff11\u2460\u2461\u2474\ufb01\ufb02\u338f\u3396\u2122\u00bd\u00b2\u2160\uff76\uff9e",
    "cjk": "\u65e5\u672c\u8a9e\u4e2d\u6587\u5b57\u6f22\u3042\u3044\u3046\u30a2\u30a4\u30a6\ud55c\uad6d\uc5b4\u3002\u3001",
    "emoji": ["\U0001F600", "\U0001F44D", "\U0001F3FD", "\u200d", "\U0001F468", "\U0001F469", "\u2764",
              "\ufe0f", "\U0001F1FA", "\U0001F1F8", "\U0001F355", "\u2728"],
    "rtl": "\u0645\u0631\u062d\u0628\u0627\u05e9\u05dc\u05d5\u05dd\u200f\u202e\u202c",
    "cyrillic_greek": "\u043f\u0440\u0438\u0432\u0435\u0442\u03b1\u03b2\u03b3\u03b4\u03a9",
    "control": "\x00\x01\x07\x08\x0b\x0c\x1b\x1f\x7f\x85\u2028\ufeff",
    "rare": ["\u16a0", "\u16a2", "\u2c00", "\ua000", "\U00010000", "\U0001D538", "\U00020000", "\u0f00",
             "\u1200", "\u13a0", "\u2d30"],
}


def random_text(rng):
    kind = rng.random()
    if kind < 0.35:
        # Prose-like: words with punctuation and an occasional number or odd character.
        n = rng.randint(1, 30)
        parts = []
        for _ in range(n):
            r = rng.random()
            if r < 0.75:
                w = rng.choice(WORDS)
                if rng.random() < 0.15:
                    w = w.capitalize()
                parts.append(w)
            elif r < 0.85:
                parts.append(str(rng.randint(0, 10 ** rng.randint(1, 9))))
            elif r < 0.9:
                parts.append("{:,}".format(rng.randint(1000, 10 ** 9)))
            else:
                pool = POOLS[rng.choice(list(POOLS))]
                parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 4))))
        seps = [" ", " ", " ", " ", ", ", ". ", "  ", "\t", "\n", "-", ""]
        text = ""
        for p in parts:
            text += p + rng.choice(seps)
        return text
    if kind < 0.75:
        # Character soup from one or two pools: exercises normalisation and unknown runs.
        names = rng.sample(list(POOLS), rng.randint(1, 2))
        chars = []
        for name in names:
            chars.extend(POOLS[name])
        return "".join(rng.choice(chars) for _ in range(rng.randint(1, 40)))
    if kind < 0.9:
        # Everything mixed.
        chars = []
        for pool in POOLS.values():
            chars.extend(pool)
        return "".join(rng.choice(chars) for _ in range(rng.randint(1, 60)))
    # Long words and repetitions.
    w = "".join(rng.choice(POOLS["ascii"]) for _ in range(rng.randint(20, 120)))
    return w if rng.random() < 0.5 else (rng.choice(WORDS) + rng.choice(POOLS["punct"])) * rng.randint(2, 30)


def write_user_defined(args):
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    with open(args.model, "rb") as f:
        proto.ParseFromString(f.read())
    for symbol in USER_DEFINED_SYMBOLS:
        piece = proto.pieces.add()
        piece.piece = symbol
        piece.score = 0.0
        piece.type = sentencepiece_model_pb2.ModelProto.SentencePiece.USER_DEFINED
    sp = sentencepiece.SentencePieceProcessor(model_proto=proto.SerializeToString())
    special = {i for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)}
    with open(args.out + ".user-defined.golden.jsonl", "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps({"user_defined_symbols": USER_DEFINED_SYMBOLS}) + "\n")
        for t in HANDWRITTEN + USER_DEFINED_TEXTS:
            ids = sp.encode(t)
            f.write(json.dumps({"text": t, "ids": ids, "decoded": sp.decode(ids),
                                "decoded_skip_special": sp.decode([i for i in ids if i not in special])},
                               ensure_ascii=True) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tests/Inference.Tests/Fixtures/flan-t5-small/spiece.model")
    ap.add_argument("--out", default="tests/Inference.Tests/Fixtures/tokenizer/flan-t5-small")
    ap.add_argument("--generated", type=int, default=400, help="number of seeded random texts")
    ap.add_argument("--decode-cases", type=int, default=150, help="number of random id sequences")
    ap.add_argument("--seed", type=int, default=20261129)
    ap.add_argument("--basic", action="store_true",
                    help="write only .golden.jsonl and .decode.golden.jsonl (for a second, smaller model)")
    args = ap.parse_args()

    sp = sentencepiece.SentencePieceProcessor(model_file=args.model)
    special = {i for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)}
    rng = random.Random(args.seed)

    texts = list(HANDWRITTEN)
    texts += [random_text(rng) for _ in range(args.generated)]
    seen = set()
    unique = [t for t in texts if not (t in seen or seen.add(t))]

    def decoded_pair(ids):
        return sp.decode(ids), sp.decode([i for i in ids if i not in special])

    with open(args.model, "rb") as m:
        model_sha256 = hashlib.sha256(m.read()).hexdigest()
    with open(args.out + ".golden.jsonl", "w", encoding="utf-8", newline="\n") as f:
        # Header: which model the ids belong to, so a changed model fails loudly instead of mysteriously.
        f.write(json.dumps({"model_sha256": model_sha256, "sentencepiece": sentencepiece.__version__}) + "\n")
        for t in unique:
            ids = sp.encode(t)
            d, ds = decoded_pair(ids)
            f.write(json.dumps({"text": t, "ids": ids, "decoded": d, "decoded_skip_special": ds},
                               ensure_ascii=True) + "\n")

    if not args.basic:
        write_unicode(args, sp, decoded_pair)
        write_user_defined(args)

    size = sp.get_piece_size()
    space_piece = sp.piece_to_id("\u2581")
    with open(args.out + ".decode.golden.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for k in range(args.decode_cases):
            n = rng.randint(1, 12)
            ids = [rng.randrange(size) for _ in range(n)]
            # Sprinkle special ids and the bare "▁" piece, which decides where the leading space is dropped.
            for _ in range(rng.randint(0, 3)):
                ids.insert(rng.randint(0, len(ids)), rng.choice(sorted(special) + [space_piece]))
            d, ds = decoded_pair(ids)
            f.write(json.dumps({"ids": ids, "decoded": d, "decoded_skip_special": ds}, ensure_ascii=True) + "\n")

    print(f"{len(unique)} texts, {args.decode_cases} decode cases, sentencepiece {sentencepiece.__version__}",
          file=sys.stderr)


def write_unicode(args, sp, decoded_pair):
    with open(args.out + ".unicode.golden.jsonl", "w", encoding="utf-8", newline="\n") as f:
        planes = [c for c in range(0x10000) if not 0xD800 <= c < 0xE000]
        planes += [c for c in range(0x10000, 0x110000) if (c >> 7) % 37 == 0]
        for k in range(0, len(planes), 128):
            t = "".join(chr(c) for c in planes[k:k + 128])
            ids = sp.encode(t)
            d, ds = decoded_pair(ids)
            # Raw UTF-8 here halves the file; JSON still escapes the C0 controls, and no line breaks inside.
            f.write(json.dumps({"text": t, "ids": ids, "decoded": d, "decoded_skip_special": ds},
                               ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
