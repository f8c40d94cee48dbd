"""The PixWizard diffusion transformer.

Shape and time vocabulary used in every docstring and shape comment of this package:

- ``B`` batch, ``C`` latent channels, ``H, W`` latent height and width (pixels / 8), ``p`` patch size.
- ``L`` image tokens (``(H/p)·(W/p)`` per item, the batch maximum when padded), ``Lt`` text tokens,
  ``N`` CLIP image tokens per image (576 for CLIP-L/14-336), ``K`` selected CLIP tokens (``sample_tokens``).
- ``D`` hidden size, ``Dc = min(D, 1024)`` conditioning width, ``Hd`` query heads, ``Hkv`` key/value heads,
  ``Dh = D / Hd`` head dimension.
- Flow time ``t ∈ [0, 1]`` with **t = 0 pure noise and t = 1 data**; the model predicts the velocity
  ``data − noise``. Conversions to other conventions happen in ``pixwizard.model.flow`` only.

Modules: ``config`` (presets), ``layers`` (norms, embeddings, RoPE), ``attention`` (the one attention entry
point), ``token_sampler`` (task-aware CLIP token selection), ``transformer`` (the model), ``guidance``
(classifier-free-guidance combination), ``checkpoint`` (official checkpoint reading and conversion).
"""

from pixwizard.model.config import PRESETS, official_preset, pixwizard_2b, pixwizard_2b_gqa, tiny

__all__ = ["PRESETS", "official_preset", "pixwizard_2b", "pixwizard_2b_gqa", "tiny"]
