"""The offline planner: a request in plain words becomes a `Plan` of tool calls, or a `Question`.

Notable features:

- **clauses**: the request is cut into sentences, then at connectors ("then", "after that", "and also",
  "next", "finally", "once that's done", ...), then at commas, colons and "and" where the words after them
  start a new action ("find the cat and the dog" stays one clause; "black and white" is no action);
  descriptive sentences ("This is a sketch I drew.") are kept as context for the clauses after them;
- **rules first, then the router**: word rules for what the task router does not know (object recipes, the
  image and mask operations, grounding verbs, "fix whatever is wrong automatically", generating from a map
  made earlier), then `pixwizard.tasks.route` (MiniLM exemplars plus word cues) with its tasks mapped to
  tools; the router also tells "remove the rain" (restoration) from "remove the car" (an object recipe);
- **references**: the first image step reads ``$input`` (``$input.1`` for "the second image"); later steps
  read the latest image another step produced; "the original" is ``$input``; masks and boxes come from the
  last ground step (``$s2.objects.0.mask``) or mask operation (``$s3.image``); analysis outputs (depth,
  segment, ground, annotate, compare, describe, drawn boxes) and masks never become the image later edits
  work on, but a generation "from that depth map" reads the map;
- **terse and chatty wording** (word tables in `planner_words`): steps end at arrows, numbering, bullets,
  newlines and "+"; quoted text and parentheses are never cut and give captions, instructions, objects and
  labels; statements ("It's way too dark", "There's a dog in it") are context, not steps, unless nothing
  else is asked; problems are found by how people describe them (grainy, milky, wavy lines, tiny) and a
  vague "fix both of those problems" restores what the statements named; tools can be named as written
  ("describe_image", "t2i 'a fox'", "restore_then: dehaze + denoise"); sizes, factors, pixels and literal
  boxes are read inline; "image 2" and a mask given as an input are references; a repeated step is added
  once;
- **questions instead of guesses**: a clause the router is unsure of and no rule covers, or one that lacks
  a value it needs (what to restore, where to add, which mask to fill), ends planning with a `Question`
  carrying the router's candidate readings; a remark the router cannot place among real steps is skipped.

No diffusion model is called; the router loads its sentence encoder on first use.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

# _CONDITION_WORDS and _is_vague are the router's own tables: one copy of those rules (STYLE 13).
from pixwizard.tasks.registry import TASKS, Family
from pixwizard.tasks.router import _CONDITION_WORDS, COLORS, Route, _is_vague, extract_slots, route

from .plan import MAX_STEPS, Plan, Question, Step
from .planner_words import (
    ADJUNCT,
    CONNECTORS,
    DECLARATIVE,
    EMBEDDED_MASK,
    FILLER,
    FINITE,
    FIX_REFERRED,
    GENERATION,
    GROUND_HEAD,
    HEAD,
    IMAGE_OBJECT,
    INPUT_MASK,
    JOINS,
    MASK_OPS,
    POLITE_ASK,
    PRONOUN,
    REMOVE,
    RESTORE_HEAD,
    SENTENCES,
    SHAPES,
    STEP_MARKS,
    SUBJECT,
    TOOL_HEAD_RE,
    TRAILING,
    VERBS,
    named_map,
    named_problems,
)

ANALYSIS_TOOLS = frozenset(
    {"depth", "segment", "ground", "annotate", "compare", "describe_image", "draw_boxes"}
)
MASK_TOOLS = frozenset(
    {
        "mask_dilate",
        "mask_erode",
        "mask_feather",
        "mask_invert",
        "mask_union",
        "mask_intersect",
        "box_to_mask",
    }
)
ANNOTATE_KINDS = ("normal", "canny", "hed", "sketch", "lineart", "pose")
_MAP_TASKS = {"depth": "depth", "segment": "segment", **{k: k for k in ANNOTATE_KINDS}}
# A short clause whose best reading is this sure is taken even when the router calls it vague
# ("Derain", "dehaze this": one task word and nothing else to go on).
SHORT_CLAUSE_WORDS = 3
SHORT_CLAUSE_CONFIDENCE = 0.7
# A border asked for without a width ("give it a black border").
DEFAULT_BORDER_PX = 32


@dataclass(frozen=True)
class Planned:
    """What the planner made of a request: a plan, or a question to ask instead (exactly one is set)."""

    plan: Plan | None = None
    question: Question | None = None

    def __post_init__(self):
        if (self.plan is None) == (self.question is None):
            raise ValueError("Planned needs exactly one of plan and question")


@dataclass(frozen=True)
class Clause:
    """One action of a request, with the descriptive sentences before it (``context``)."""

    text: str
    context: str = ""


class _Ask(Exception):
    """Raised inside the planner when a clause needs a question; carries it."""

    def __init__(self, question: Question):
        self.question = question
        super().__init__(question.question)


# ----------------------------------------------------------------------------------------------------
# Clauses
# ----------------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")
_PROTECTED = re.compile(r"(?<![\w])(['\"\u2018\u201c])(.+?)['\"\u2019\u201d](?![\w])|\([^()]*\)")


def _protect(text: str) -> tuple[str, list[str]]:
    """Hide quoted text and parentheses behind placeholders, so no separator inside them splits."""
    kept: list[str] = []

    def hide(match: re.Match) -> str:
        kept.append(match.group(0))
        return f"\ue000{len(kept) - 1}\ue001"

    return _PROTECTED.sub(hide, text), kept


def _unprotect(text: str, kept: list[str]) -> str:
    return _PLACEHOLDER.sub(lambda m: kept[int(m.group(1))], text)


def _strip_head(text: str) -> str:
    text = re.sub(r"(?:[\s,]+(?:and|then|so|but))+$", "", text.strip(' \t,.!?"'), flags=re.I)
    while True:
        stripped = HEAD.sub("", text)
        if stripped == text:
            return text
        text = stripped


def _first_word(text: str) -> str:
    match = re.match(r"[a-z][a-z'-]*", _strip_head(text).lower())
    return match.group(0) if match else ""


def _starts_with_verb(text: str) -> bool:
    word = _first_word(text)
    stem = word.removesuffix("ing")
    return word in VERBS or (stem != word and (stem in VERBS or stem + "e" in VERBS))  # "denoising"


def _split_actions(piece: str) -> list[str]:
    """Cut at commas, colons and "and" where the words after them start an action."""
    tokens = JOINS.split(piece)
    parts = [tokens[0]]
    for sep, segment in zip(tokens[1::2], tokens[2::2], strict=True):
        starts = _starts_with_verb(segment) or POLITE_ASK.match(segment.strip())
        if (starts or _another_map(parts[-1], sep, segment)) and parts[-1].strip():
            if ":" in sep and len(parts) == 1 and not _tool_head(parts[0]):
                parts[0] = ""  # "zoom out: outpaint on all sides": a summary of the steps after it
            parts.append(segment)
        else:
            parts[-1] += sep + segment
    return parts


def _tool_head(text: str) -> str | None:
    """The tool a clause names by its own name or shorthand at its start ("describe_image", "t2i")."""
    return next((tool for tool, head in TOOL_HEAD_RE.items() if head.match(_strip_head(text))), None)


def _another_map(left: str, sep: str, right: str) -> bool:
    """Whether "and ..." names a second map ("a depth map and a segmentation map"), not a compared pair."""
    if ":" in sep or _first_word(left) in ("compare", "merge", "combine"):
        return False
    kinds = _named_kind(left), _named_kind(right)
    return None not in kinds and kinds[0] != kinds[1]


def _is_description(text: str) -> bool:
    """Whether a clause states something (about the image, the user, a wish) instead of asking an action."""
    if _starts_with_verb(text):
        return False
    return bool(DECLARATIVE.match(text) or (SUBJECT.match(text) and FINITE.search(text)))


def _pieces(request: str) -> list[str]:
    """The request cut at step marks, sentences and connectors (quotes and parentheses kept whole)."""
    text = re.sub(r"(?:^|(?<=\s))\(\d{1,2}\)\s+", "\n", request.strip())
    text, kept = _protect(text)
    pieces = []
    for step in STEP_MARKS.split(text):
        for sentence in SENTENCES.split(" ".join(step.split())):
            for piece in CONNECTORS.split(sentence):
                pieces.extend(_unprotect(part, kept) for part in _split_actions(piece))
    return pieces


def split_clauses(request: str) -> list[Clause]:
    """The actions of a request in order, each with the descriptive sentences seen before it.

    When nothing in the request is an action ("It's all grainy."), its statements are the actions.
    """
    clauses: list[Clause] = []
    context: list[str] = []
    statements: list[Clause] = []
    adjunct = ""
    for part in _pieces(request):
        text = _strip_head(part)
        if not text or FILLER.match(text):
            continue
        if ADJUNCT.match(text) and not adjunct:
            adjunct = text  # "Using the depth of this photo, generate ...": lend it to the next action
            continue
        if adjunct:
            text, adjunct = f"{adjunct}, {text}", ""
        if _is_description(text):
            statements.append(Clause(text, " ".join(context)))
            context.append(text)
        else:
            clauses.append(Clause(text, " ".join(context)))
    if adjunct:
        clauses.append(Clause(adjunct, " ".join(context)))
    return clauses or statements


# ----------------------------------------------------------------------------------------------------
# Plan state
# ----------------------------------------------------------------------------------------------------


@dataclass
class _Entry:
    """A step and what later steps may take from it."""

    step: Step
    source: str | None = None  # the image it worked on
    image: str | None = None  # its image, when later edits should work on it
    map_ref: str | None = None
    map_kind: str | None = None
    mask: str | None = None
    box: str | None = None
    referring: str | None = None


@dataclass
class _State:
    """The steps so far and what "it", "that mask", "the box" and "the original" refer to."""

    inputs: int
    entries: list[_Entry] = field(default_factory=list)
    image: str | None = None
    input_map: str | None = None  # the kind of map the input is, when the context says so
    input_mask: str | None = None  # the input that is a mask, when the request says so
    clauses: int = 1  # how many clauses the request has
    last_object: str | None = None
    last_head: str = ""

    def add(self, tool: str, args: dict, **outputs) -> _Entry:
        repeated = self._repeated(tool, args)
        if repeated is not None:
            return repeated
        sid = f"s{len(self.entries) + 1}"
        entry = _Entry(Step(id=sid, tool=tool, args=args), source=args.get("image"))
        for name, value in outputs.items():
            setattr(entry, name, value.replace("$id", f"${sid}") if isinstance(value, str) else value)
        if tool not in ANALYSIS_TOOLS | MASK_TOOLS:
            entry.image = f"${sid}.image"
            self.image = entry.image
        self.entries.append(entry)
        return entry

    def _repeated(self, tool: str, args: dict) -> _Entry | None:
        """An earlier step this one repeats: the same call, or a problem the latest restorations fixed.

        A statement and its request often name one thing twice ("It's way too dark. Brighten it.").
        """
        for entry in reversed(self.entries):
            if entry.step.tool == tool and entry.step.args == args and tool != "text_to_image":
                return entry
        if tool == "restore":
            for entry in reversed(self.entries):
                if entry.step.tool != "restore":
                    break
                if entry.step.args["problem"] == args["problem"] and args["image"] == self.image:
                    return entry
        return None

    def pop(self) -> _Entry:
        entry = self.entries.pop()
        if entry.image is not None:
            self.image = next((e.image for e in reversed(self.entries) if e.image), self._first_input())
        return entry

    def _first_input(self) -> str | None:
        return "$input" if self.inputs else None

    @property
    def last(self) -> _Entry | None:
        return self.entries[-1] if self.entries else None

    def masks(self) -> list[str]:
        given = [self.input_mask] if self.input_mask else []
        return given + [e.mask for e in self.entries if e.mask]

    def grounds(self) -> list[_Entry]:
        return [e for e in self.entries if e.box]

    def maps(self) -> list[_Entry]:
        return [e for e in self.entries if e.map_ref]


def _is_restoration(task: str | None) -> bool:
    return task is not None and TASKS[task].family is Family.RESTORATION


def _ask(question: str, clause: Clause, candidates: list[str]) -> _Ask:
    return _Ask(Question(question=question, clause=clause.text, candidates=candidates or ["edit"]))


def _need_image(st: _State, clause: Clause) -> str:
    if st.image is None:
        raise _ask("Which image should I work on? None was given.", clause, ["text_to_image"])
    return st.image


_SECOND = re.compile(
    r"\b(?:second|2nd|other)\s+(?:image|photo|picture|pic|one|input)\b|"
    r"\b(?:image|photo|picture|pic|input)\s*(?:#\s*)?(?:2|two)\b",
    re.I,
)
_FIRST = re.compile(
    r"\b(?:first|1st)\s+(?:image|photo|picture|pic|one|input)\b|"
    r"\b(?:image|photo|picture|pic|input)\s*(?:#\s*)?(?:1|one)\b",
    re.I,
)
_ORIGINAL = re.compile(r"\b(?:the|my)\s+(?:original|input)\b|\boriginal\s+(?:image|photo|picture)\b", re.I)
_EACH = re.compile(
    r"\b(?:each|both|all)\b(?:\s+of)?(?:\s+(?:my|the|these|those))?(?:\s+\w+)?\s+"
    r"(?:images|photos|pictures|pics|inputs)\b|\b(?:for|of|on)\s+(?:both|each|all)(?:\s+of\s+them)?\s*$",
    re.I,
)


def _source(text: str, st: _State) -> str | None:
    """The image a clause works on: "the second image", "the original", or the latest image."""
    if _SECOND.search(text) and st.inputs >= 2:
        return "$input.1"
    if _FIRST.search(text) and st.inputs:
        return "$input"
    if _ORIGINAL.search(text) and st.inputs:
        return "$input"
    return st.image


def _sources(text: str, st: _State) -> list[str | None]:
    if _EACH.search(text) and st.inputs >= 2:
        return ["$input"] + [f"$input.{i}" for i in range(1, st.inputs)]
    return [_source(text, st)]


def _number(text: str) -> int | None:
    match = re.search(r"\bby\s+(\d+)|(\d+)\s*(?:px|pixels?)\b", text, re.I)
    if match is None:
        match = re.search(r"(\d+)", text)
        return int(match.group(1)) if match else None
    return int(match.group(1) or match.group(2))


_PRONOUN = PRONOUN
_OBJECT_TAIL = re.compile(
    r"\s+(?:in|on|from)\s+(?:the|my|this)\s+(?:(?:first|second|other|1st|2nd)\s+)?"
    r"(?:image|photo|picture|pic|one|shot)\b.*$|\s+for me\b.*$|\s+(?:so|and then)\s.*$|"
    r"\s+(?:in|on|from|of)\s+(?:image|photo|picture|pic|input)\s*#?\s*\d\b.*$|\s*\([^()]*\)\s*$|"
    r"\s+as\s+an?\s+(?:\w+\s+)?(?:bounding\s+box|bbox|box|mask|outline|highlight)\b.*$",
    re.I,
)


_TAIL = re.compile(
    r"\s+by\s+\d+.*$|\s+(?:is|are)$|\?.*$|"
    r"\s+with\s+an?\s+(?:\w+\s+)?(?:box|mask|overlay|outline|rectangle|frame|highlight|tint)\b.*$",
    re.I,
)
# "highlight the bird in green": the colour of the drawing, not of the bird (box and highlight modes only).
_COLOR_TAIL = re.compile(rf"\s+(?:with|in)\s+(?:an?\s+)?(?:{'|'.join(COLORS)})\b.*$", re.I)


def _object_phrase(text: str) -> str:
    """A described object: "the white cat in the second picture, please" → "the white cat"."""
    quoted = _quoted(text)
    if quoted:
        return quoted[0]  # "detect 'the TV screen' as a bbox"
    text = _OBJECT_TAIL.sub("", text.strip(" ,.;:!?\"'"))
    text = _TAIL.sub("", text)
    return re.sub(r"[\s,]+(?:please|pls|thanks)$", "", text, flags=re.I).strip(" ,.;:!?\"'")


def _split_objects(phrase: str) -> list[str]:
    """Split "the cat and the dog" into two objects; "the black and white cat" stays one."""
    phrase = re.sub(
        r"\b(?:and|,)\s+(?:then\s+)?(?:another|a|one|the\s+other)\s+(?:masks?|box(?:es)?)\s+(?:of|for|around)\s+",
        "and ",
        phrase,
        flags=re.I,
    )  # "the cat and another mask of the dog"
    parts = re.split(r"\s+and\s+(?:(?:for|of)\s+)?(?=(?:the|a|an|my|his|her|their)\b)", phrase, flags=re.I)
    return [p.strip() for p in parts if p.strip()]


def _is_pronoun(phrase: str | None) -> bool:
    """Whether an object is only a reference back ("it", "them up", "that mask"), not a description."""
    tail = r"(?:\s+(?:mask|masks|box|area|region|one|edges?|all|too|up|out|again|now|there|as well))?"
    head = r"(?:(?:just|only|down\s+to|to)\s+)?"
    return not phrase or re.fullmatch(rf"{head}{_PRONOUN}{tail}", phrase.strip(), re.I) is not None


# ----------------------------------------------------------------------------------------------------
# Rules: each handles a clause (adding steps) and returns True, or returns False to pass it on
# ----------------------------------------------------------------------------------------------------

_AUTO = re.compile(
    r"\b(?:automatic\w*|auto|whatever(?:'s|\s+is)?\s+wrong|anything\s+(?:that's\s+|that\s+is\s+)?wrong)\b",
    re.I,
)
_FIXING = re.compile(r"\b(?:restore|fix|repair|clean|enhance|correct|improve)\w*\b", re.I)


def _rule_auto_restore(clause: Clause, st: _State) -> bool:
    """Start restore_then(problems="auto") for "fix whatever is wrong automatically"; an analysis ends it."""
    if not (_AUTO.search(clause.text) and _FIXING.search(clause.text)):
        return False
    stated = _route_text(clause.text)
    if not stated.unsure and _is_restoration(stated.task):
        return False  # "fix the noise automatically" names its problem
    image = _need_image(st, clause)
    st.add("restore_then", {"image": image, "problems": "auto"})
    return True


def _complete_auto(clause: Clause, st: _State, auto: _Entry) -> bool:
    """Fold the analysis step a clause added into the pending restore_then, or ask what to restore.

    Returns whether it is done (False while more restorations join its list).
    """
    added = st.entries[st.entries.index(auto) + 1 :]
    if (
        added
        and isinstance(auto.step.args["problems"], list)
        and all(e.step.tool == "restore" for e in added)
    ):
        for _ in added:  # "restore_then: dehaze + denoise, then segment"
            st.pop()
        auto.step.args["problems"] += [e.step.args["problem"] for e in added]
        return False
    if len(added) == 1 and added[0].step.tool in ("depth", "segment", "annotate", "ground"):
        if not auto.step.args["problems"]:
            auto.step.args["problems"] = "auto"
        analysis = st.pop()
        then = analysis.step.args.get("kind", analysis.step.tool)
        auto.step.args["then"] = then
        if then == "ground":
            auto.step.args["referring"] = analysis.step.args["referring"]
            auto.mask, auto.box = (
                f"${auto.step.id}.analysis.objects.0.mask",
                f"${auto.step.id}.analysis.objects.0.box",
            )
        else:
            auto.map_ref, auto.map_kind = f"${auto.step.id}.analysis_image", analysis.map_kind
        return True
    raise _ask(
        "Which problems should I fix? Automatic restoration needs an analysis to follow it.",
        clause,
        ["restore_then(problems=auto)", *(f"restore(problem={t})" for t in TASKS if _is_restoration(t))],
    )


def _rule_restore_words(clause: Clause, st: _State) -> bool:
    """A restoration named by its verb or noun ("de-noise", "upscale it", "make it bigger and sharper")."""
    text = clause.text
    head = RESTORE_HEAD.match(text)
    if head is None or re.search(r"\d+\s*(?:x|\u00d7|by)\s*\d+|\d+\s*(?:px|pixels?)\b", text, re.I):
        return False  # "enlarge it to 1920x1080" is a resize
    rest = text[head.end() :].strip(" ,")
    problems = named_problems(text)
    if not problems or not (IMAGE_OBJECT.match(rest) or named_problems(rest)):
        return False  # "brighten the sky" is an edit
    for image in _sources(text, st):
        for problem in problems:
            st.add("restore", {"image": image or _need_image(st, clause), "problem": problem})
    return True


def _rule_fix_described(clause: Clause, st: _State) -> bool:
    """Restore what a statement named when asked to "fix both of those problems" (or "sort it out")."""
    if not clause.context or not FIX_REFERRED.match(clause.text):
        return False
    problems = named_problems(clause.context)
    if not problems:
        return False
    for problem in problems:
        st.add("restore", {"image": _need_image(st, clause), "problem": problem})
    return True


_OP_TAIL = re.compile(r"\s+(?:bigger|larger|wider|smaller|tighter|thinner|inverted|blurred)\b.*$", re.I)


def _rule_mask_ops(clause: Clause, st: _State) -> bool:
    """Grow, shrink, feather, invert, merge or intersect the latest masks, or turn a box into a mask."""
    text = clause.text
    ops = sorted(
        (m.start(), tool) for tool, pattern in MASK_OPS for m in [re.search(pattern, text, re.I)] if m
    )
    if not ops:
        return False
    about_mask = re.search(r"\bmasks?\b", text, re.I) is not None
    # The last step made a mask ("grow it"), or the request starts from a mask it was given.
    focused = st.last.mask is not None if st.last is not None else st.input_mask is not None
    if not about_mask and not (focused and not re.search(r"\b(?:image|photo|picture)\b", text, re.I)):
        return False
    embedded = EMBEDDED_MASK.search(text)
    phrase = _object_phrase(_OP_TAIL.sub("", embedded.group(1))) if embedded else ""
    if phrase and not _is_pronoun(phrase):  # "feather the mask of the girl's hair": find it first
        for obj in _split_objects(phrase):
            _ground(clause, st, obj, "mask", _source(text, st))
    for _, tool in ops:
        _mask_op(tool, clause, st)
    return True


def _mask_op(tool: str, clause: Clause, st: _State) -> None:
    masks = st.masks()
    if tool == "box_to_mask":
        grounds = st.grounds()
        if not grounds:
            raise _ask("Which box should become a mask?", clause, ["ground(mode=box)"])
        st.add(tool, {"image": grounds[-1].source, "box": grounds[-1].box}, mask="$id.image")
        return
    if not masks:
        raise _ask("Which mask? Nothing made one yet.", clause, ["ground(mode=mask)"])
    if tool in ("mask_union", "mask_intersect"):
        if len(masks) < 2:
            raise _ask("Which two masks?", clause, ["ground(mode=mask)"])
        st.add(tool, {"mask": masks[-2], "other": masks[-1]}, mask="$id.image")
        return
    args = {"mask": masks[-1]}
    if tool != "mask_invert":
        radius = _number(clause.text)
        if radius is not None:
            args["radius"] = radius
    st.add(tool, args, mask="$id.image")


def _rule_inpaint(clause: Clause, st: _State) -> bool:
    """Fill the latest mask, optionally with described content ("fill that area with a bench")."""
    if not re.match(r"(?:fill|inpaint)\w*\b", clause.text, re.I):
        return False
    slots = extract_slots("inpaint", clause.text)
    quoted = _quoted(clause.text)
    if quoted:
        slots["caption"] = quoted[0]
    _other_step("inpaint", slots, clause, st)
    return True


def _rule_composite(clause: Clause, st: _State) -> bool:
    """Paste another image where the latest mask is white."""
    other_image = r"^(?:put|place|insert|copy)\b.*\b(?:second|other)\s+(?:image|photo|picture|pic)\b"
    if not re.search(r"\b(?:composit\w*|paste|blend)\b|" + other_image, clause.text, re.I):
        return False
    masks = st.masks()
    if not masks:
        raise _ask("Where should the other image go? Make a mask first.", clause, ["ground(mode=mask)"])
    other = "$input.1" if st.inputs >= 2 else "$input"
    st.add("composite", {"image": _need_image(st, clause), "other": other, "mask": masks[-1]})
    return True


_INSIDE = re.compile(r"\b(?:inside|within|in)\s+(?:an?|the)\s+(?:mask|area|region)\s+of\s+(.+)$", re.I)


def _rule_compare(clause: Clause, st: _State) -> bool:
    """Compare the result with the original (or the second input, or two maps), optionally inside a mask."""
    text = clause.text
    if not re.search(
        r"\b(?:compar\w*|difference|diff|versus|vs|how\s+(?:similar|different|much\s+(?:\w+\s+)?changed))\b",
        text,
        re.I,
    ):
        return False
    maps = st.maps()
    if (
        re.search(r"\b(?:two|both|the)\s+(?:\w+\s+)?(?:maps|segmentations|edges|results)\b", text, re.I)
        and len(maps) >= 2
    ):
        a, b = maps[-2].map_ref, maps[-1].map_ref
    else:
        a = _need_image(st, clause)
        b = "$input.1" if _SECOND.search(text) and st.inputs >= 2 else "$input"
        if a == b and st.inputs >= 2:
            b = "$input.1"
    if a == b:
        raise _ask("What should I compare it with?", clause, ["compare(a, b)"])
    args = {"a": a, "b": b}
    inside = _INSIDE.search(text)
    named = re.search(
        r"\b(?:inside|within|in)\s+the\s+((?!(?:that|this|same)\b)[\w' -]+?)\s+mask\b", text, re.I
    )
    if inside or named:  # "inside the mask of the face", "inside the face mask"
        phrase = _object_phrase(inside.group(1)) if inside else f"the {named.group(1)}"
        _ground(clause, st, phrase, "mask", b if b.startswith("$input") else a)
        args["mask"] = st.masks()[-1]
    elif re.search(r"\b(?:inside|within)\s+(?:that|the|this)\s+mask\b", text, re.I) and st.masks():
        args["mask"] = st.masks()[-1]
    st.add("compare", args)
    return True


def _rule_describe(clause: Clause, st: _State) -> bool:
    """Size, mode and lineage of the latest image."""
    if not re.search(
        r"\b(?:describe|size|dimensions?|lineage|history|provenance|info|information|metadata|how big)\b",
        clause.text,
        re.I,
    ):
        return False
    st.add("describe_image", {"image": _need_image(st, clause)})
    return True


def _rule_draw_boxes(clause: Clause, st: _State) -> bool:
    """Draw boxes found earlier on the image ("draw its bounding box with the label 'Rex'")."""
    text = clause.text
    drawing = re.search(r"\bdraw\w*\b.*\b(?:box|boxes)\b", text, re.I) and not re.search(
        r"\baround\b", text, re.I
    )
    named = re.match(r"draw[_\s-]boxes\b|label\b", text, re.I)
    labelled = re.search(r"\blabel\w*\s+(?:\w+\s+)?['\"\u2018\u201c]", text, re.I)  # "with the label 'rider'"
    if not (drawing or named or labelled):
        return False
    grounds = st.grounds()
    if not grounds:
        return False
    if re.search(r"\bboth\b", text, re.I):
        chosen = grounds[-2:]
    elif re.search(r"\b(?:all|their|them|boxes)\b", text, re.I):
        chosen = grounds
    else:
        chosen = grounds[-1:]
    args: dict = {"image": chosen[-1].source, "boxes": [g.box for g in chosen]}
    labels = re.findall(r"['\"]([^'\"]+)['\"]", text)
    if labels:
        args["labels"] = labels
    color = re.search(rf"\b({'|'.join(COLORS)})\b", text, re.I)
    if color:
        args["color"] = color.group(1).lower()
    st.add("draw_boxes", args)
    return True


def _rule_crop(clause: Clause, st: _State) -> bool:
    """Crop to a box found earlier, or find the named object first ("crop to the dog")."""
    text = clause.text
    if not re.match(r"crop\b", text, re.I):
        return False
    box = _box_literal(text)
    if box is not None:  # "crop to (0, 0, 640, 480)"
        st.add("crop", {"image": _need_image(st, clause), "box": box})
        return True
    target = re.search(
        r"\bto\s+(?:(?:the|a)\s+)?(?:(?:tight\s+)?(?:bounding\s+)?box|region)\s+(?:around|of)\s+(.+)$",
        text,
        re.I,
    ) or re.search(r"\b(?:to|around)\s+(.+)$", text, re.I)
    phrase = _object_phrase(target.group(1)) if target else None
    if not _is_pronoun(phrase) and not re.fullmatch(
        r"(?:the\s+)?(?:box|bounding box|region)", phrase or "", re.I
    ):
        _ground(clause, st, phrase or "", "box", _source(text, st))
    grounds = st.grounds()
    if not grounds:
        raise _ask("What should I crop to?", clause, ["ground(mode=box)", "crop"])
    st.add("crop", {"image": grounds[-1].source, "box": grounds[-1].box})
    return True


def _rule_resize(clause: Clause, st: _State) -> bool:
    """Resize to a size ("1920 by 1080", "800 wide and 600 tall") or by a factor ("half size", "2x")."""
    text = clause.text
    sized = re.match(
        r"(?:make|set|change)\b.*?\b(?:\d+\s*(?:x|×|by)\s*\d+(?:\s*(?:px|pixels))?|"
        r"\d+\s*(?:px|pixels)?\s*(?:wide|tall|high))$",
        text,
        re.I,
    )
    if not (sized or re.search(r"\b(?:resiz|rescal|downscal|downsiz)\w*|^(?:scale|shrink)\b", text, re.I)):
        return False
    args: dict = {"image": _need_image(st, clause)}
    pair = re.search(r"(\d+)\s*(?:x|×|by)\s*(\d+)", text, re.I)
    wide = re.search(r"(\d+)\s*(?:px|pixels?)?\s*wide|width\s*(?:of\s*)?(\d+)", text, re.I)
    tall = re.search(r"(\d+)\s*(?:px|pixels?)?\s*(?:tall|high)|height\s*(?:of\s*)?(\d+)", text, re.I)
    factor = re.search(
        r"(\d+(?:\.\d+)?)\s*(%|x\b|times\b)|(?:factor(?:\s+of)?|scale(?:\s+(?:of|by|factor))?|\bby)\s*[=:]?\s*"
        r"(\d+(?:\.\d+)?)\b(?!\s*(?:px|pixels?|%))",
        text,
        re.I,
    )
    words = {"half": 0.5, "quarter": 0.25, "third": 1 / 3, "twice": 2.0, "double": 2.0, "triple": 3.0}
    if pair:
        args["width"], args["height"] = int(pair.group(1)), int(pair.group(2))
    elif wide or tall:
        if wide:
            args["width"] = int(wide.group(1) or wide.group(2))
        if tall:
            args["height"] = int(tall.group(1) or tall.group(2))
    elif factor:
        value = float(factor.group(1) or factor.group(3))
        args["scale"] = value / 100 if factor.group(2) == "%" else value
    else:
        word = next((w for w in words if re.search(rf"\b{w}\b", text, re.I)), None)
        if word is None:
            raise _ask("To what size?", clause, ["resize(width, height)", "resize(scale)"])
        args["scale"] = words[word]
    st.add("resize", args)
    return True


def _rule_pad(clause: Clause, st: _State) -> bool:
    """Pad some sides (or all) by a number of pixels."""
    text = clause.text
    if not (
        re.search(r"\bpad\w*\b", text, re.I)
        or re.search(r"\b(?:border|margins?)\b", text, re.I)
        and (re.search(r"\d", text) or re.match(r"(?:give|add|put|draw|make)\b", text, re.I))
    ):
        return False
    amount = _number(text) or DEFAULT_BORDER_PX  # "give it a black border"
    sides = [s for s in ("left", "top", "right", "bottom") if re.search(rf"\b{s}\b", text, re.I)]
    if not sides or re.search(r"\b(?:all|every|each)\s+(?:sides?|edges?)|\ball\s+around\b", text, re.I):
        sides = ["left", "top", "right", "bottom"]
    args: dict = {"image": _need_image(st, clause), **{s: amount for s in sides}}
    color = re.search(rf"\b({'|'.join(COLORS)})\b", text, re.I)
    if color:
        args["color"] = color.group(1).lower()
    st.add("pad", args)
    return True


def _pop_trailing_grounds(st: _State) -> list[_Entry]:
    """Take back the ground steps at the end of the plan (nothing used them yet), in their order."""
    found: list[_Entry] = []
    while st.last is not None and st.last.step.tool == "ground" and st.last.referring:
        found.insert(0, st.pop())
    return found


_THE_IMAGE = re.compile(r"(?:the|this|my|that)\s+(?:image|photo|picture|pic|shot|scan)", re.I)


def _rule_remove(clause: Clause, st: _State) -> bool:
    """Restore for "remove the rain"; remove_object for "remove the car" (or "find the car ... remove it")."""
    match = REMOVE.match(clause.text)
    if match is None:
        return False
    rest = next(g for g in match.groups() if g)
    target = re.sub(r"\s+(?:from|off|out\s+of)\s+.*$", "", _object_phrase(rest), flags=re.I)
    if _is_pronoun(target) or _THE_IMAGE.fullmatch(target):  # "clean it up", "clean up this photo"
        _remove_referred(clause, st)
        return True
    image = _source(clause.text, st) or _need_image(st, clause)
    restored: set[str] = set()
    for obj in _split_objects(target):  # "the trash can and the bench", "the snowflakes and the fog"
        problem = _named_degradation(obj)
        if problem in restored:
            continue  # "the watermark and the logo": one watermark removal
        if problem is not None:
            restored.add(problem)
            st.add("restore", {"image": image, "problem": problem})
        else:
            st.add("remove_object", {"image": image, "target": obj})
        image = st.image
    return True


def _remove_referred(clause: Clause, st: _State) -> None:
    """Remove what "it" is: the objects just found, or the problem named before ("moire ... clean it up")."""
    found = _pop_trailing_grounds(st)
    image = found[0].source if found else None
    for ground in found:
        st.add("remove_object", {"image": image, "target": ground.referring})
        image = st.image
    if found:
        return
    routed = _route_text(f"{clause.context} {clause.text}".strip())
    if routed.unsure or not _is_restoration(routed.task):
        raise _ask(
            "What should I remove?", clause, ["remove_object", *(_reading(c.task) for c in routed.candidates)]
        )
    st.add("restore", {"image": _need_image(st, clause), "problem": routed.task})


def _named_degradation(phrase: str) -> str | None:
    """The restoration a removal names by its head noun ("the rain streaks" yes; "the blurry person" no)."""
    chunk = re.split(
        r"\s+(?:from|in|on|at|of|off|out|with|that|which|it|behind|across|over|since|because)\b",
        phrase,
        maxsplit=1,
        flags=re.I,
    )[0]
    words = re.findall(r"[\w'-]+", chunk)
    while words and words[-1].lower() in TRAILING:
        words.pop()  # "the grain first"
    if words and named_problems(words[-1]):
        return named_problems(words[-1])[0]  # "the ripples", "the window reflection"
    while len(words) > 1 and words[-1].lower() in SHAPES:
        words.pop()
    if not words:
        return None
    if named_problems(words[-1]):
        return named_problems(words[-1])[0]
    routed = _route_text(f"the {words[-1]}")
    return routed.task if not routed.unsure and _is_restoration(routed.task) else None


_REPLACE = re.compile(
    r"^(?:replac|swap|switch|exchang|substitut)\w*(?:\s+out)?\s+(.+?)\s+(?:with|for|by)\s+(.+)$", re.I
)


def _rule_replace(clause: Clause, st: _State) -> bool:
    """Replace or swap an object for another."""
    match = _REPLACE.match(clause.text)
    if match is None:
        return False
    target, replacement = match.group(1), match.group(2).strip(" ,.;:!?\"'")
    image = _source(clause.text, st)
    last = st.last
    if _is_pronoun(target) and last is not None and last.step.tool == "ground" and last.referring:
        st.pop()
        target, image = last.referring, last.source
    st.add(
        "replace_object",
        {
            "image": image or _need_image(st, clause),
            "target": _object_phrase(target),
            "replacement": replacement,
        },
    )
    st.last_object = replacement
    return True


_PLACE = re.compile(
    r"\s+(?=(?:in|on|at|into|onto|near|next\s+to|beside|behind|above|below|under|over|between|along|across|around|"
    r"inside|to\s+the\s+(?:left|right)\s+of)\s)",
    re.I,
)
_CORNER = re.compile(
    r"^(?:in|at|on|to)\s+(?:the\s+)?((?:(?:top|bottom|upper|lower|center|centre|middle|left|right)[\s-]*)+"
    r"(?:corner|side|half)?)\s*$",
    re.I,
)


def _rule_add(clause: Clause, st: _State) -> bool:
    """Add an object somewhere: a position ("top left") or words ("next to the red barn")."""
    match = re.match(r"^(?:add|put|insert|place|stick)\s+(.+)$", clause.text, re.I)
    if match is None or re.search(
        r"\bmore\s+\w+\s+(?:at|on|to)\s+the\s+(?:top|bottom|left|right)\b", clause.text
    ):
        return False
    what, where = _split_place(match.group(1))
    if _named_degradation(what):
        st.add("edit", {"image": _need_image(st, clause), "instruction": clause.text})  # "add some fog"
        return True
    args: dict = {"image": _need_image(st, clause), "what": what}
    if where:
        corner = _CORNER.match(where)
        if corner:
            where = corner.group(1).strip()
        elif st.last_object:
            where = re.sub(rf"\b{_PRONOUN}$", st.last_object, where, flags=re.I)
        args["where"] = where
    elif st.last is not None and st.last.step.tool == "ground":
        args["where"] = st.last.mask
    else:
        raise _ask(f"Where should I add {what}?", clause, ["add_object"])
    st.add("add_object", args)
    st.last_object = what
    return True


def _split_place(text: str) -> tuple[str, str]:
    """Split "a small sailboat in the top left" into ("a small sailboat", "in the top left")."""
    parts = _PLACE.split(text.strip(" ,.;:!?\"'"), maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def _mode(text: str) -> str:
    if re.search(r"\b(?:box|boxes|bounding|rectangle|bbox\w*)\b", text, re.I):
        return "box"
    if re.search(r"\bhighlight\w*\b", text, re.I):
        return "highlight"
    return "mask"


def _ground(clause: Clause, st: _State, phrase: str, mode: str, image: str | None) -> _Entry:
    """Add a ground step for a described object; later steps take its mask and box."""
    if not phrase:
        raise _ask("Which object should I find?", clause, ["ground"])
    same = re.fullmatch(r"(?:that|this|the\s+same)\s+([\w-]+)", phrase, re.I)
    if same and st.last_object and re.search(rf"\b{same.group(1)}\b", st.last_object, re.I):
        phrase = st.last_object  # "crop to that building": the one found before
    if mode != "mask":
        phrase = _COLOR_TAIL.sub("", phrase)
    args: dict = {"image": image or _need_image(st, clause), "referring": phrase, "mode": mode}
    color = extract_slots("ground_highlight", clause.text).get("color")
    if color and mode != "mask":
        args["color"] = color
    st.last_object = phrase
    return st.add("ground", args, mask="$id.objects.0.mask", box="$id.objects.0.box", referring=phrase)


def _rule_ground(clause: Clause, st: _State) -> bool:
    """Find, mask, box or highlight described objects; "highlight it" / "box it" sets the last one's mode."""
    head = GROUND_HEAD.match(clause.text)
    if head is None:
        return False
    rest = clause.text[head.end() :]
    if _MAP_NOUNS.search(" ".join(rest.split()[:3])):
        return False  # "detect edges with canny" asks for a map, not an object
    mode = _mode(head.group(0) + " " + rest)
    phrase = _object_phrase(rest)
    bare = _COLOR_TAIL.sub("", phrase)
    if _is_pronoun(bare) or re.fullmatch(r"(?:a\s+|the\s+)?(?:tight\s+)?(?:box|mask)", bare, re.I):
        grounds = st.grounds()
        if grounds and grounds[-1].step.tool == "restore_then":
            return True  # "restore it automatically, find the horse and give me a mask of it"
        if not grounds or grounds[-1].step.tool != "ground":
            return False
        grounds[-1].step.args["mode"] = mode
        color = extract_slots("ground_highlight", clause.text).get("color")
        if color and mode != "mask":
            grounds[-1].step.args["color"] = color
        return True
    image = _source(clause.text, st)
    for obj in _quoted(rest) or _split_objects(phrase):
        _ground(clause, st, obj, mode, image)
    return True


