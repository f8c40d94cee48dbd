"""Word tables of the offline planner: how people name actions, problems, maps and tools.

Kept apart from `planner` so that the rules read top-down there and the vocabularies can grow here. Every
table is data (patterns, words); the logic that uses them lives in `planner`.
"""

from __future__ import annotations

import re

# Words that start an action ("remove the car", "denoise", "upscale it"); gerunds count too ("denoising").
VERBS = frozenset(
    """remove removed erase erased delete get got take replace swap switch substitute add put insert place
    crop resize rescale scale shrink pad compare draw mask invert grow dilate erode feather soften merge
    combine intersect keep turn make extend expand outpaint inpaint fill find locate detect highlight select
    segment estimate compute calculate predict run extract generate create build use restore fix clean
    clear denoise deblur derain dehaze desnow deshadow demoire unblur brighten enhance upscale super-resolve
    sharpen show give check composite paste apply darken lighten convert change reduce tell box outline
    render paint produce identify label describe do uncrop recolor recolour colorize colourize defog
    de-noise de-blur de-rain de-haze de-fog de-snow de-shadow de-moire downscale downsize upsample enlarge
    strip lose kill eliminate repair correct flip reverse ground annotate regenerate control-generate
    work figure split separate diff measure zoom lighten widen grab pull cut undo boost increase lift
    sort handle deal tidy touch polish ditch
    t2i edit restore_then describe_image box_to_mask draw_boxes control_generate text_to_image mask_union
    mask_intersect mask_invert mask_dilate mask_erode mask_feather""".split()
)

# Restoration problems by the ways people name or describe them. Order matters only for overlaps: the
# longest match at a position wins ("bigger and sharper" is an upscale, not a deblur).
PROBLEM_WORDS: dict[str, str] = {
    "super_resolution": (
        r"super[\s_-]?res\w*|\bsr\b|upscal\w*|up-?scal\w*|upsampl\w*|up-?res\w*|"
        r"(?:higher|high|better|more|increase\w*\s+(?:the\s+)?)\s*res(?:olution)?\b|\blow[\s-]?res\w*|"
        r"pixel+ated|pixely|thumbnail|\btiny\b|\bbigger\s+and\s+(?:sharper|clearer|crisper)\b|"
        r"\b(?:bigger|larger)\s+(?:without|but)\b|\benlarge\w*|\b[248]x\s+(?:upscale|bigger|larger)"
    ),
    "face_restoration": (
        r"\bfaces?\s+restor\w*|\brestor\w*\s+(?:\w+\s+){0,2}faces?\b|\b(?:fix|repair|enhance|clean|sharpen)"
        r"\w*\s+(?:up\s+)?(?:\w+\s+){0,2}faces?\b|\bfaces?\b(?:\s+\w+){0,4}\s+(?:blurry|blurred|smudged|"
        r"mushy|mushed|smeared|distorted|messed|garbled|damaged|soft|unclear|fuzzy)|\bfacial\b"
    ),
    "watermark_removal": (
        r"watermark\w*|\blogos?\b(?!-)|\bstamp(?:ed|s)?\b|time-?stamp\w*|date\s+stamp\w*|copyright\w*|"
        r"\btext\s+overlay|\boverlay(?:ed)?\s+text|\bcaption\s+text|\bsite'?s\s+(?:name|mark|logo)|"
        r"\bshutterstock|\bgetty"
    ),
    "demoire": (
        r"de-?moir\w*|moir[eé]\w*|\binterference\b|\bripples?\b|\brippl\w+|\bwavy\b|"
        r"\brainbow\s+(?:lines|stripes|bands|patterns?|ripples?)|\bscreen[\s-]+(?:pattern|door|lines)|"
        r"\bscan\s?lines\b|\bchecker\w*"
    ),
    "derain": (
        r"de-?rain\w*|\brain(?:y|fall|drops?|streaks?|ing|water)?\b|\bdrizzl\w*|\bwater\s?drops?\b|"
        r"\bdroplets?\b|\bstreaky\b|\bwet\s+(?:lens|window|glass)"
    ),
    "desnow": r"de-?snow\w*|\bsnow(?:y|fall|flakes?|ing|storm)?\b|\bflakes\b|\bblizzard\w*",
    "dehaze": (
        r"de-?haz\w*|de-?fog\w*|\bhaz[ey]\w*|\bfog\w*|\bmist\w*|\bsmog\w*|\bwashed[\s-]out|\bmilky\b|"
        r"\bmurky\b"
    ),
    "deshadow": r"de-?shadow\w*|\bshadow\w*|\bshade\s+(?:cast|from|of)",
    "lowlight": (
        r"\blow[\s-]?light\b|\blowlight\b|\bdark(?:er|ness)?\b|\bdim(?:ly|mer)?\b|\bunder-?expos\w*|"
        r"\btoo\s+black\b|\bpitch\s+(?:black|dark)|\bbrighten\w*|\bbrighter\b|\blighten\s+(?:it|this|up)|"
        r"\bbarely\s+see|\bnight\s+(?:shot|photo|pic)\b"
    ),
    "flash_reflection_removal": (
        r"\bglare\w*|\breflect\w*|\bflash\w*|\bspecular\w*|\bglint\w*|\bhot\s?spots?\b"
    ),
    "deblur": (
        r"de-?blur\w*|\bunblur\w*|\bblur\w*|\bout[\s-]of[\s-]focus|\bnot\s+in\s+focus|\bmis-?focus\w*|"
        r"\bsharpen\w*|\bsharper\b|\bcrisp\w*|\bshak(?:y|e|en)\b|\bshook\b|\bmotion\s+smear\w*|\bsmear\w*|"
        r"\bsmudg\w*|\bsoft\s+focus|\bfuzzy\s+(?:photo|image|picture|shot)"
    ),
    "denoise": (
        r"de-?nois\w*|\bnois[ey]\w*|\bgrain\w*|\bspeckl\w*|\bspecks?\b|\bsand\s+sprinkled|\bstatic\b|"
        r"\bhigh\s+iso\b|\biso\s+noise|\bsnowy\s+dots|\bcolou?red\s+dots"
    ),
}

