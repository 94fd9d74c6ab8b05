"""Facebook: Graph API page-feed posts (``facebook.post``), comments (``facebook.comment``)
and Messenger messages from the page webhook (``facebook.messenger``).

Post payload (``GET /{page-id}/feed?fields=id,message,created_time,from,permalink_url,
attachments,to``): ``{"id": "<page>_<post>", "message", "created_time":
"2026-11-23T10:00:00+0000", "from": {"id", "name"}, "permalink_url", ...}``. Visitor posts
look the same with a ``from`` that is not the page.

Comment payload (``GET /{post-id}/comments?fields=id,message,created_time,from,parent{id,from},
permalink_url,attachment``): ``parent`` is present for replies to comments. The connector
puts the post into ``envelope.context``: ``post_id`` and, when known, ``post_from_id`` (the
post's author, the page for page posts). ``context.page_id`` names the watched page, which
counts as a brand account.

Messenger payload: one messaging event ``{"sender": {"id"}, "recipient": {"id"}, "timestamp":
<epoch ms>, "message": {"mid", "text", "attachments", "is_echo", "reply_to": {"mid"}}}``, or a
whole webhook body (``{"object": "page", "entry": [{"messaging": [<event>]}]}``) holding
exactly one event; use :func:`split_messenger_webhook` in connectors to split batches.
"""

from __future__ import annotations

from typing import Any

from pipeline.brand import BrandAccounts
from pipeline.envelope import RawEnvelope
from pipeline.mention import Author, Mention, mention_id
from pipeline.normalize.common import (
    URL_RE,
    as_dict,
    as_list,
    clean_text,
    epoch_ms,
    opt_id,
    opt_str,
    parse_time,
    req_id,
)
from pipeline.normalize.errors import NormalizeError

__all__ = ["parse_comment", "parse_messenger", "parse_post", "split_messenger_webhook"]

SOURCE = "facebook"


def _is_brand(brand: BrandAccounts, context: dict[str, Any], account_id: str | None) -> bool:
    if account_id is None:
        return False
    page_id = context.get("page_id")
    return brand.is_brand_account(SOURCE, account_id) or (
        page_id is not None and str(page_id) == account_id
    )


def _from(obj: dict[str, Any], where: str) -> Author:
    raw = obj.get("from")
    if raw is None:
        return Author()
    sender = as_dict(raw, f"{where}.from")
    return Author(
        id=opt_id(sender, "id", f"{where}.from"), name=opt_str(sender, "name", f"{where}.from")
    )


def _links(obj: dict[str, Any], text: str) -> list[str]:
    links: list[str] = []
    link = obj.get("link")
    if isinstance(link, str):
        links.append(link)
    for found in URL_RE.findall(text):
        found = found.rstrip(".,;:!?")
        if found not in links:
            links.append(found)
    return links


def _attachment_names(obj: dict[str, Any], where: str) -> list[str]:
    names: list[str] = []
    items: list[Any] = []
    if isinstance(obj.get("attachments"), dict):
        items = as_list(obj["attachments"].get("data"), f"{where}.attachments.data")
    elif isinstance(obj.get("attachment"), dict):
        items = [obj["attachment"]]
    for item in items:
        if isinstance(item, dict):
            name = item.get("title") or item.get("type") or "attachment"
            names.append(str(name))
    return names


def _context(envelope: RawEnvelope) -> dict[str, Any]:
    return envelope.context or {}