_GENERATE = re.compile(r"\b(?:generate|create|make|build|render|draw|paint|produce)\b", re.I)
_FROM_MAP = re.compile(r"\b(?:from|using|use|based\s+on)\s+(?:those|these|that|this|the|them|it|its)\b", re.I)
_MAP_NOUNS = re.compile(
    r"\b(?:map|edges?|segmentation|normals?|depth|pose|skeleton|line\s*art|keypoints?|outlines?)\b", re.I
)


def _gen_caption(text: str) -> str | None:
    """What to generate: the words after a colon, or after the last generation verb up to "from ..."."""
    if ":" in text and text.rsplit(":", 1)[1].strip():
        body = text.rsplit(":", 1)[1]
    else:
        verbs = list(_GENERATE.finditer(text))
        if not verbs:
            return None
        body = text[verbs[-1].end() :]
        body = re.sub(
            r"^\s*(?:me\s+)?(?:(?:an?|the)\s+)?(?:new\s+)?(?:image|picture|photo|one|version)"
            r"(?:\s+(?:of|showing|with))?\s+",
            "",
            body,
            flags=re.I,
        )
        body = re.split(
            r"\s+(?:from|using|based\s+on|with\s+the\s+same|in\s+(?:that|the|this)\s+(?:same\s+)?\w+|"
            r"that\s+match\w*|out\s+of)\b",
            body,
            maxsplit=1,
            flags=re.I,
        )[0]
    body = re.sub(r"[\s,]+(?:please|pls|thanks)$", "", body.strip(), flags=re.I)
    return body.strip(" ,.;:!?\"'") or None