# Analyses and maps named as a step ("depth map", "semantic map", "canny", "normals", "keypoints").
MAP_WORDS: dict[str, str] = {
    "depth": r"\bdepth\b|\bhow\s+far\b|\bdistance\s+map\b|\bz-?buffer\b",
    "segment": (
        r"\bsegment\w*|\bsemantic\b|\bseg\s+map\b|\blabel\s+map\b|\bclass\s+map\b|\bparse\s+the\s+scene|"
        r"\b(?:split|divide|break|separate|carve)\w*\s+(?:up\s+)?(?:\w+\s+){0,6}(?:regions|parts|areas|sections|classes|segments)\b|"
        r"\bcolou?r[\s-]cod\w*"
    ),
    "normal": r"\bnormals?\b|\bsurface\s+orientation",
    "canny": r"\bcanny\b|\bedge\s+(?:map|detection|detect\w*)|\bhard\s+edges",
    "hed": r"\bhed\b|\bsoft\s*,?\s*(?:fuzzy\s+)?edges?\b|\bfuzzy\s+edges?\b|\bholistic",
    "sketch": r"\bsketch\w*|\bpencil\s+drawing",
    "lineart": r"\bline[\s_-]?art\b|\bline\s+drawing\b|\bink\s+lines\b|\bclean\s+lines\b",
    "pose": r"\bpose\w*|\bskeleton\w*|\bkeypoints?\b|\bjoints\b|\bstick\s+figures?\b|\bopenpose\b",
}

# Tool names and shorthands written as a step's head ("describe_image", "t2i 'a fox'", "super-res").
TOOL_HEADS: dict[str, str] = {
    "describe_image": r"describe[_\s]image|describe|image\s+info|info|metadata",
    "text_to_image": r"t2i|text[\s_-]to[\s_-]image|txt2img",
    "edit": r"edit",
    "box_to_mask": r"box[\s_-]to[\s_-]mask",
    "draw_boxes": r"draw[\s_-]boxes",
    "restore_then": r"restore[\s_-]then",
    "control_generate": r"control[\s_-]?generat\w*|controlnet",
}

