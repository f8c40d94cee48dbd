"""Images in and out of the tools: reading any reference safely, and the image store with lineage.

Inputs are references: a path, a ``file://`` URI (no host, or ``localhost``), a ``data:`` URI, the id of a
stored image (``img_…``, or its ``pixwizard://images/{id}`` URI), or an ``http(s)`` URL when enabled
(globally routable addresses only, see `pixwizard.tools.fetch`). Paths are confined to the allowed folders
by `pixwizard.tools.fsafe` (one descriptor, opened after a component-by-component walk); sizes are checked
from the file and the image header before any pixel is decoded, and only an explicit list of formats is
decoded.

Outputs go to the store: ``<root>/<id>.png`` plus ``<id>.json`` (size, mode, parents, provenance, the
PNG's size and sha256), written atomically under fresh ids inside the store's own directory descriptor, so
inputs are never overwritten. An outside input is only hashed when read; it is copied into the store when
it becomes the parent of a result. The store serves only regular files it wrote (no links). A cap on size
and age prunes the oldest images, never one that a running call has pinned. Nothing here imports torch.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as _dt
import hashlib
import io
import json
import os
import re
import secrets
import threading
import time
import urllib.parse
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from . import fsafe
from .fetch import fetch_public
from .spec import ToolError

URI_PREFIX = "pixwizard://images/"
_ID = re.compile(r"^img_[0-9a-f]{12}$")
RUN_ID = re.compile(r"^run_[0-9a-f]{16}$")
MAX_RUN_RECORD = 16 * 2**20
DEFAULT_MAX_BYTES = 50 * 2**20
DEFAULT_MAX_PIXELS = 40_000_000
# Decoded, not compressed: what Pillow is allowed to decode; ICO, ICNS, PSD, EPS and others are refused.
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
_ORIENTATION = 0x0112  # the EXIF tag
_EXTRA_SUFFIXES = ("depth.npy", "depth16.png", "normals.npy")


@dataclass
class Limits:
    """What the tools accept.

    Attributes:
        max_bytes: Bytes per input file or URL.
        max_pixels: Pixels per image (the only pixel limit: Pillow's own bomb check is raised to it).
        read_timeout_s: Seconds to read one local file.
        fetch_timeout_s: Seconds for one URL, redirects and body included.
        decode_budget_pixels: Pixels being decoded at once across threads (bounds concurrent memory).
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    read_timeout_s: float = 10.0
    fetch_timeout_s: float = 20.0
    decode_budget_pixels: int = 2 * DEFAULT_MAX_PIXELS


@dataclass
class Access:
    """Where the tools may read and write.

    Attributes:
        read_dirs: Folders inputs may come from (the store is always allowed).
        write_dirs: Folders outputs may be copied to (the store is always allowed).
        any_path: Read any local path (the CLI reads the files named on its command line).
        allow_network: Fetch ``http(s)`` URLs (globally routable addresses only).
    """

    read_dirs: list[Path] = field(default_factory=list)
    write_dirs: list[Path] = field(default_factory=list)
    any_path: bool = False
    allow_network: bool = False


@dataclass
class StoreCap:
    """How large and how old the store may grow before the oldest images are pruned (None: no cap)."""

    max_bytes: int | None = None
    max_age_s: float | None = None


def check_allowed_dir(path: str | Path, *, allow_broad: bool = False) -> Path:
    """Resolve a folder given with ``--allow-dir``; ``/`` and the home folder need ``allow_broad``."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_dir():
        raise ToolError(f"allowed folder {path} does not exist")
    broad = {Path("/").resolve(), Path.home().resolve()}
    if resolved in broad and not allow_broad:
        raise ToolError(f"allowing {path} would expose every file; pass --allow-broad-dir if you mean it")
    return resolved


@dataclass
class StoredImage:
    """An image in the store."""

    id: str
    path: Path
    width: int
    height: int
    mode: str
    parents: list[str]
    meta: dict

    @property
    def uri(self) -> str:
        """Its MCP resource URI."""
        return f"{URI_PREFIX}{self.id}"


@dataclass
class Loaded:
    """A decoded input: the image, its store id (None until an outside input is adopted) and its record."""

    image: Image.Image
    id: str | None
    source: str
    sha256: str
    size: int

    @property
    def content_id(self) -> str:
        """The id this input gets in the store: the same bytes always get the same id."""
        return self.id or f"img_{self.sha256[:12]}"


class _DecodeBudget:
    """Pixels being decoded at once: a large decode waits for others to finish (one alone always runs)."""

    def __init__(self, pixels: int):
        self.pixels, self.used = pixels, 0
        self._cond = threading.Condition()

    @contextmanager
    def reserve(self, pixels: int, timeout_s: float = 120.0) -> Iterator[None]:
        with self._cond:
            if not self._cond.wait_for(
                lambda: self.used == 0 or self.used + pixels <= self.pixels, timeout_s
            ):
                raise ToolError("the server is busy decoding other large images; try again")
            self.used += pixels
        try:
            yield
        finally:
            with self._cond:
                self.used -= pixels
                self._cond.notify_all()


class ImageStore:
    """A folder of images with ids, parent links and atomic writes.

    Args:
        root: The folder (created if missing).
        access: Read/write permissions for references outside the store.
        limits: Size limits for inputs.
        cap: Size/age cap applied after each stored result.
    """

    def __init__(
        self,
        root: str | Path,
        access: Access | None = None,
        limits: Limits | None = None,
        cap: StoreCap | None = None,
    ):
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.access = access or Access()
        self.limits = limits or Limits()
        self.cap = cap or StoreCap()
        self._pins: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._budget = _DecodeBudget(self.limits.decode_budget_pixels)
        if (Image.MAX_IMAGE_PIXELS or 0) < self.limits.max_pixels:
            Image.MAX_IMAGE_PIXELS = self.limits.max_pixels  # ours is the limit, never Pillow's lower one
        self.cleaned_tmp = fsafe.clean_stale_tmp(self._fd)

    def close(self) -> None:
        """Release the store's folder descriptor."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    @property
    def read_roots(self) -> list[tuple[str, ...]] | None:
        """The allowed input folders as walk roots (None: any path)."""
        if self.access.any_path:
            return None
        return [fsafe.root_parts(d) for d in [self.root, *self.access.read_dirs]]

    @property
    def write_roots(self) -> list[tuple[str, ...]] | None:
        """The allowed output folders as walk roots (None: any folder)."""
        if self.access.any_path:
            return None
        return [fsafe.root_parts(d) for d in [self.root, *self.access.write_dirs]]

    # -- writing --------------------------------------------------------------------------------------

    def put(
        self,
        image: Image.Image,
        *,
        parents: list[str] = (),
        meta: dict | None = None,
        image_id: str | None = None,
    ) -> StoredImage:
        """Store an image under a fresh id (PNG), with its parents and metadata, atomically."""
        image_id = image_id or f"img_{secrets.token_hex(6)}"
        image = normalise_mode(image)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = buffer.getvalue()
        record = {
            "id": image_id,
            "width": image.width,
            "height": image.height,
            "mode": image.mode,
            "parents": list(parents),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            **(meta or {}),
        }
        fsafe.publish_replace(self._fd, f"{image_id}.png", data)
        fsafe.publish_replace(self._fd, f"{image_id}.json", json.dumps(record, indent=2).encode())
        return self.get(image_id)

    def put_file(self, image_id: str, suffix: str, data: bytes) -> Path:
        """Store an extra file of an image (``<id>.<suffix>``, e.g. a depth ``.npy``), atomically."""
        self._check_id(image_id)
        if suffix not in _EXTRA_SUFFIXES:
            raise ValueError(f"unknown extra file kind {suffix!r}")
        fsafe.publish_replace(self._fd, f"{image_id}.{suffix}", data)
        return self.root / f"{image_id}.{suffix}"

    def adopt(self, loaded: Loaded) -> str:
        """The store id of an input, copying an outside one into the store (it is becoming a parent)."""
        if loaded.id is not None:
            return loaded.id
        image_id = loaded.content_id
        try:
            self.get(image_id)
        except ToolError:
            meta = {"source": loaded.source, "input": True, "source_sha256": loaded.sha256}
            self.put(loaded.image, meta=meta, image_id=image_id)
        return image_id

    def check_output_dir(self, folder: str | Path) -> None:
        """Refuse an output folder outside the allowed ones, before any work is done."""
        fsafe.check_dir(os.path.expanduser(str(folder)), self.write_roots, shown=str(folder))

    def export(self, stored: StoredImage, folder: str | Path) -> Path:
        """Copy a stored image into an allowed output folder (never over an existing file)."""
        data = self.read_bytes(stored)
        target = os.path.expanduser(str(folder))
        with fsafe.confined_dir(target, self.write_roots, shown=str(folder), create=True) as dir_fd:
            try:
                name = fsafe.publish_new(dir_fd, stored.path.name, data)
            except FileExistsError:
                raise ToolError(
                    f"{folder}/{stored.path.name} already exists; results never overwrite files"
                ) from None
            except OSError as exc:
                raise ToolError(
                    f"cannot write into {folder}: {exc.strerror} (was it removed meanwhile?)"
                ) from None
        return Path(os.path.abspath(target)) / name

    # -- reading the store ----------------------------------------------------------------------------

    def _check_id(self, image_id: str) -> None:
        if not _ID.match(image_id):
            raise ToolError(f"{image_id!r} is not an image id (img_ followed by 12 hex digits)")

    def get(self, image_id: str) -> StoredImage:
        """A stored image by id (or ``pixwizard://images/{id}``)."""
        image_id = image_id.removeprefix(URI_PREFIX)
        self._check_id(image_id)
        try:
            raw, _ = fsafe.read_own(self._fd, f"{image_id}.json", 1 << 20)
            meta = json.loads(raw)
        except (FileNotFoundError, ValueError):
            raise ToolError(
                f"no stored image {image_id}", suggestions=["use an id returned by an earlier call"]
            ) from None
        return StoredImage(
            image_id,
            self.root / f"{image_id}.png",
            meta["width"],
            meta["height"],
            meta["mode"],
            meta.get("parents", []),
            meta,
        )

    def read_bytes(self, stored: StoredImage | str, suffix: str = "png") -> bytes:
        """The bytes of a stored image (or one of its extra files): only a regular file the store wrote."""
        stored = self.get(stored) if isinstance(stored, str) else stored
        try:
            data, _ = fsafe.read_own(self._fd, f"{stored.id}.{suffix}")
        except FileNotFoundError:
            raise ToolError(
                f"the file of stored image {stored.id} is missing or not the store's own"
            ) from None
        if suffix == "png" and "bytes" in stored.meta and len(data) != stored.meta["bytes"]:
            raise ToolError(f"the file of stored image {stored.id} was changed outside the store; refused")
        return data

    def lineage(self, image_id: str, depth: int = 20) -> list[dict]:
        """The chain of ancestors (nearest first): id, task and instruction of each."""
        chain, queue, seen = [], list(self.get(image_id).parents), set()
        while queue and len(chain) < depth:
            parent = queue.pop(0)
            if parent in seen or not _ID.match(parent):
                continue
            seen.add(parent)
            try:
                stored = self.get(parent)
            except ToolError:
                chain.append({"id": parent, "missing": True})
                continue
            chain.append({"id": parent, "task": stored.meta.get("task"), "source": stored.meta.get("source")})
            queue.extend(stored.parents)
        return chain

    # -- plan run records ----------------------------------------------------------------------------

    def put_run(self, run_id: str, record: dict) -> None:
        """Write a plan's run record (``<run id>.run.json``) atomically, replacing the previous one."""
        self._check_run_id(run_id)
        fsafe.publish_replace(self._fd, f"{run_id}.run.json", json.dumps(record, indent=2).encode())

    def get_run(self, run_id: str) -> dict:
        """A plan's run record.

        Raises:
            ToolError: Unknown run id.
        """
        self._check_run_id(run_id)
        try:
            data, _ = fsafe.read_own(self._fd, f"{run_id}.run.json", MAX_RUN_RECORD)
        except FileNotFoundError:
            raise ToolError(f"no run {run_id} in the store {self.root}") from None
        return json.loads(data)

    @staticmethod
    def _check_run_id(run_id: str) -> None:
        if not RUN_ID.match(run_id):
            raise ToolError(f"invalid run id {run_id!r}: expected run_ and 16 hex digits")

    # -- size and age --------------------------------------------------------------------------------

    @contextmanager
    def pinned(self, ids) -> Iterator[None]:
        """Keep these images from being pruned while a call that needs them runs."""
        ids = [i for i in ids if i]
        with self._lock:
            self._pins.update(ids)
        try:
            yield
        finally:
            with self._lock:
                self._pins.subtract(ids)
                self._pins += Counter()  # drop zero counts

    def entries(self) -> list[dict]:
        """Every stored image: id, created (epoch seconds), bytes (all its files), task, input flag."""
        files: dict[str, list[os.stat_result]] = {}
        for name in os.listdir(self._fd):
            image_id = name.split(".", 1)[0]
            if not _ID.match(image_id):
                continue
            try:
                info = os.stat(name, dir_fd=self._fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            files.setdefault(image_id, []).append(info)
        rows = []
        for image_id, infos in files.items():
            try:
                meta = self.get(image_id).meta
            except ToolError:
                meta = {}
            rows.append(
                {
                    "id": image_id,
                    "created": min(i.st_mtime for i in infos),
                    "bytes": sum(i.st_size for i in infos),
                    "task": meta.get("task"),
                    "input": bool(meta.get("input")),
                }
            )
        return sorted(rows, key=lambda r: r["created"])

    def prune(
        self, *, older_than_s: float | None = None, max_bytes: int | None = None, dry_run: bool = False
    ) -> list[str]:
        """Remove the oldest images beyond an age or total size; pinned images are kept. Returns the ids."""
        rows, now = self.entries(), time.time()
        with self._lock:
            pinned = set(self._pins)
        total = sum(r["bytes"] for r in rows)
        removed = []
        for row in rows:  # oldest first
            too_old = older_than_s is not None and now - row["created"] > older_than_s
            too_big = max_bytes is not None and total > max_bytes
            if not (too_old or too_big) or row["id"] in pinned:
                continue
            if not dry_run:
                self._remove(row["id"])
            total -= row["bytes"]
            removed.append(row["id"])
        if older_than_s is not None:
            removed += self._prune_runs(now - older_than_s, dry_run)
        return removed

    def _prune_runs(self, before: float, dry_run: bool) -> list[str]:
        """Remove plan run records last written before ``before`` (epoch seconds). Returns their ids."""
        removed = []
        for name in os.listdir(self._fd):
            run_id = name.removesuffix(".run.json")
            if not (name.endswith(".run.json") and RUN_ID.match(run_id)):
                continue
            try:
                info = os.stat(name, dir_fd=self._fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if info.st_mtime < before:
                if not dry_run:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(name, dir_fd=self._fd)
                removed.append(run_id)
        return removed

    def apply_cap(self) -> list[str]:
        """Prune to the configured cap (nothing without one)."""
        if self.cap.max_bytes is None and self.cap.max_age_s is None:
            return []
        return self.prune(older_than_s=self.cap.max_age_s, max_bytes=self.cap.max_bytes)

    def _remove(self, image_id: str) -> None:
        for suffix in ("json", "png", *_EXTRA_SUFFIXES):  # the record first: a half-removed image is gone
            try:
                os.unlink(f"{image_id}.{suffix}", dir_fd=self._fd)
            except FileNotFoundError:
                pass

    # -- reading inputs -------------------------------------------------------------------------------

    def load(self, reference: str) -> Loaded:
        """Open an input reference and decode it (the store is not written).

        Raises:
            ToolError: With what to change, for any refused or unreadable input.
        """
        ref = reference.strip()
        if not ref:
            raise ToolError("the image reference is empty")
        if ref.startswith(URI_PREFIX) or _ID.match(ref):
            stored = self.get(ref)
            data = self.read_bytes(stored)
            return Loaded(
                self._decode(data, stored.id), stored.id, stored.id, stored.meta.get("sha256", ""), len(data)
            )
        if ref.startswith("data:"):
            data, source = _data_uri(ref, self.limits.max_bytes), "data URI"
        elif ref.startswith(("http://", "https://")):
            if not self.access.allow_network:
                raise ToolError(
                    "network URLs are disabled on this server; pass a path, a data: URI or an image id",
                    suggestions=["start the server with --allow-network to fetch public URLs"],
                )
            data = fetch_public(ref, max_bytes=self.limits.max_bytes, timeout_s=self.limits.fetch_timeout_s)
            source = ref
        elif re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", ref) and not ref.lower().startswith("file://"):
            scheme = ref.split(":", 1)[0]
            raise ToolError(
                f"{scheme}:// URLs are not supported; pass a path, a data: URI, an image id or http(s)"
            )
        else:
            path = _file_uri_path(ref) if ref.lower().startswith("file:") else ref
            data, source = self._read_path(path), path
        image = self._decode(data, source)
        return Loaded(image, None, source, hashlib.sha256(data).hexdigest(), len(data))

    def _read_path(self, path: str) -> bytes:
        allowed = (
            ", ".join(str(p) for p in self.access.read_dirs) or "none (start the server with --allow-dir)"
        )
        return fsafe.read_confined(
            os.path.expanduser(path),
            self.read_roots,
            shown=path,
            max_bytes=self.limits.max_bytes,
            timeout_s=self.limits.read_timeout_s,
            outside_message=(
                f"{path} is outside the allowed folders (allowed: {allowed}); copy the file into an allowed "
                "folder or pass a data: URI"
            ),
        )

    def _decode(self, data: bytes, name: str) -> Image.Image:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                image = Image.open(io.BytesIO(data), formats=FORMATS)
            except Image.DecompressionBombError as exc:  # only above our own limit (see __init__)
                declared = re.search(r"\((\d+) pixels\)", str(exc))
                size = f"{int(declared.group(1)) / 1e6:.0f} MP" if declared else "more pixels"
                raise ToolError(
                    f"{name} declares {size}, above the {self.limits.max_pixels / 1e6:.0f} MP limit; "
                    "downscale it first"
                ) from None
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
                raise ToolError(
                    f"{name} is not an image in a supported format ({', '.join(FORMATS)})"
                ) from None
            width, height = image.size
            if width * height > self.limits.max_pixels:
                raise ToolError(
                    f"{name} is {width}x{height} ({width * height / 1e6:.0f} MP), above the "
                    f"{self.limits.max_pixels / 1e6:.0f} MP limit; downscale it first"
                )
            with self._budget.reserve(width * height):
                try:
                    image.load()
                    if image.getexif().get(_ORIENTATION, 1) != 1:  # exif_transpose copies even when upright
                        image = ImageOps.exif_transpose(image)
                    return normalise_mode(image)
                except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
                    raise ToolError(
                        f"{name} could not be decoded ({exc}); the file is probably truncated or corrupt"
                    ) from None


def normalise_mode(image: Image.Image) -> Image.Image:
    """An image in a mode PNG stores and the pipeline reads: L, LA, RGB or RGBA (8 bits per channel).

    CMYK, YCbCr and HSV become RGB; LAB goes through an sRGB colour transform; palette images keep their
    transparency as RGBA; 16-bit, 32-bit integer and float images are scaled to 8 bits by their range
    (``[0, 1]`` floats and ``[0, 65535]`` integers as such, anything else by its own minimum and maximum).
    """
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return image
    if mode in ("1",):
        return image.convert("L")
    if mode in ("P", "PA"):
        return image.convert("RGBA" if "transparency" in image.info or mode == "PA" else "RGB")
    if mode == "LAB":
        transform = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        return ImageCms.applyTransform(image, transform)
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        finite = values[np.isfinite(values)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if mode == "F" and lo >= 0 and hi <= 1:
            lo, hi = 0.0, 1.0
        elif lo >= 0 and hi <= 255:
            lo, hi = 0.0, 255.0
        elif lo >= 0 and hi <= 65535:
            lo, hi = 0.0, 65535.0
        scaled = (np.nan_to_num(values, nan=lo) - lo) / max(hi - lo, 1e-12) * 255
        return Image.fromarray(np.clip(np.round(scaled), 0, 255).astype(np.uint8), mode="L")
    return image.convert("RGBA" if "A" in mode else "RGB")


def _file_uri_path(uri: str) -> str:
    parsed = urllib.parse.urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        raise ToolError(
            f"file:// URIs must name a local file (no host, or localhost); got host {parsed.netloc!r}"
        )
    return urllib.parse.unquote(parsed.path)


def _data_uri(uri: str, max_bytes: int) -> bytes:
    header, _, payload = uri.partition(",")
    if ";base64" not in header:
        raise ToolError("data: URIs must be base64-encoded (data:image/png;base64,...)")
    if len(payload) * 3 // 4 > max_bytes:
        raise ToolError(f"the data: URI is larger than the {max_bytes / 2**20:.0f} MiB limit")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ToolError("the data: URI is not valid base64") from None


_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20}
_SIZE_UNITS |= {"g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12, "tib": 2**40}
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_size(text: str) -> int:
    """Bytes from ``500MB``, ``2GiB``, ``1.5G`` or a plain number.

    Raises:
        ValueError: An unreadable size.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _SIZE_UNITS:
        raise ValueError(f"cannot read the size {text!r}; write e.g. 500MB, 2GB or 1GiB")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def parse_age(text: str) -> float:
    """Seconds from ``30d``, ``12h``, ``90m``, ``2w`` or ``45s``.

    Raises:
        ValueError: An unreadable age.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if match is None:
        raise ValueError(f"cannot read the age {text!r}; write e.g. 30d, 12h, 90m or 2w")
    return float(match.group(1)) * _AGE_UNITS[match.group(2)]