def _named_kind(text: str) -> str | None:
    for kind, pattern in _CONDITION_WORDS.items():
        if re.search(pattern, text, re.I):
            return kind
    return None


def _control(clause: Clause, st: _State, kind: str, caption: str) -> None:
    """Generate from a map: one made earlier, the input when it is a map, or the photo's own map."""
    made = [e for e in st.maps() if e.map_kind == kind]
    if made:
        image, from_photo = made[-1].map_ref, False
    else:
        image = _need_image(st, clause)
        named_input = re.search(
            rf"\b(?:this|my|these|attached)\s+(?:\w+\s+)?(?:{_CONDITION_WORDS[kind]})", clause.text, re.I
        )
        from_photo = not (image == "$input" and (st.input_map == kind or named_input))  # "from this sketch"
    st.add(
        "control_generate", {"image": image, "condition": kind, "caption": caption, "from_photo": from_photo}
    )


def _rule_from_map(clause: Clause, st: _State) -> bool:
    """Control generation from a map made earlier ("generate a harbour from those edges")."""
    text = clause.text
    maps = st.maps()
    if not maps or not (_GENERATE.search(text) and _FROM_MAP.search(text)):
        return False
    caption = _gen_caption(text)
    if caption is None or _MAP_NOUNS.search(caption):
        return False
    kind = _named_kind(text.replace(caption, " ")) or maps[-1].map_kind
    _control(clause, st, kind, caption)
    return True