# A pronoun standing for an object or a mask ("it", "her", "them").
PRONOUN = r"(?:it|them|that|this|those|these|its|their|they|one|her|him|he|she|his)"

PROBLEM_RE = {problem: re.compile(pattern, re.I) for problem, pattern in PROBLEM_WORDS.items()}
MAP_RE = {kind: re.compile(pattern, re.I) for kind, pattern in MAP_WORDS.items()}
TOOL_HEAD_RE = {tool: re.compile(rf"^(?:{pattern})\b\s*:?\s*", re.I) for tool, pattern in TOOL_HEADS.items()}


# Clause splitting, statements, heads and step patterns (used by `planner`).
# Markers that always end a step: newlines, bullets, numbering ("1) ", "(2) ", "Step 3:"), arrows, "+".
STEP_MARKS = re.compile(
    r"\s*(?:\n\s*(?:[-*\u2022]\s+|\d{1,2}[.)]\s+)?|(?:^|(?<=\s))\(?\d{1,2}\)\s+|^\s*(?:\d{1,2}[.)]|[-*\u2022])\s+|"
    r"(?:^|(?<=\s))step\s+\d{1,2}\s*[:.)-]\s*|\s*(?:-+>|=+>|\u2192|\u21d2|\u27f6|>>)\s*|\s+\+\s+|"
    r"\s+(?:\u2014|\u2013|--)\s+|\s*\u2014\s*)",
    re.I,
)

SENTENCES = re.compile(r"(?<=[.!?])\s+|\s*;\s*|\s+-\s+")

CONNECTORS = re.compile(
    r"\s*,?\s*\b(?:and\s+then|and\s+after\s+that|after\s+that|afterwards?|and\s+finally|finally|and\s+next|"
    r"next(?!\s+to\b)|then|and\s+also|also|and\s+lastly|lastly|plus|followed\s+by|"
    r"(?:once|when)\s+(?:that(?:'s|\s+is)|it(?:'s|\s+is)|you(?:'re|\s+are))\s+(?:done|finished)|"
    r"(?:once|when)\s+(?:that's|that\s+is|it's|it\s+is)\s+(?:done|finished))\b"
    r"\s*,?\s*",
    re.I,
)

JOINS = re.compile(r"(,\s*(?:and\s+)?|\s+and\s+|:\s+)", re.I)

HEAD = re.compile(
    r"^(?:and|also|then|first(?:ly)?|now|so|yo|hey|hi|ok|okay|please|pls|kindly|just|lastly|finally|maybe|"
    r"(?:could|can|would|will)\s+(?:you|u)(?:\s+(?:please|maybe|also|just|then))?|"
    r"i(?:'d| would)\s+like\s+you\s+to|"
    r"i\s+(?:want|need)\s+you\s+to|once\s+(?:you've|you\s+have|you)|after|(?:start|begin)\s+by|"
    r"i(?:'d| would)\s+(?:like|love)(?=\s+(?:an?|the|some)\b)|i\s+(?:want|need)(?=\s+(?:an?|the|some)\b)|"
    r"(?:is\s+it\s+possible|would\s+it\s+be\s+possible)\s+to|do\s+you\s+think\s+you\s+(?:could|can))\b[\s,]*",
    re.I,
)

DECLARATIVE = re.compile(
    r"^(?:this|that|it|these|those|my|the|here|i|i'm|we|input|image\s+\d)\b(?:\s+[\w']+){0,6}?\s+"
    r"(?:is|was|are|were|has|have|had|looks?|seems?|want|wanted|need|got|took|drew|shot)\b",
    re.I,
)

# A statement about the image or the user, not an action ("It's way too dark", "There's a dog in it",
# "A parked van is spoiling my view", "I'd love to see how far back the hills go").
SUBJECT = re.compile(
    r"^(?:there|it|it's|its|this|that|these|those|here|here's|i|i'm|i've|i'd|we|we're|my|our|his|her|"
    r"their|the|a|an|some|one|two|both|ugh|sadly|unfortunately|honestly|basically|not\s+sure|no\s+idea|"
    r"attached|before|took|shot|snapped|input|image\s+\d|photo|pic|picture|old)\b",
    re.I,
)

