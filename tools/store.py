"""Images in and out of the tools: reading any reference safely, and the image store with lineage.

Inputs are references: a path, a ``file://`` URI, a ``data:`` URI, the id of a stored image (``img_…``, or
its ``pixwizard://images/{id}`` URI), or an ``http(s)`` URL when enabled (never loopback or private
addresses). Paths are confined to allowed folders after resolving symlinks and ``..``; sizes are checked
from the file and the image header before any pixel is decoded.

Outputs go to the store: ``<root>/<id>.png`` plus ``<id>.json`` (size, mode, parents, provenance), written
atomically under fresh ids, so inputs are never overwritten. Nothing here imports torch.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import io
import ipaddress
import json
import re
import secrets
import socket
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from pixwizard.tasks.results import atomic_write_bytes

from .spec import ToolError

URI_PREFIX = "pixwizard://images/"
_ID = re.compile(r"^img_[0-9a-f]{12}$")
DEFAULT_MAX_BYTES = 50 * 2**20
DEFAULT_MAX_PIXELS = 40_000_000


@dataclass
class Limits:
    """What the tools accept: bytes per input file and pixels per image."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass
class Access:
    """Where the tools may read and write.

    Attributes:
        read_dirs: Folders inputs may come from (the store is always allowed).
        write_dirs: Folders outputs may be copied to (the store is always allowed).
        any_path: Read any local path (the CLI reads the files named on its command line).
        allow_network: Fetch ``http(s)`` URLs (public addresses only).
    """

    read_dirs: list[Path] = field(default_factory=list)
    write_dirs: list[Path] = field(default_factory=list)
    any_path: bool = False
    allow_network: bool = False