_QUOTE = re.compile(r"(?<![\w])['\"\u2018\u201c](.+?)['\"\u2019\u201d](?![\w])")
_BOX_LITERAL = re.compile(r"[(\[]\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*[)\]]")


def _quoted(text: str) -> list[str]:
    """The quoted values of a clause ("inpaint 'a potted fern'" → ["a potted fern"])."""
    return [m.group(1).strip() for m in _QUOTE.finditer(text) if m.group(1).strip()]


def _box_literal(text: str) -> list[int] | None:
    match = _BOX_LITERAL.search(text)
    return [int(v) for v in match.groups()] if match else None


def _rule_tool_head(clause: Clause, st: _State) -> bool:
    """A step written as the tool's name ("describe_image", "t2i 'a fox'", "box_to_mask (0, 0, 9, 9)")."""
    tool = _tool_head(clause.text)
    if tool is None or (tool == "describe_image" and len(clause.text.split()) > 4):
        return False
    rest = TOOL_HEAD_RE[tool].sub("", clause.text, count=1)
    quoted = _quoted(rest)
    if tool == "describe_image":
        for image in _sources(clause.text, st):
            st.add("describe_image", {"image": image or _need_image(st, clause)})
    elif tool == "text_to_image":
        caption = quoted[0] if quoted else _object_phrase(rest)
        if not caption:
            raise _ask("What should I draw?", clause, ["text_to_image"])
        st.add("text_to_image", {"caption": caption, **_size(rest)})
    elif tool == "edit":
        instruction = quoted[0] if quoted else rest.strip(" :,.")
        if not instruction:
            return False
        st.add(
            "edit", {"image": _source(clause.text, st) or _need_image(st, clause), "instruction": instruction}
        )
    elif tool == "box_to_mask":
        _box_mask(clause, st)
    elif tool == "restore_then":
        problems = named_problems(rest)
        # An empty list is filled by the restorations after it ("restore_then: dehaze + denoise").
        args: dict = {"image": _need_image(st, clause), "problems": problems}
        st.add("restore_then", args)
    elif tool == "control_generate":
        return _rule_generate(clause, st)
    else:
        return False
    return True


