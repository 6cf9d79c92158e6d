"""Small Hugging Face tokenizers built here (nothing downloaded) carrying a model's special tokens: the text side
of the reference processors in tests/test_models*.py (benchmarks/model_refs.py builds its own)."""

from collections.abc import Sequence

from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast


def word_tokenizer(words: Sequence[str], specials: Sequence[str] = (), template: str | None = None,
                   **kwargs) -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer over ``["[UNK]", *words]`` with ``specials`` as special tokens.

    ``template``: a single-sequence post-processor, e.g. ``"<bos> $A"`` (the tokens it names must be in ``words``
    or ``specials``); ``kwargs`` go to ``PreTrainedTokenizerFast`` (bos_token=..., pad_token=...). Inputs are
    ``input_ids`` and ``attention_mask`` only, as the models' tokenizers return them.
    """
    vocab = ["[UNK]", *[w for w in words if w != "[UNK]"]]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    kwargs.setdefault("model_input_names", ["input_ids", "attention_mask"])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", **kwargs)
    if specials:
        tok.add_special_tokens({"additional_special_tokens": list(specials)})
    if template is not None:
        names = [t for t in template.split() if t != "$A"]
        tok._tokenizer.post_processor = processors.TemplateProcessing(
            single=template, special_tokens=[(t, tok.convert_tokens_to_ids(t)) for t in names])
    return tok
