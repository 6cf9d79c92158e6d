"""``ModelProcessor(name, tokenizer=...)``: the model's own text ids from a tokenizer object, a local
``tokenizer.json`` (or a folder holding it) or a SentencePiece ``.model`` file, built here with the model's special
tokens (nothing downloaded); the ids equal what the transformers processor makes with the same tokenizer."""

from pathlib import Path

import pytest
import sentencepiece as spm
import torch
from PIL import Image as PILImage
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast, Qwen2VLProcessor, Qwen2VLVideoProcessor

import mmtok
import published
from mmtok.errors import ConfigError, InputError

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "assets/images/chelsea.png"
QWEN_SPECIALS = published.QWEN_SPECIALS
WORDS = ["[UNK]", "<bos>", "Describe", "this", "picture", "and", "that", ".", ":"]


def _tokenizer(bos: bool) -> Tokenizer:
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.add_special_tokens([AddedToken(s, special=True) for s in QWEN_SPECIALS])
    if bos:  # a post-processor that puts <bos> first, as Gemma's tokenizer.json does
        tk.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    return tk


@pytest.mark.parametrize("bos", [False, True])
def test_a_tokenizer_json_gives_the_processors_ids(tmp_path, bos):
    path = tmp_path / "tokenizer.json"
    _tokenizer(bos).save(str(path))
    hf_tok = PreTrainedTokenizerFast(tokenizer_file=str(path), unk_token="[UNK]")
    hf = Qwen2VLProcessor(image_processor=published.qwen_image("qwen2-vl"), tokenizer=hf_tok,
                          video_processor=Qwen2VLVideoProcessor())  # no clip: the class defaults
    ref = hf(text=["Describe this <|vision_start|><|image_pad|><|vision_end|> ."],
             images=[PILImage.open(PHOTO).convert("RGB")], return_tensors="pt")
    contents = ["Describe this ", mmtok.Image(PHOTO), " ."]
    for given in (path, str(path), tmp_path, Tokenizer.from_file(str(path)), hf_tok):
        ours = mmtok.ModelProcessor("qwen2-vl", tokenizer=given).hf_inputs(contents)
        assert torch.equal(ours["input_ids"], ref["input_ids"]), type(given)
        assert torch.equal(ours["attention_mask"], ref["attention_mask"])
        assert torch.equal(ours["mm_token_type_ids"], ref["mm_token_type_ids"])
    assert (ref["input_ids"][0, 0] == 1) == bos
    proc = mmtok.ModelProcessor("qwen2-vl", tokenizer=path)
    assert proc.num_tokens("Describe this picture") == 3  # a piece on its own: no BOS
    with pytest.raises(InputError, match="contains the marker <\\|image_pad\\|>"):
        proc.hf_inputs("this <|image_pad|>")


def test_a_sentencepiece_model_file(tmp_path):
    """A .model with the markers as user-defined pieces: BOS first, text pieces, markers as their own ids."""
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(["describe this picture and that one"] * 50 + ["a b c d e f g h i j k"] * 50))
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp_path / "m"), vocab_size=28,
                                   user_defined_symbols=QWEN_SPECIALS, bos_id=1, eos_id=2, unk_id=0, pad_id=-1,
                                   minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "m.model"))
    proc = mmtok.ModelProcessor("qwen2-vl", tokenizer=tmp_path / "m.model")
    ours = proc.hf_inputs(["describe this ", mmtok.Image(PHOTO)])
    n = proc.num_tokens(mmtok.Image(PHOTO))
    start, end, pad = (sp.piece_to_id(s) for s in QWEN_SPECIALS[:3])
    assert ours["input_ids"][0].tolist() == [1] + sp.encode("describe this ") + [start] + [pad] * n + [end]
    assert proc.num_tokens("describe this ") == len(sp.encode("describe this "))


def test_tokenizers_that_cannot_serve(tmp_path):
    with pytest.raises(ConfigError, match="has no <\\|vision_start\\|>"):  # mmtok's own model has no Qwen markers
        mmtok.ModelProcessor("qwen2-vl", tokenizer=ROOT / "assets/text/mmtok-text-32k.model")
    with pytest.raises(ConfigError, match="no such file"):
        mmtok.ModelProcessor("qwen2-vl", tokenizer=tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a tokenizers tokenizer.json"):
        mmtok.ModelProcessor("qwen2-vl", tokenizer=tmp_path / "bad.json")
    (tmp_path / "vocab.txt").write_text("a\n")
    with pytest.raises(ConfigError, match="give a tokenizer.json or a SentencePiece .model"):
        mmtok.ModelProcessor("qwen2-vl", tokenizer=tmp_path / "vocab.txt")
    with pytest.raises(ConfigError, match="tokenizer= takes"):
        mmtok.ModelProcessor("qwen2-vl", tokenizer=42)