def _size(text: str) -> dict[str, int]:
    pair = re.search(r"(\d+)\s*(?:x|\u00d7|by)\s*(\d+)", text, re.I)
    return {"width": int(pair.group(1)), "height": int(pair.group(2))} if pair else {}


def _box_mask(clause: Clause, st: _State) -> None:
    box = _box_literal(clause.text)
    if box is not None:
        st.add("box_to_mask", {"image": _need_image(st, clause), "box": box}, mask="$id.image")
    else:
        _mask_op("box_to_mask", clause, st)


def _rule_generate(clause: Clause, st: _State) -> bool:
    """Generate a quoted description: from a named or earlier map, from the input map, or from words alone."""
    text = clause.text
    quoted = _quoted(text)
    outside = _QUOTE.sub(" ", text)
    if not quoted or not GENERATION.search(outside) or re.search(r"\blabel|\bbox", outside, re.I):
        return False
    kind = named_map(outside) or _named_kind(outside)
    maps = st.maps()
    if kind is None and re.search(r"\b(?:from|on|using|with|control\w*|condition\w*|based)\b", outside, re.I):
        kind = maps[-1].map_kind if maps else st.input_map  # "from it", "from the edges", "control-generate"
    if kind is None:
        st.add("text_to_image", {"caption": quoted[0], **_size(outside)})
    else:
        _control(clause, st, kind, quoted[0])
    return True


