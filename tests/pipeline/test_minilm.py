"""Our MiniLM (BERT + ``tokenizers``) computes what ``transformers`` computes for the packaged checkpoint."""

import pytest
import torch

from pixwizard.pipeline.minilm import MiniLM, WordPieceTokenizer
from pixwizard.pipeline.small import minilm_path

PROMPTS = [
    "Remove the noise",
    "Segment the image into its classes, and colour each one as the palette says",
    "",
    "Héllo Wörld, ÇA va?! " * 20,  # accents, punctuation, and longer than 64 tokens
    "a",
]
CALL = dict(padding=True, pad_to_multiple_of=8, max_length=64, truncation=True, return_tensors="pt")


@pytest.fixture(scope="module")
def both():
    from transformers import AutoModel, AutoTokenizer

    path = minilm_path()
    theirs = AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
    return theirs, (MiniLM.from_pretrained(path), WordPieceTokenizer.from_pretrained(path))


@pytest.mark.parametrize("prompts", [PROMPTS, PROMPTS[:1], PROMPTS[3:4]], ids=["mixed", "one", "truncated"])
def test_tokens_and_features_are_identical_to_transformers(both, prompts):
    (ref_model, ref_tok), (model, tok) = both
    expected, got = ref_tok(prompts, **CALL), tok(prompts, **CALL)
    assert torch.equal(got["input_ids"], expected["input_ids"])
    assert torch.equal(got["attention_mask"], expected["attention_mask"])
    assert got["input_ids"].shape[1] % 8 == 0 and got["input_ids"].shape[1] <= 64
    with torch.no_grad():
        ref = ref_model(input_ids=expected["input_ids"], attention_mask=expected["attention_mask"])
        out = model(input_ids=got["input_ids"], attention_mask=got["attention_mask"])
    assert torch.equal(out.last_hidden_state, ref.last_hidden_state)


def test_unpadded_call_and_defaults_match(both):
    (ref_model, ref_tok), (model, tok) = both
    kwargs = dict(padding=True, truncation=True, max_length=128, return_tensors="pt")  # the router's call
    expected, got = ref_tok(PROMPTS, **kwargs), tok(PROMPTS, **kwargs)
    assert torch.equal(got["input_ids"], expected["input_ids"])
    with torch.no_grad():
        ref = ref_model(**expected).last_hidden_state
        assert torch.equal(model(**got).last_hidden_state, ref)


def test_save_and_reload_round_trip(both, tmp_path):
    _, (model, tok) = both
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    again, again_tok = MiniLM.from_pretrained(tmp_path), WordPieceTokenizer.from_pretrained(tmp_path)
    ids = again_tok(PROMPTS, **CALL)
    with torch.no_grad():
        assert torch.equal(again(**ids).last_hidden_state, model(**tok(PROMPTS, **CALL)).last_hidden_state)


def test_a_missing_weight_is_refused(tmp_path, both):
    _, (model, _) = both
    model.save_pretrained(tmp_path)
    from safetensors.torch import load_file, save_file

    state = load_file(str(tmp_path / "model.safetensors"))
    del state["pooler.dense.bias"]
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(RuntimeError, match="pooler.dense.bias"):
        MiniLM.from_pretrained(tmp_path)


def test_the_vocabulary_is_the_same(both):
    (_, ref_tok), (_, tok) = both
    assert tok.get_vocab() == ref_tok.get_vocab()  # the encoder digest of training exports reads it
