"""Development only: the messages the local SMTP catcher received, so a newcomer can click
the confirmation link. Mounted only when no SMTP server is configured in development."""

from __future__ import annotations

import asyncio
import mailbox
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import Response

from web.deps import AppSettings, Lang
from web.headers import CSP, content_policy
from web.pages import render

router = APIRouter(prefix="/{lang}/dev")

# An HTML e-mail styles its elements in attributes, as mail clients need, and the sandboxed
# frame that shows it inherits the page's policy: here, and only here, those attributes apply.
MESSAGE_POLICY = content_policy(style_src_attr="'unsafe-inline'")


def read_mail(path: str) -> list[tuple[str, EmailMessage]]:
    box = mailbox.Maildir(path, factory=None, create=True)
    parser = BytesParser(policy=policy.default)
    messages = [(key, parser.parsebytes(box.get_bytes(key))) for key in box.keys()]
    typed = [(k, m) for k, m in messages if isinstance(m, EmailMessage)]
    return sorted(typed, key=lambda km: km[0], reverse=True)


@router.get("/mail", name="dev_mail")
async def mail_list(request: Request, lang: Lang, settings: AppSettings) -> Response:
    messages = await asyncio.to_thread(read_mail, str(settings.mail_dir))
    return render(request, "dev/mail.html", lang=lang, messages=messages)


@router.get("/mail/{key}", name="dev_message")
async def mail_message(request: Request, lang: Lang, settings: AppSettings, key: str) -> Response:
    messages = dict(await asyncio.to_thread(read_mail, str(settings.mail_dir)))
    message = messages.get(key)
    if message is None:
        raise HTTPException(404)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    page = render(
        request,
        "dev/message.html",
        lang=lang,
        message=message,
        text=text.get_content() if text else "",
        html=html.get_content() if html else "",
    )
    page.headers[CSP] = MESSAGE_POLICY
    return page