_AN_IMAGE = re.compile(
    r"\b(?:it|this|that|the\s+(?:photo|image|picture|pic|scan|shot)|my\s+(?:photo|image|picture|pic|scan))\b",
    re.I,
)
_DRAWING = re.compile(
    r"\b(?:draw|generate|create|paint|render|illustrate|imagine|design|produce|t2i)\w*\b|\bmake\s+(?:me\s+)?an?\b",
    re.I,
)


def _rule_text_first(clause: Clause, st: _State) -> bool:
    """With no input image, the first step can only draw one (a clause about "it" needs an image)."""
    if st.image is not None:
        return False
    if _AN_IMAGE.search(clause.text) and not _DRAWING.search(clause.text):
        raise _ask("This needs an input image: which image should I use?", clause, ["pass an image"])
    caption = extract_slots("text_to_image", clause.text).get("caption")
    if not caption:
        raise _ask("What should I draw?", clause, ["text_to_image"])
    st.add("text_to_image", {"caption": caption})
    return True


# ----------------------------------------------------------------------------------------------------
# The router, for what no rule handled
# ----------------------------------------------------------------------------------------------------

_EDIT_VERBS = frozenset(
    "make turn change darken lighten recolor recolour colorize colourize convert give paint apply".split()
)


def _reading(task: str) -> str:
    """A task as the tool call it becomes (a question's candidate)."""
    if _is_restoration(task):
        return f"restore(problem={task})"
    if task.startswith("ground_"):
        return f"ground(mode={task.removeprefix('ground_')})"
    if task in ANNOTATE_KINDS:
        return f"annotate(kind={task})"
    if task.endswith("_to_image") and task != "text_to_image":
        return f"control_generate(condition={task.removesuffix('_to_image')})"
    return task