FINITE = re.compile(
    r"(?:\w'(?:s|re|m|ve|d)\b)|\b(?:is|are|was|were|am|has|have|had|looks?|looked|seems?|seemed|got|gets|"
    r"came|comes|made|makes|took|shot|snapped|bought|exported|photographed|drew|did|love|want|wanted|need|"
    r"needed|think|guess|know|attached|sent|spoil\w*|cover\w*|ruin\w*|cut|went|tried|can't|cannot|"
    r"don't|doesn't)\b",
    re.I,
)

# Words that add nothing to the step before them ("... and show me", "let me see").
FILLER = re.compile(
    r"^(?:(?:show|tell|give)\s+(?:me|us)(?:\s+(?:it|that|the\s+result))?|let\s+me\s+(?:see|know)|thanks?(?:\s+you)?|"
    r"if\s+(?:you\s+)?(?:can|possible)|cheers)$",
    re.I,
)

# A phrase saying how the next action should go ("keeping the same pose as the dancer, generate a clown").
ADJUNCT = re.compile(
    r"^(?:using|keeping|with|based\s+on|following|matching|preserving)\b(?!.*\b(?:then)\b)", re.I
)

# "..., could you sort that out": a request starts here even when its verb is not one we list.
POLITE_ASK = re.compile(r"(?:could|can|would|will)\s+(?:you|u)\b|please\b", re.I)

RESTORE_HEAD = re.compile(
    r"^(?:de-?(?:nois|blur|rain|haz|fog|snow|shadow|moir)\w*|unblur\w*|super[\s_-]?res\w*|upscal\w*|"
    r"upsampl\w*|up-?res\w*|sharpen\w*|brighten\w*|enlarge\w*|low[\s-]?light|"
    r"(?:make|get)\s+(?:it|this|that|them|the\s+\w+)\s+(?:look\s+)?(?:a\s+(?:bit|lot|little)\s+)?"
    r"(?:bigger|sharper|brighter|clearer|crisper|less\s+\w+|higher[\s-]res\w*)|"
    r"(?:[\w-]+\s+){1,2}(?:removal|restoration|reduction|enhance(?:ment)?|correction|fix)$)",
    re.I,
)

# What a restoration verb may work on besides the problem itself ("sharpen the photo", "upscale it").
IMAGE_OBJECT = re.compile(
    r"^(?:(?:it|this|that|them|everything|the\s+whole\s+thing|(?:the|this|that|my)\s+(?:[\w-]+\s+){0,2}?"
    r"(?:image|photo|picture|pic|shot|scan|result|output|crop|one|scene|frame))\b|up\b|$)",
    re.I,
)

FIX_REFERRED = re.compile(
    r"^(?:fix|repair|restore|correct|clean|clear|sort|deal\s+with|handle|take\s+care\s+of|get\s+rid\s+of|"
    r"remove|improve)\w*(?:\s+(?:up|out))?\s+(?:both|all|each|those|these|that|this|it|them|everything|"
    r"the\s+(?:problems?|issues?))\b(?:\s+(?:of\s+)?(?:those|these|them|the)?\s*(?:problems?|issues?|things?))?"
    r"(?:\s+(?:up|out|for\s+me|please))*$",
    re.I,
)

GROUND_HEAD = re.compile(
    r"^(?:(?:find|locate|detect|select|spot|identify|outline|mask|highlight|box|point\s+out|cut\s+out|"
    r"ground|segment\s+out|isolate|pick\s+out)\b"
    r"(?:\s+me\b)?"
    r"|(?:(?:show|give|get|make|draw|put|place|add|create|produce|generate)(?:\s+me)?\s+)?"
    r"(?:(?:an?|the|its|their|another|one)\s+)?"
    r"(?:tight\s+|rough\s+|binary\s+|separate\s+)?(?:bounding\s+)?"
    r"(?:masks?|box(?:es)?|bbox(?:es)?|outlines?|cutouts?|highlights?)\b(?:\s+(?:of|for|around|on|over)\b)?"
    r"|show\s+me\s+where|where\s+is)\s*",
    re.I,
)

