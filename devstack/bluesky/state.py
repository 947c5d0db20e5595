"""What the Bluesky sandbox remembers: accounts, sessions, blobs, records, requests, faults.

Everything here runs under one lock held by the HTTP layer; methods raise `XrpcFault` with the
status, error name and message a PDS uses.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import regex

from devstack.sandbox.state import Faults

COLLECTION = "app.bsky.feed.post"
MAX_GRAPHEMES = 300  # app.bsky.feed.post `text`: maxGraphemes 300
MAX_TEXT_BYTES = 3000  # and maxLength 3000, which the lexicon counts in UTF-8 bytes
MAX_IMAGES = 4
MAX_IMAGE_BYTES = 2_000_000  # app.bsky.embed.images: maxSize 2,000,000 (atproto at d6296a1)
DEFAULT_ACCESS_TTL_SECONDS = 7200  # access JWTs last about two hours


class XrpcFault(Exception):  # noqa: N818 (the PDS's name for it is an XRPC error)
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


@dataclass
class Account:
    did: str
    handle: str
    app_password: str
    faults: Faults = field(default_factory=Faults)
    access_ttl_seconds: float = DEFAULT_ACCESS_TTL_SECONDS


@dataclass
class Record:
    uri: str
    cid: str
    repo: str
    rkey: str
    value: dict[str, Any]
    created: datetime

    def to_json(self) -> dict[str, Any]:
        embed = self.value.get("embed") or {}
        images = embed.get("images") or []
        return {
            "id": self.uri,
            "owner": self.repo,
            "kind": "bsky_post",
            "text": self.value.get("text", ""),
            "created": self.created.isoformat(),
            "rkey": self.rkey,
            "facets": self.value.get("facets") or [],
            "embed": embed.get("$type"),
            "media": [i.get("alt", "") for i in images],
            "external": embed.get("external"),
            "replyTo": ((self.value.get("reply") or {}).get("parent") or {}).get("uri"),
        }


class BlueskyState:
    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}  # by DID
        self.access: dict[str, tuple[str, float]] = {}  # access JWT -> (DID, expires, epoch s)
        self.refresh: dict[str, str] = {}  # live refresh JWT -> DID
        self.blobs: dict[str, tuple[str, int]] = {}  # cid -> (mime type, size)
        self.records: dict[str, Record] = {}  # by URI
        self.requests: dict[str, int] = {}

    # --- accounts and sessions --------------------------------------------------------------

    def add_account(self, handle: str, app_password: str) -> Account:
        did = "did:plc:" + hashlib.sha256(handle.encode()).hexdigest()[:24]
        account = Account(did, handle, app_password)
        self.accounts[did] = account
        return account

    def by_identifier(self, identifier: str) -> Account | None:
        for account in self.accounts.values():
            if identifier in (account.did, account.handle):
                return account
        return None

    def create_session(self, identifier: str, password: str) -> dict[str, Any]:
        account = self.by_identifier(identifier)
        if account is None or account.faults.invalid_token or password != account.app_password:
            raise XrpcFault(401, "AuthenticationRequired", "Invalid identifier or password")
        return self._new_session(account)

    def refresh_session(self, refresh_jwt: str) -> dict[str, Any]:
        did = self.refresh.pop(refresh_jwt, None)  # refresh JWTs rotate: each works once
        if did is None:
            raise XrpcFault(400, "ExpiredToken", "Token has been revoked")
        account = self.accounts[did]
        if account.faults.invalid_token:
            raise XrpcFault(401, "AuthenticationRequired", "Token has been revoked")
        return self._new_session(account)

    def _new_session(self, account: Account) -> dict[str, Any]:
        expires = time.time() + account.access_ttl_seconds
        access = _jwt({"sub": account.did, "scope": "com.atproto.appPass", "exp": int(expires)})
        refresh = _jwt({"sub": account.did, "scope": "com.atproto.refresh", "jti": _nonce()})
        self.access[access] = (account.did, expires)
        self.refresh[refresh] = account.did
        return {
            "did": account.did,
            "handle": account.handle,
            "accessJwt": access,
            "refreshJwt": refresh,
            "active": True,
        }

    def authorized(self, access_jwt: str | None) -> Account:
        known = self.access.get(access_jwt or "")
        if known is None:
            raise XrpcFault(401, "AuthenticationRequired", "Authentication Required")
        did, expires = known
        account = self.accounts[did]
        if account.faults.invalid_token:
            raise XrpcFault(401, "AuthenticationRequired", "Token has been revoked")
        if time.time() >= expires:
            raise XrpcFault(400, "ExpiredToken", "Token has expired")
        return account

    def expire_sessions(self, did: str) -> None:
        """Every access JWT of the account expires now (refresh JWTs stay good)."""
        for token, (owner, _) in list(self.access.items()):
            if owner == did:
                self.access[token] = (owner, 0.0)

    # --- the repository ---------------------------------------------------------------------

    def upload_blob(self, data: bytes, mime: str) -> dict[str, Any]:
        cid = "bafkrei" + hashlib.sha256(data).hexdigest()[:52]
        self.blobs[cid] = (mime, len(data))
        return {
            "blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}
        }

    def create_record(self, account: Account, body: dict[str, Any]) -> dict[str, Any]:
        repo = str(body.get("repo") or "")
        if repo not in (account.did, account.handle):
            raise XrpcFault(400, "InvalidRequest", "Invalid repo: does not match the session")
        if body.get("collection") != COLLECTION:
            raise XrpcFault(400, "InvalidRequest", "Unsupported collection")
        rkey = str(body.get("rkey") or _tid())
        if not regex.fullmatch(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}", rkey):
            raise XrpcFault(400, "InvalidRequest", "Invalid record key: must be a TID")
        record = body.get("record")
        if not isinstance(record, dict):
            raise XrpcFault(400, "InvalidRequest", 'Input must have the property "record"')
        self._validate(record)
        uri = f"at://{account.did}/{COLLECTION}/{rkey}"
        if uri in self.records:
            # Today's PDS answers a repeated record key with a bare 500 (atproto issue 3718).
            raise XrpcFault(500, "InternalServerError", "Internal Server Error")
        cid = (
            "bafyrei" + hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:52]
        )
        self.records[uri] = Record(uri, cid, account.did, rkey, record, datetime.now(UTC))
        return {
            "uri": uri,
            "cid": cid,
            "commit": {"cid": "bafyrei" + _nonce(), "rev": _tid()},
            "validationStatus": "valid",
        }

    def _validate(self, record: dict[str, Any]) -> None:
        text = record.get("text")
        if record.get("$type") != COLLECTION or not isinstance(text, str):
            raise XrpcFault(400, "InvalidRequest", "Invalid app.bsky.feed.post record")
        if not record.get("createdAt"):
            raise XrpcFault(400, "InvalidRequest", 'Record must have the property "createdAt"')
        if len(regex.findall(r"\X", text)) > MAX_GRAPHEMES:
            raise XrpcFault(
                400,
                "InvalidRequest",
                f"Invalid app.bsky.feed.post record: Record/text must not "
                f"be longer than {MAX_GRAPHEMES} graphemes",
            )
        size = len(text.encode("utf-8"))
        if size > MAX_TEXT_BYTES:
            raise XrpcFault(
                400,
                "InvalidRequest",
                f"Invalid app.bsky.feed.post record: Record/text must not "
                f"be longer than {MAX_TEXT_BYTES} characters",
            )
        for facet in record.get("facets") or []:
            index = facet.get("index") or {}
            if not 0 <= int(index.get("byteStart", -1)) < int(index.get("byteEnd", -1)) <= size:
                raise XrpcFault(400, "InvalidRequest", "Invalid facet byte range")
        self._validate_embed(record.get("embed"))
        self._validate_reply(record.get("reply"))

    def _validate_reply(self, reply: object) -> None:
        """`reply.root` and `reply.parent` are com.atproto.repo.strongRef (uri and cid). A PDS
        checks their form only (the AppView then shows a reply whose refs name nothing as
        detached from its thread); this sandbox refuses what would end up detached: a parent or
        root it does not hold, a cid that is not the record's, a root that is not the parent's
        thread's root."""
        if reply is None:
            return
        refs = [reply.get(k) if isinstance(reply, dict) else None for k in ("root", "parent")]
        if not all(isinstance(r, dict) and _strong_ref(r) for r in refs):
            raise XrpcFault(
                400,
                "InvalidRequest",
                "Invalid app.bsky.feed.post record: Record/reply must have the properties "
                '"root" and "parent", each a strongRef with "uri" and "cid"',
            )
        root, parent = refs[0], refs[1]
        assert isinstance(root, dict) and isinstance(parent, dict)
        for name, ref in (("root", root), ("parent", parent)):
            held = self.records.get(ref["uri"])
            if held is None or held.cid != ref["cid"]:
                raise XrpcFault(
                    400, "InvalidRequest", f"reply {name} names no record: {ref['uri']}"
                )
        parents_root = (self.records[parent["uri"]].value.get("reply") or {}).get("root")
        expected = parents_root or {"uri": parent["uri"], "cid": parent["cid"]}
        if (root["uri"], root["cid"]) != (expected["uri"], expected["cid"]):
            raise XrpcFault(400, "InvalidRequest", "reply root is not the parent's thread root")

    def _validate_embed(self, embed: object) -> None:
        if embed is None:
            return
        if not isinstance(embed, dict):
            raise XrpcFault(400, "InvalidRequest", "Invalid embed")
        if embed.get("$type") == "app.bsky.embed.external":
            external = embed.get("external") or {}
            if not all(isinstance(external.get(k), str) for k in ("uri", "title", "description")):
                raise XrpcFault(400, "InvalidRequest", "external needs uri, title, description")
            return
        images = embed.get("images")
        if embed.get("$type") != "app.bsky.embed.images" or not isinstance(images, list):
            raise XrpcFault(400, "InvalidRequest", "Unsupported embed type")
        if len(images) > MAX_IMAGES:
            raise XrpcFault(
                400, "InvalidRequest", "Record/embed/images must not have more than 4 elements"
            )
        for n, image in enumerate(images):
            cid = ((image.get("image") or {}).get("ref") or {}).get("$link")
            if not isinstance(image.get("alt"), str) or cid not in self.blobs:
                raise XrpcFault(400, "InvalidRequest", "Could not find blob: " + str(cid))
            mime, size = self.blobs[cid]
            if not mime.startswith("image/"):  # the lexicon's `accept: ["image/*"]`
                raise XrpcFault(
                    400,
                    "InvalidRequest",
                    f"Invalid app.bsky.feed.post record: Record/embed/images/{n}/image "
                    f"mimeType ({mime}) is not accepted",
                )
            if size > MAX_IMAGE_BYTES:
                raise XrpcFault(400, "BlobTooLarge", "This file is too large")

    def get_record(self, repo: str, collection: str, rkey: str) -> dict[str, Any]:
        account = self.by_identifier(repo)
        did = account.did if account else repo
        uri = f"at://{did}/{collection}/{rkey}"
        found = self.records.get(uri)
        if found is None:
            raise XrpcFault(400, "RecordNotFound", f"Could not locate record: {uri}")
        return {"uri": found.uri, "cid": found.cid, "value": found.value}

    def resolve_handle(self, handle: str) -> dict[str, str]:
        account = self.by_identifier(handle)
        if account is None:
            raise XrpcFault(400, "InvalidRequest", "Unable to resolve handle")
        return {"did": account.did}


def _strong_ref(ref: dict[str, Any]) -> bool:
    uri, cid = ref.get("uri"), ref.get("cid")
    return isinstance(uri, str) and uri.startswith("at://") and isinstance(cid, str) and bool(cid)


def _jwt(claims: dict[str, Any]) -> str:
    """JWT-shaped (the adapter reads `exp` to refresh in time); not signed: the sandbox is the
    only judge of its tokens."""
    header = _b64({"typ": "at+jwt", "alg": "ES256K"})
    return f"{header}.{_b64({**claims, 'iat': int(time.time())})}.{_nonce()}"


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _nonce() -> str:
    return secrets.token_urlsafe(16)


def _tid() -> str:
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    value = (int(time.time() * 1_000_000) << 10) | secrets.randbelow(1024)
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(13)))