@functools.lru_cache(maxsize=4096)
def _route_text(text: str) -> Route:
    return route(text)


def _route(clause: Clause) -> Route:
    """The router's reading of a clause (with its context, or settled by its words, when it is unsure)."""
    routed = _route_text(clause.text)
    if not routed.unsure:
        return routed
    kind = named_map(clause.text)
    if kind is not None:  # "split the scene into its regions": the words name a map
        return Route(kind, False, routed.candidates, {})
    if clause.context:
        with_context = _route_text(f"{clause.context}. {clause.text}")
        if not with_context.unsure:
            return with_context
    task = _settled(clause.text, routed)
    if task is None:
        return routed
    return Route(task, False, routed.candidates, extract_slots(task, clause.text))


def _settled(text: str, routed: Route) -> str | None:
    """A reading the router was unsure of that the clause's own words settle."""
    first = _first_word(text)
    if _is_restoration(first if first in TASKS else None):
        return first  # "dehaze this landscape shot": the verb is the task's name
    named = _named_kind(text)
    if named is not None and named in [c.task for c in routed.candidates]:
        return named  # "give me the lineart": edit or line art, and it names the map
    best = routed.candidates[0] if routed.candidates else None
    if best and len(text.split()) <= SHORT_CLAUSE_WORDS and best.confidence >= SHORT_CLAUSE_CONFIDENCE:
        return best.task  # "Derain", "super-resolve it": one task word and nothing else to go on
    return None