MASK_OPS = (
    (
        "mask_invert",
        r"\binver(?:t|ted|se|ting)\b|\b(?:flip|revers|negat)\w*|\beverything\s+(?:except|but|other\s+than)\b",
    ),
    ("mask_dilate", r"\b(?:dilat|grow|expand|enlarg|thicken)\w*|\bmasks?\b.*\b(?:bigger|larger|wider)\b"),
    ("mask_erode", r"\b(?:erod|shrink|contract)\w*|\bmasks?\b.*\b(?:smaller|tighter|thinner)\b"),
    (
        "mask_feather",
        r"\b(?:feather|soften)\w*|\b(?:smooth|blur)\w*(?=.*\bmasks?\b)|\bmasks?\b.*\b(?:smooth|blur)",
    ),
    ("mask_union", r"\b(?:union|merg\w*|combin\w*|join)\b"),
    ("mask_intersect", r"\b(?:intersect\w*|overlap\w*|in\s+common)"),
    (
        "box_to_mask",
        r"\bbox\b.*\b(?:into|to|as)\s+an?\s+mask\b|"
        r"^(?:convert|turn|make|change)\w*\s+(?:it|that|this|them)\s+(?:in)?to\s+(?:an?\s+)?mask\b",
    ),
)

REMOVE = re.compile(
    r"^(?:remov|eras|delet|eliminat)\w*\s+(.+)$|^(?:get|got)\s+rid\s+of\s+(.+)$|"
    r"^(?:take|took)\s+(?:out|away)\s+(.+)$|^(?:take|took)\s+(.+?)\s+(?:out|away|off)\b.*$|"
    r"^(?:clear|clean(?:ed)?(?:\s+up)?|wipe(?:\s+out)?)\s+(.+)$",
    re.I,
)

# Words for the shape of a degradation, not an object: "the rain streaks" is rain, "the moire pattern" moire.
SHAPES = frozenset(
    "streaks pattern patterns ripples drops droplets artifacts artefacts spots marks effect lines stripes "
    "bands".split()
)

TRAILING = frozenset("first too also again now please as well instead completely entirely".split())

INPUT_MASK = re.compile(
    r"\b(?:(?:image|input|picture|photo)\s*#?\s*(?:2|two)|(?:the\s+)?(?:second|other)\s+(?:image|one|input|picture))"
    r"\s+is\s+(?:a|the|my|its)\s+(?:[\w-]+\s+){0,3}mask\b|"
    r"\band\s+(?:a|the|my)\s+(?:[\w-]+\s+){0,3}mask\b(?!\s+of\b)|\bmask\s+(?:is\s+)?attached|"
    r"\battached\s+(?:a|the|my)\s+(?:[\w-]+\s+){0,3}mask\b",
    re.I,
)

EMBEDDED_MASK = re.compile(
    r"\b(?:masks?|union|intersection|overlap)\s+(?:of|for|around|between)\s+(.+)$", re.I
)

GENERATION = re.compile(
    r"\b(?:generat\w*|regenerat\w*|render\w*|synthesi[sz]\w*|control[\s_-]?generat\w*|"
    r"conditioned|t2i|draw|paint|create|make)\b",
    re.I,
)


def named_problems(text: str) -> list[str]:
    """The restoration problems a text names or describes, in the order it mentions them (no repeats)."""
    hits = sorted(
        (m.start(), -(m.end() - m.start()), m.end(), problem)
        for problem, pattern in PROBLEM_RE.items()
        for m in pattern.finditer(text)
    )
    found: list[str] = []
    end = -1
    for start, _, stop, problem in hits:
        if start < end:
            continue  # inside a longer match ("bigger and sharper")
        end = stop
        if problem not in found:
            found.append(problem)
    return found


def named_map(text: str) -> str | None:
    """The first map kind a text names ("a semantic map" → segment), or None."""
    hits = [(m.start(), kind) for kind, pattern in MAP_RE.items() for m in [pattern.search(text)] if m]
    return min(hits)[1] if hits else None


__all__ = ["MAP_WORDS", "PROBLEM_WORDS", "PRONOUN", "TOOL_HEADS", "VERBS", "named_map", "named_problems"]