def parse_post(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    where = "payload"
    post = as_dict(envelope.payload, where)
    native_id = req_id(post, "id", where)
    text = clean_text(opt_str(post, "message", where) or "")
    author = _from(post, where)
    context = _context(envelope)
    addressed: list[str] = []
    to = post.get("to")
    if isinstance(to, dict):
        for target in as_list(to.get("data"), f"{where}.to.data"):
            if isinstance(target, dict) and target.get("id") is not None:
                addressed.append(str(target["id"]))
    page_id = context.get("page_id")
    if page_id is not None and str(page_id) not in addressed and author.id != str(page_id):
        addressed.append(str(page_id))
    return Mention(
        id=mention_id(SOURCE, native_id),
        source=SOURCE,
        native_id=native_id,
        kind="post",
        created_at=parse_time(post, "created_time", where),
        received_at=envelope.fetched_at,
        text=text,
        author=author,
        url=opt_str(post, "permalink_url", where) or f"https://www.facebook.com/{native_id}",
        conversation_id=native_id,
        addressed_to=addressed,
        is_brand=_is_brand(brand, context, author.id),
        is_direct=False,
        reply_to_brand=False,
        attachments=_attachment_names(post, where),
        links=_links(post, text),
    )


def parse_comment(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    where = "payload"
    comment = as_dict(envelope.payload, where)
    native_id = req_id(comment, "id", where)
    text = clean_text(opt_str(comment, "message", where) or "")
    author = _from(comment, where)
    context = _context(envelope)
    post_id = opt_id(context, "post_id", "context")
    if post_id is None and isinstance(comment.get("post"), dict):
        post_id = opt_id(comment["post"], "id", f"{where}.post")
    if post_id is None and "_" in native_id:
        # Graph comment ids are "<post id>_<comment id>" where the post id has no page prefix.
        post_id = None

    parent_id: str | None = None
    parent_author: str | None = None
    if comment.get("parent") is not None:
        parent = as_dict(comment["parent"], f"{where}.parent")
        parent_id = req_id(parent, "id", f"{where}.parent")
        if isinstance(parent.get("from"), dict):
            parent_author = opt_id(parent["from"], "id", f"{where}.parent.from")
    else:
        parent_id = post_id
        parent_author = opt_id(context, "post_from_id", "context")
    if parent_id is None:
        raise NormalizeError(
            "missing_field", "context.post_id is missing (a top-level comment needs its post)"
        )
    return Mention(
        id=mention_id(SOURCE, native_id),
        source=SOURCE,
        native_id=native_id,
        kind="comment",
        created_at=parse_time(comment, "created_time", where),
        received_at=envelope.fetched_at,
        text=text,
        author=author,
        url=opt_str(comment, "permalink_url", where) or f"https://www.facebook.com/{native_id}",
        in_reply_to=mention_id(SOURCE, parent_id),
        in_reply_to_user=parent_author,
        conversation_id=post_id or parent_id,
        is_brand=_is_brand(brand, context, author.id),
        is_direct=False,
        reply_to_brand=_is_brand(brand, context, parent_author),
        attachments=_attachment_names(comment, where),
        links=_links(comment, text),
    )


def split_messenger_webhook(body: Any) -> list[dict[str, Any]]:
    """The messaging events of a Messenger webhook body, one per message, in order.

    Raises :class:`NormalizeError` when ``body`` is not a page webhook.
    """
    body = as_dict(body, "payload")
    events: list[dict[str, Any]] = []
    for i, entry in enumerate(as_list(body.get("entry"), "payload.entry")):
        entry = as_dict(entry, f"payload.entry[{i}]")
        for j, event in enumerate(as_list(entry.get("messaging"), f"payload.entry[{i}].messaging")):
            events.append(as_dict(event, f"payload.entry[{i}].messaging[{j}]"))
    return events


def parse_messenger(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    event = as_dict(envelope.payload, "payload")
    where = "payload"
    if "entry" in event:
        events = split_messenger_webhook(event)
        if len(events) != 1:
            raise NormalizeError(
                "invalid_payload",
                f"payload.entry holds {len(events)} messaging events; "
                "the connector must publish one envelope per event",
            )
        event, where = events[0], "payload.entry[0].messaging[0]"
    if event.get("message") is None:
        raise NormalizeError(
            "unsupported_type", f"{where} has no message (delivery/read/postback event)"
        )
    message = as_dict(event["message"], f"{where}.message")
    if event.get("sender") is None:
        raise NormalizeError("missing_field", f"{where}.sender is missing")
    sender = as_dict(event["sender"], f"{where}.sender")
    recipient = as_dict(event.get("recipient") or {}, f"{where}.recipient")
    sender_id = req_id(sender, "id", f"{where}.sender")
    recipient_id = opt_id(recipient, "id", f"{where}.recipient")
    native_id = req_id(message, "mid", f"{where}.message")
    text = clean_text(opt_str(message, "text", f"{where}.message") or "")
    attachments: list[str] = []
    for item in as_list(message.get("attachments"), f"{where}.message.attachments"):
        if isinstance(item, dict):
            name = item.get("title") or item.get("type") or "attachment"
            attachments.append(str(name))
    reply_to = message.get("reply_to")
    in_reply_to = (
        opt_id(reply_to, "mid", f"{where}.message.reply_to") if isinstance(reply_to, dict) else None
    )
    context = _context(envelope)
    customer = recipient_id if message.get("is_echo") is True else sender_id
    return Mention(
        id=mention_id(SOURCE, native_id),
        source=SOURCE,
        native_id=native_id,
        kind="direct_message",
        created_at=epoch_ms(event, "timestamp", where),
        received_at=envelope.fetched_at,
        text=text,
        author=Author(id=sender_id, name=opt_str(context, "sender_name", "context")),
        in_reply_to=mention_id(SOURCE, in_reply_to) if in_reply_to else None,
        conversation_id=f"messenger:{customer}" if customer else None,
        addressed_to=[recipient_id] if recipient_id else [],
        is_brand=message.get("is_echo") is True or _is_brand(brand, context, sender_id),
        is_direct=True,
        reply_to_brand=False,
        attachments=attachments,
        links=_links({}, text),
    )