def check_allowed_dir(path: str | Path, *, allow_broad: bool = False) -> Path:
    """Resolve a folder given with ``--allow-dir``; ``/`` and the home folder need ``allow_broad``."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_dir():
        raise ToolError(f"allowed folder {resolved} does not exist")
    broad = {Path("/").resolve(), Path.home().resolve()}
    if resolved in broad and not allow_broad:
        raise ToolError(f"allowing {resolved} would expose every file; pass --allow-broad-dir if you mean it")
    return resolved


def _inside(path: Path, folders: list[Path]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


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


class ImageStore:
    """A folder of images with ids, parent links and atomic writes.

    Args:
        root: The folder (created if missing).
        access: Read/write permissions for references outside the store.
        limits: Size limits for inputs.
    """

    def __init__(self, root: str | Path, access: Access | None = None, limits: Limits | None = None):
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.access = access or Access()
        self.limits = limits or Limits()

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
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        path = self.root / f"{image_id}.png"
        record = {
            "id": image_id,
            "width": image.width,
            "height": image.height,
            "mode": image.mode,
            "parents": list(parents),
            "created": _dt.datetime.now(_dt.UTC).isoformat(),
            **(meta or {}),
        }
        atomic_write_bytes(path, buffer.getvalue())
        atomic_write_bytes(self.root / f"{image_id}.json", json.dumps(record, indent=2).encode())
        return self.get(image_id)

    def put_file(self, image_id: str, suffix: str, data: bytes) -> Path:
        """Store an extra file of an image (``<id>.<suffix>``, e.g. a depth ``.npy``), atomically."""
        self._check_id(image_id)
        return atomic_write_bytes(self.root / f"{image_id}.{suffix}", data)

    def export(self, stored: StoredImage, folder: str | Path) -> Path:
        """Copy a stored image into an allowed output folder (never over an existing file)."""
        target_dir = Path(folder).expanduser().resolve()
        if not (self.access.any_path or _inside(target_dir, [self.root, *self.access.write_dirs])):
            raise ToolError(
                f"cannot write to {target_dir}: it is outside the allowed output folders",
                suggestions=["omit output_dir: results are in the image store"],
            )
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / stored.path.name
        if target.exists():
            raise ToolError(f"{target} already exists; results never overwrite files")
        return atomic_write_bytes(target, stored.path.read_bytes())

    # -- reading --------------------------------------------------------------------------------------

    def _check_id(self, image_id: str) -> None:
        if not _ID.match(image_id):
            raise ToolError(f"{image_id!r} is not an image id (img_ followed by 12 hex digits)")

    def get(self, image_id: str) -> StoredImage:
        """A stored image by id (or ``pixwizard://images/{id}``)."""
        image_id = image_id.removeprefix(URI_PREFIX)
        self._check_id(image_id)
        meta_path = self.root / f"{image_id}.json"
        if not meta_path.is_file():
            raise ToolError(
                f"no stored image {image_id}", suggestions=["use an id returned by an earlier call"]
            )
        meta = json.loads(meta_path.read_text())
        return StoredImage(
            image_id,
            self.root / f"{image_id}.png",
            meta["width"],
            meta["height"],
            meta["mode"],
            meta.get("parents", []),
            meta,
        )

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

    def load(self, reference: str) -> tuple[Image.Image, list[str], str]:
        """Open an input reference; returns the image, its store ids (parents) and a description.

        Raises:
            ToolError: With what to change, for any refused or unreadable input.
        """
        ref = reference.strip()
        if not ref:
            raise ToolError("the image reference is empty")
        if ref.startswith(URI_PREFIX) or _ID.match(ref):
            stored = self.get(ref)
            return self._decode(stored.path.read_bytes(), stored.id), [stored.id], stored.id
        if ref.startswith("data:"):
            data, source = _data_uri(ref, self.limits.max_bytes), "data URI"
        elif ref.startswith(("http://", "https://")):
            data, source = self._fetch(ref), ref
        else:
            parsed = (
                Path(urllib.parse.unquote(urllib.parse.urlparse(ref).path))
                if ref.startswith("file://")
                else Path(ref)
            )
            data, source = self._read_path(parsed.expanduser()), str(parsed)
        image = self._decode(data, source)
        return image, [self._ingest(data, image, source).id], source

    def _ingest(self, data: bytes, image: Image.Image, source: str) -> StoredImage:
        """Keep a copy of an outside input so results can name it as their parent (same bytes, same id)."""
        image_id = f"img_{hashlib.sha256(data).hexdigest()[:12]}"
        if (self.root / f"{image_id}.json").is_file():
            return self.get(image_id)
        return self.put(image, meta={"source": source, "input": True}, image_id=image_id)

    def _read_path(self, path: Path) -> bytes:
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise ToolError(f"{path} does not exist or cannot be resolved") from None
        allowed = [self.root, *self.access.read_dirs]
        if not (self.access.any_path or _inside(resolved, allowed)):
            names = (
                ", ".join(str(p) for p in self.access.read_dirs) or "none (start the server with --allow-dir)"
            )
            raise ToolError(
                f"{path} is outside the allowed folders (allowed: {names}; links are followed)",
                suggestions=["copy the file into an allowed folder", "pass a data: URI"],
            )
        if not resolved.is_file():
            raise ToolError(f"{path} is not a file")
        size = resolved.stat().st_size
        if size > self.limits.max_bytes:
            raise ToolError(
                f"{path} is {size / 2**20:.1f} MiB, above the {self.limits.max_bytes / 2**20:.0f} MiB "
                "limit; compress or downscale it"
            )
        return resolved.read_bytes()

    def _fetch(self, url: str) -> bytes:
        if not self.access.allow_network:
            raise ToolError(
                "network URLs are disabled on this server; pass a path, a data: URI or an image id",
                suggestions=["start the server with --allow-network to fetch public URLs"],
            )
        host = urllib.parse.urlparse(url).hostname or ""
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
        except OSError as exc:
            raise ToolError(f"cannot resolve {host}: {exc}") from None
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
                raise ToolError(f"{host} resolves to a non-public address ({ip}); refused")
        request = urllib.request.Request(url, headers={"User-Agent": "pixwizard"})
        with urllib.request.urlopen(request, timeout=20) as response:
            data = response.read(self.limits.max_bytes + 1)
        if len(data) > self.limits.max_bytes:
            raise ToolError(f"{url} is larger than the {self.limits.max_bytes / 2**20:.0f} MiB limit")
        return data

    def _decode(self, data: bytes, name: str) -> Image.Image:
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise ToolError(f"{name} declares too many pixels ({exc}); downscale it first") from None
        except (UnidentifiedImageError, OSError):
            raise ToolError(f"{name} is not an image PIL can read (PNG, JPEG, WebP, ...)") from None
        width, height = image.size
        if width * height > self.limits.max_pixels:
            raise ToolError(
                f"{name} is {width}x{height} ({width * height / 1e6:.0f} MP), above the "
                f"{self.limits.max_pixels / 1e6:.0f} MP limit; downscale it first"
            )
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as exc:
            raise ToolError(
                f"{name} could not be decoded ({exc}); the file is probably truncated or corrupt"
            ) from None
        return image


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