_ADDS_PROBLEM = re.compile(r"(?:blur|darken|dim)\b|(?:turn|convert|transform)\b.*\binto\b", re.I)


def _rule_routed(clause: Clause, st: _State) -> bool:
    """Map the router's task to a tool; ask when it is unsure."""
    text = clause.text
    routed = _route(clause)
    task = routed.task
    if _is_restoration(task) and _ADDS_PROBLEM.match(text):
        task = "edit"  # "blur the background", "turn day into night": restoration never adds or turns
    if task is None and st.clauses > 1 and not _starts_with_verb(text):
        return True  # "Two pictures here.": a remark the router cannot place, among real steps
    if task is None:
        if _first_word(text) in _EDIT_VERBS and not _is_vague(text):
            task = "edit"
        else:
            readings = list(dict.fromkeys(_reading(c.task) for c in routed.candidates))
            raise _ask(f'What should I do for "{text}"? ({routed.reason or "unclear"})', clause, readings)
    slots = routed.slots if task == routed.task else extract_slots(task, text)
    _task_step(task, slots, clause, st)
    return True


def _task_step(task: str, slots: dict[str, str], clause: Clause, st: _State) -> None:
    """Add the step(s) a router task becomes."""
    text = clause.text
    if _is_restoration(task):
        for image in _sources(text, st):
            st.add("restore", {"image": image or _need_image(st, clause), "problem": task})
    elif task.startswith("ground_"):
        phrase = _object_phrase(slots.get("referring", ""))
        for obj in _split_objects(phrase) or [""]:
            _ground(clause, st, obj, task.removeprefix("ground_"), _source(text, st))
    elif task in _MAP_TASKS:
        tool = task if task in ("depth", "segment") else "annotate"
        for image in _sources(text, st):
            args = {"image": image or _need_image(st, clause)}
            if tool == "annotate":
                args["kind"] = task
            st.add(tool, args, map_ref="$id.image", map_kind=task)
    elif TASKS[task].family is Family.CONTROL:
        caption = slots.get("caption") or _gen_caption(text)
        if not caption:
            raise _ask("What should the new image show?", clause, [_reading(task)])
        _control(clause, st, task.removesuffix("_to_image"), caption)
    else:
        _other_step(task, slots, clause, st)


def _other_step(task: str, slots: dict[str, str], clause: Clause, st: _State) -> None:
    if task == "text_to_image" and st.input_map and st.image == "$input" and slots.get("caption"):
        # "This is a depth map. Generate a forest from it.": the input is the condition.
        _control(clause, st, st.input_map, slots["caption"])
        return
    if task == "text_to_image":
        if not slots.get("caption"):
            raise _ask("What should I draw?", clause, ["text_to_image"])
        st.add("text_to_image", {"caption": slots["caption"]})
        return
    image = _source(clause.text, st) or _need_image(st, clause)
    if task == "edit":
        st.add("edit", {"image": image, "instruction": slots.get("edit") or clause.text})
    elif task == "inpaint":
        masks = st.masks() or (["$input.1"] if st.inputs >= 2 else [])  # two inputs: the second is the mask
        if not masks:
            raise _ask(
                "Which region should I fill? Name an object or make a mask first.", clause, ["inpaint"]
            )
        st.add("inpaint", {"image": image, "mask": masks[-1], **_only(slots, "caption")})
    elif task == "outpaint":
        if "direction" not in slots:  # "extend it upward"
            way = re.search(r"\b(up|down)(?:wards?)?\b", clause.text, re.I)
            if way:
                slots = {**slots, "direction": "top" if way.group(1).lower() == "up" else "bottom"}
        st.add("outpaint", {"image": image, **_only(slots, "direction", "caption")})


def _only(slots: dict[str, str], *names: str) -> dict[str, str]:
    return {name: slots[name] for name in names if slots.get(name)}


# ----------------------------------------------------------------------------------------------------
# The planner
# ----------------------------------------------------------------------------------------------------

_RULES = (
    _rule_tool_head,
    _rule_generate,
    _rule_text_first,
    _rule_auto_restore,
    _rule_restore_words,
    _rule_fix_described,
    _rule_inpaint,
    _rule_composite,
    _rule_mask_ops,
    _rule_compare,
    _rule_draw_boxes,
    _rule_crop,
    _rule_resize,
    _rule_pad,
    _rule_describe,
    _rule_ground,
    _rule_replace,
    _rule_add,
    _rule_remove,
    _rule_from_map,
    _rule_routed,
)
_VERB_PHRASE = re.compile(r"^(?:get\s+rid\s+of|take\s+out|clean\s+up|[a-z][a-z'-]*)", re.I)


def _with_ellipsis(clause: Clause, st: _State) -> Clause:
    """Lend a verbless clause the last verb ("extend it to the right, then also to the left")."""
    if not st.last_head or not re.match(
        r"(?:to|on|at|from|in|the|a|an|its|their|some|more)\b", clause.text, re.I
    ):
        return clause
    return Clause(f"{st.last_head} {clause.text}", clause.context)


def _input_map(clauses: list[Clause]) -> str | None:
    """The map kind the input is, when the request says so ("This is a sketch I drew.")."""
    context = clauses[0].context if clauses else ""
    if re.search(r"\b(?:is|was)\b", context, re.I):
        return _named_kind(context)
    return None


def _input_mask(request: str, inputs: int) -> str | None:
    """The second input, when the request says it is a mask ("a photo and a black-and-white mask I made")."""
    return "$input.1" if inputs >= 2 and INPUT_MASK.search(request) else None


def plan_offline(request: str, inputs: int = 1) -> Planned:
    """Plan a request without any model call beyond the router's sentence encoder.

    Args:
        request: What to do, in the user's words.
        inputs: How many input images come with it (``$input``, ``$input.1``, ...).

    Returns:
        A `Planned` with the plan, or with a question when a clause is ambiguous or lacks a value.
    """
    clauses = split_clauses(request)
    if not clauses:
        question = Question(question="What should I do with the image?", clause=request, candidates=["edit"])
        return Planned(question=question)
    st = _State(
        inputs=inputs,
        image="$input" if inputs else None,
        input_map=_input_map(clauses),
        input_mask=_input_mask(request, inputs),
        clauses=len(clauses),
    )
    pending: _Entry | None = None  # a restore_then(problems="auto") waiting for its analysis
    try:
        for clause in clauses:
            clause = _with_ellipsis(clause, st)
            next(rule for rule in _RULES if rule(clause, st))
            if pending is not None:
                if _complete_auto(clause, st, pending):
                    pending = None
            elif (
                st.last is not None
                and st.last.step.tool == "restore_then"
                and "then" not in st.last.step.args
            ):
                pending = st.last
            if _starts_with_verb(clause.text):
                st.last_head = _VERB_PHRASE.match(clause.text).group(0)
        if pending is not None:
            _complete_auto(Clause(request), st, pending)
        if len(st.entries) > MAX_STEPS:
            raise _ask(
                f"That is more than {MAX_STEPS} steps; could you split the request?", Clause(request), []
            )
    except _Ask as asked:
        return Planned(question=asked.question)
    return Planned(plan=Plan(steps=[e.step for e in st.entries], request=request))


__all__ = ["Clause", "Planned", "plan_offline", "split_clauses"]
