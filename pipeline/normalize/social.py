"""Parsers for the payloads of the Instagram, YouTube, Mastodon, Bluesky, Reddit and RSS
connectors (``connectors/*.py`` document each payload and where it comes from).

- ``instagram.media``: Graph IG Media (``id``, ``caption``, ``timestamp``, ``username``,
  ``permalink``); ``context.account_username`` is the watched business account.
- ``instagram.comment``: Graph IG Comment (``id``, ``text``, ``timestamp``, ``username``,
  ``from``, ``parent_id``); ``context.media_id``/``media_username``.
- ``youtube.comment``: a ``youtube#comment`` resource; ``context.video_id``/``channel_id``.
- ``mastodon.status``: a Mastodon Status entity (``content`` is HTML).
- ``bluesky.post``: an ``app.bsky.feed.defs#postView``.
- ``reddit.post`` / ``reddit.comment``: the ``data`` of a ``t3`` / ``t1`` listing child.
- ``rss.entry``: the connector's entry object (``id``, ``title``, ``link``, ``summary``, ...).

Brand detection uses :class:`pipeline.brand.BrandAccounts` (ids and handles per network);
for Instagram and YouTube the watched account in ``context`` counts as the brand too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipeline.brand import BrandAccounts
from pipeline.envelope import RawEnvelope
from pipeline.mention import Author, Mention, mention_id
from pipeline.normalize.common import (
    URL_RE,
    as_dict,
    as_list,
    clean_text,
    count,
    opt_id,
    opt_str,
    parse_time,
    req_id,
    req_str,
)
from pipeline.normalize.errors import NormalizeError

__all__ = [
    "parse_bluesky_post",
    "parse_instagram_comment",
    "parse_instagram_media",
    "parse_mastodon_status",
    "parse_reddit_comment",
    "parse_reddit_post",
    "parse_rss_entry",
    "parse_youtube_comment",
]


def _html_text(markup: str) -> str:
    from pipeline.normalize.email import html_to_text

    return html_to_text(markup) if "<" in markup else markup


def _links(text: str) -> list[str]:
    out: list[str] = []
    for found in URL_RE.findall(text):
        found = found.rstrip(".,;:!?")
        if found not in out:
            out.append(found)
    return out


def _ctx(envelope: RawEnvelope) -> dict[str, Any]:
    return envelope.context or {}


# -- Instagram ------------------------------------------------------------------------


def _ig_brand(
    brand: BrandAccounts, ctx: dict[str, Any], user_id: str | None, username: str | None
) -> bool:
    account = ctx.get("account_username")
    account_id = ctx.get("account_id")
    return (
        brand.is_brand("instagram", user_id, username)
        or (
            username is not None
            and isinstance(account, str)
            and username.lower() == account.lower()
        )
        or (user_id is not None and account_id is not None and str(account_id) == user_id)
    )


def parse_instagram_media(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    media = as_dict(envelope.payload, "payload")
    ctx = _ctx(envelope)
    native_id = req_id(media, "id", "payload")
    username = opt_str(media, "username", "payload")
    text = clean_text(opt_str(media, "caption", "payload") or "")
    account = ctx.get("account_username")
    return Mention(
        id=mention_id("instagram", native_id),
        source="instagram",
        native_id=native_id,
        kind="post",
        created_at=parse_time(media, "timestamp", "payload"),
        received_at=envelope.fetched_at,
        text=text,
        author=Author(handle=username),
        url=opt_str(media, "permalink", "payload"),
        conversation_id=native_id,
        addressed_to=[f"@{account.lower()}"] if isinstance(account, str) else [],
        is_brand=_ig_brand(brand, ctx, None, username),
        links=_links(text),
    )


def parse_instagram_comment(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    comment = as_dict(envelope.payload, "payload")
    ctx = _ctx(envelope)
    native_id = req_id(comment, "id", "payload")
    username = opt_str(comment, "username", "payload")
    sender = comment.get("from")
    user_id = opt_id(sender, "id", "payload.from") if isinstance(sender, dict) else None
    parent = opt_id(comment, "parent_id", "payload")
    media_id = opt_id(ctx, "media_id", "context")
    if parent is None and media_id is None:
        raise NormalizeError(
            "missing_field", "context.media_id is missing (a comment needs its media)"
        )
    media_owner = ctx.get("media_username")
    text = clean_text(req_str(comment, "text", "payload", allow_empty=True))
    return Mention(
        id=mention_id("instagram", native_id),
        source="instagram",
        native_id=native_id,
        kind="reply" if parent else "comment",
        created_at=parse_time(comment, "timestamp", "payload"),
        received_at=envelope.fetched_at,
        text=text,
        author=Author(id=user_id, handle=username),
        url=opt_str(ctx, "media_permalink", "context"),
        in_reply_to=mention_id("instagram", parent or media_id or ""),
        conversation_id=media_id,
        is_brand=_ig_brand(brand, ctx, user_id, username),
        reply_to_brand=parent is None
        and isinstance(media_owner, str)
        and _ig_brand(brand, ctx, None, media_owner),
        links=_links(text),
    )


# -- YouTube --------------------------------------------------------------------------


def parse_youtube_comment(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    comment = as_dict(envelope.payload, "payload")
    ctx = _ctx(envelope)
    native_id = req_id(comment, "id", "payload")
    snippet = as_dict(comment.get("snippet"), "payload.snippet")
    where = "payload.snippet"
    channel = snippet.get("authorChannelId")
    author_channel = (
        opt_id(channel, "value", f"{where}.authorChannelId") if isinstance(channel, dict) else None
    )
    text = clean_text(
        opt_str(snippet, "textOriginal", where)
        or _html_text(opt_str(snippet, "textDisplay", where) or ""),
        unescape=True,
    )
    parent = opt_id(snippet, "parentId", where)
    video = opt_id(snippet, "videoId", where) or opt_id(ctx, "video_id", "context")
    own_channel = opt_id(ctx, "channel_id", "context")
    is_brand = brand.is_brand(
        "youtube", author_channel, opt_str(snippet, "authorDisplayName", where)
    ) or (author_channel is not None and author_channel == own_channel)
    url = f"https://www.youtube.com/watch?v={video}&lc={native_id}" if video else None
    return Mention(
        id=mention_id("youtube", native_id),
        source="youtube",
        native_id=native_id,
        kind="reply" if parent else "comment",
        created_at=parse_time(snippet, "publishedAt", where),
        received_at=envelope.fetched_at,
        text=text,
        author=Author(id=author_channel, handle=opt_str(snippet, "authorDisplayName", where)),
        url=url,
        in_reply_to=mention_id("youtube", parent)
        if parent
        else (mention_id("youtube", video) if video else None),
        conversation_id=parent or native_id,
        is_brand=is_brand,
        reply_to_brand=parent is None
        and own_channel is not None,  # a top-level comment on the brand's video
        links=_links(text),
    )


# -- Mastodon -------------------------------------------------------------------------


def parse_mastodon_status(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    status = as_dict(envelope.payload, "payload")
    native_id = req_id(status, "id", "payload")
    account = as_dict(status.get("account"), "payload.account")
    acct = opt_str(account, "acct", "payload.account")
    user_id = opt_id(account, "id", "payload.account")
    text = clean_text(_html_text(req_str(status, "content", "payload", allow_empty=True)))
    spoiler = opt_str(status, "spoiler_text", "payload")
    if spoiler:
        text = f"{spoiler}\n\n{text}"
    addressed = []
    for i, m in enumerate(as_list(status.get("mentions"), "payload.mentions")):
        m = as_dict(m, f"payload.mentions[{i}]")
        handle = opt_str(m, "acct", f"payload.mentions[{i}]")
        if handle:
            addressed.append("@" + handle.lower())
    parent = opt_id(status, "in_reply_to_id", "payload")
    parent_account = opt_id(status, "in_reply_to_account_id", "payload")
    direct = status.get("visibility") == "direct"
    followers = account.get("followers_count")
    return Mention(
        id=mention_id("mastodon", native_id),
        source="mastodon",
        native_id=native_id,
        kind="direct_message" if direct else ("reply" if parent else "post"),
        created_at=parse_time(status, "created_at", "payload"),
        received_at=envelope.fetched_at,
        text=text,
        author=Author(
            id=user_id,
            handle=acct,
            name=opt_str(account, "display_name", "payload.account") or None,
            followers=count(followers),
        ),
        url=opt_str(status, "url", "payload") or opt_str(status, "uri", "payload"),
        in_reply_to=mention_id("mastodon", parent) if parent else None,
        in_reply_to_user=parent_account,
        conversation_id=opt_id(status, "conversation_id", "payload") or parent or native_id,
        addressed_to=addressed,
        is_brand=brand.is_brand("mastodon", user_id, acct),
        is_direct=direct,
        reply_to_brand=brand.is_brand_account("mastodon", parent_account),
        attachments=[
            str(a.get("type") or "media")
            for a in as_list(status.get("media_attachments"), "payload.media_attachments")
            if isinstance(a, dict)
        ],
        links=_links(text),
    )


# -- Bluesky --------------------------------------------------------------------------


def _did_of(uri: str | None) -> str | None:
    if uri and uri.startswith("at://"):
        return uri[5:].split("/", 1)[0]
    return None


def parse_bluesky_post(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    post = as_dict(envelope.payload, "payload")
    uri = req_str(post, "uri", "payload")
    author = as_dict(post.get("author"), "payload.author")
    record = as_dict(post.get("record"), "payload.record")
    did = opt_str(author, "did", "payload.author")
    handle = opt_str(author, "handle", "payload.author")
    text = clean_text(req_str(record, "text", "payload.record", allow_empty=True))
    parent_uri: str | None = None
    root_uri: str | None = None
    reply = record.get("reply")
    if isinstance(reply, dict):
        if isinstance(reply.get("parent"), dict):
            parent_uri = opt_str(reply["parent"], "uri", "payload.record.reply.parent")
        if isinstance(reply.get("root"), dict):
            root_uri = opt_str(reply["root"], "uri", "payload.record.reply.root")
    parent_did = _did_of(parent_uri)
    addressed = []
    links = _links(text)
    for facet in as_list(record.get("facets"), "payload.record.facets"):
        for feature in as_list(
            facet.get("features") if isinstance(facet, dict) else None,
            "payload.record.facets[].features",
        ):
            if isinstance(feature, dict) and isinstance(feature.get("did"), str):
                addressed.append(feature["did"])
            if (
                isinstance(feature, dict)
                and isinstance(feature.get("uri"), str)
                and feature["uri"] not in links
            ):
                links.append(feature["uri"])
    rkey = uri.rsplit("/", 1)[-1]
    return Mention(
        id=mention_id("bluesky", uri),
        source="bluesky",
        native_id=uri,
        kind="reply" if parent_uri else "post",
        created_at=parse_time(record, "createdAt", "payload.record"),
        received_at=envelope.fetched_at,
        text=text,
        author=Author(
            id=did, handle=handle, name=opt_str(author, "displayName", "payload.author") or None
        ),
        url=f"https://bsky.app/profile/{handle or did}/post/{rkey}",
        in_reply_to=mention_id("bluesky", parent_uri) if parent_uri else None,
        in_reply_to_user=parent_did,
        conversation_id=root_uri or uri,
        addressed_to=addressed,
        is_brand=brand.is_brand("bluesky", did, handle),
        reply_to_brand=brand.is_brand_account("bluesky", parent_did),
        links=links,
    )


# -- Reddit ---------------------------------------------------------------------------


def _reddit_time(item: dict[str, Any]) -> datetime:
    value = item.get("created_utc")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NormalizeError("bad_timestamp", "payload.created_utc must be epoch seconds")
    return datetime.fromtimestamp(float(value), UTC)


def _reddit_author(item: dict[str, Any]) -> Author:
    name = opt_str(item, "author", "payload")
    if name in ("[deleted]", None):
        return Author()
    return Author(id=opt_str(item, "author_fullname", "payload"), handle=name)


def parse_reddit_post(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    item = as_dict(envelope.payload, "payload")
    native_id = req_id(item, "name", "payload")
    title = opt_str(item, "title", "payload") or ""
    body = opt_str(item, "selftext", "payload") or ""
    text = clean_text(f"{title}\n\n{body}" if body else title)
    author = _reddit_author(item)
    permalink = opt_str(item, "permalink", "payload")
    link = opt_str(item, "url", "payload")
    links = _links(text)
    if link and item.get("is_self") is not True and link not in links:
        links.append(link)
    return Mention(
        id=mention_id("reddit", native_id),
        source="reddit",
        native_id=native_id,
        kind="post",
        created_at=_reddit_time(item),
        received_at=envelope.fetched_at,
        text=text,
        author=author,
        subject=title or None,
        url=f"https://www.reddit.com{permalink}" if permalink else None,
        conversation_id=native_id,
        addressed_to=[f"r/{item['subreddit']}"] if isinstance(item.get("subreddit"), str) else [],
        is_brand=brand.is_brand("reddit", author.id, author.handle),
        links=links,
    )


def parse_reddit_comment(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    item = as_dict(envelope.payload, "payload")
    native_id = req_id(item, "name", "payload")
    text = clean_text(req_str(item, "body", "payload", allow_empty=True))
    author = _reddit_author(item)
    parent = opt_str(item, "parent_id", "payload")
    permalink = opt_str(item, "permalink", "payload")
    return Mention(
        id=mention_id("reddit", native_id),
        source="reddit",
        native_id=native_id,
        kind="reply" if parent and parent.startswith("t1_") else "comment",
        created_at=_reddit_time(item),
        received_at=envelope.fetched_at,
        text=text,
        author=author,
        url=f"https://www.reddit.com{permalink}" if permalink else None,
        in_reply_to=mention_id("reddit", parent) if parent else None,
        conversation_id=opt_str(item, "link_id", "payload"),
        is_brand=brand.is_brand("reddit", author.id, author.handle),
        reply_to_brand=False,
        links=_links(text),
    )


# -- RSS / Atom -----------------------------------------------------------------------


def parse_rss_entry(envelope: RawEnvelope, brand: BrandAccounts) -> Mention:
    entry = as_dict(envelope.payload, "payload")
    native_id = req_id(entry, "id", "payload")
    title = clean_text(_html_text(opt_str(entry, "title", "payload") or ""))
    summary = opt_str(entry, "content", "payload") or opt_str(entry, "summary", "payload") or ""
    body = clean_text(_html_text(summary))
    text = f"{title}\n\n{body}" if title and body else (title or body)
    when = "published" if entry.get("published") else "updated"
    feed = entry.get("feed") if isinstance(entry.get("feed"), dict) else {}
    link = opt_str(entry, "link", "payload")
    links = _links(text)
    if link and link not in links:
        links.insert(0, link)
    return Mention(
        id=mention_id("rss", native_id),
        source="rss",
        native_id=native_id,
        kind="article",
        created_at=parse_time(entry, when, "payload"),
        received_at=envelope.fetched_at,
        text=text,
        author=Author(name=opt_str(entry, "author", "payload")),
        subject=title or None,
        url=link,
        conversation_id=native_id,
        addressed_to=[str(feed.get("title"))] if feed and feed.get("title") else [],
        links=links,
    )
