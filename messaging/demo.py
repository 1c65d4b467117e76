"""A starter message library for the demo: 54 variants in English, French and German.

27 collection messages the planner chooses from, and 27 notices (`messaging.demo_notices`).

`seed_library(stdout=...)` is called by `manage.py seed_demo`. Each variant goes through the
real approval path: saved as a draft revision, submitted to the "Compliance approval" workflow
and approved by a reviewer, which publishes it. Idempotent: variants are found by name, and a
second run creates, changes and approves nothing.
"""

from __future__ import annotations

from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from wagtail.models import Workflow

from messaging.demo_notices import NOTICES
from messaging.models import MessageVariant, Tone

REVIEWER_USERNAME = "demo-reviewer"

# (key, channel, stage(s), tone slug, CTA, regions) and texts per language:
# email: (subject, body); sms/whatsapp/letter: body.
_LIBRARY: list[tuple[str, str, list[str], str, str, dict[str, Any]]] = [
    (
        "First contact email",
        "email",
        ["first_contact"],
        "friendly",
        "pay_in_full",
        {
            "en": (
                "About your {{ creditor_name }} account {{ account_reference }}",
                "Hello {{ first_name }},\n\n{{ creditor_name }} has asked us to help with your "
                "account {{ account_reference }}. The balance is {{ balance }}.\n\nYou can pay, "
                "set up a plan or tell us about your situation here: {{ portal_link }}\n\n"
                "If you have questions, write to {{ contact_email }}.",
            ),
            "fr": (
                "Votre compte {{ creditor_name }} {{ account_reference }}",
                "Bonjour {{ first_name }},\n\n{{ creditor_name }} nous a confié le suivi de votre "
                "compte {{ account_reference }}. Le solde est de {{ balance }}.\n\nVous pouvez "
                "payer, mettre en place un échéancier ou nous expliquer votre situation ici : "
                "{{ portal_link }}\n\nUne question ? Écrivez-nous à {{ contact_email }}.",
            ),
            "de": (
                "Ihr Konto bei {{ creditor_name }} ({{ account_reference }})",
                "Guten Tag {{ first_name }},\n\n{{ creditor_name }} hat uns mit Ihrem Konto "
                "{{ account_reference }} beauftragt. Der offene Betrag beträgt {{ balance }}.\n\n"
                "Hier können Sie bezahlen, eine Ratenzahlung vereinbaren oder uns Ihre Lage "
                "schildern: {{ portal_link }}\n\nFragen? Schreiben Sie an {{ contact_email }}.",
            ),
        },
    ),
    (
        "Early plan offer email",
        "email",
        ["early", "mid"],
        "empathetic",
        "payment_plan",
        {
            "en": (
                "Smaller payments for {{ balance }}, if that helps",
                "Hello {{ first_name }},\n\nWe know money can be tight. You can spread the "
                "{{ balance }} you owe {{ creditor_name }} over several months, at a pace you "
                "choose: {{ portal_link }}\n\nIt takes two minutes and there is no extra charge.",
            ),
            "fr": (
                "Des paiements plus petits pour {{ balance }}, si cela vous aide",
                "Bonjour {{ first_name }},\n\nNous savons que les fins de mois peuvent être "
                "difficiles. Vous pouvez étaler les {{ balance }} dus à {{ creditor_name }} sur "
                "plusieurs mois, à votre rythme : {{ portal_link }}\n\nCela prend deux minutes, "
                "sans frais supplémentaires.",
            ),
            "de": (
                "Kleinere Raten für {{ balance }}, wenn Ihnen das hilft",
                "Guten Tag {{ first_name }},\n\nWir wissen, dass das Geld manchmal knapp ist. "
                "Sie können die {{ balance }} an {{ creditor_name }} in Raten zahlen, in Ihrem "
                "Tempo: {{ portal_link }}\n\nDas dauert zwei Minuten und kostet nichts extra.",
            ),
        },
    ),
    (
        "Early reminder SMS",
        "sms",
        ["early"],
        "friendly",
        "pay_in_full",
        {
            "en": "Hi {{ first_name }}, a reminder about {{ balance }} owed to "
            "{{ creditor_name }}. Pay or choose a plan: {{ portal_link }}",
            "fr": "Bonjour {{ first_name }}, rappel : {{ balance }} dus à {{ creditor_name }}. "
            "Payer ou choisir un échéancier : {{ portal_link }}",
            "de": "Hallo {{ first_name }}, Erinnerung: {{ balance }} an {{ creditor_name }} "
            "offen. Bezahlen oder Raten wählen: {{ portal_link }}",
        },
    ),
    (
        "Mid-stage firm SMS",
        "sms",
        ["mid", "late"],
        "firm",
        "pay_in_full",
        {
            "en": "{{ first_name }}, your {{ creditor_name }} balance of {{ balance }} is still "
            "unpaid. Please pay or contact us today: {{ portal_link }}",
            "fr": "{{ first_name }}, votre solde {{ creditor_name }} de {{ balance }} reste "
            "impayé. Merci de payer ou de nous contacter aujourd'hui : {{ portal_link }}",
            "de": "{{ first_name }}, Ihr Saldo bei {{ creditor_name }} von {{ balance }} ist "
            "noch offen. Bitte zahlen Sie oder melden Sie sich heute: {{ portal_link }}",
        },
    ),
    (
        "Mid-stage WhatsApp check-in",
        "whatsapp",
        ["mid"],
        "empathetic",
        "contact_us",
        {
            "en": "Hello {{ first_name }}, this is about your {{ creditor_name }} account. If "
            "something is making it hard to pay, tell us and we will find a way together: "
            "{{ portal_link }}",
            "fr": "Bonjour {{ first_name }}, au sujet de votre compte {{ creditor_name }} : si "
            "quelque chose vous empêche de payer, dites-le-nous et nous trouverons une solution "
            "ensemble : {{ portal_link }}",
            "de": "Hallo {{ first_name }}, es geht um Ihr Konto bei {{ creditor_name }}. Wenn "
            "Ihnen das Zahlen gerade schwerfällt, sagen Sie es uns, wir finden gemeinsam eine "
            "Lösung: {{ portal_link }}",
        },
    ),
    (
        "Late-stage formal letter",
        "letter",
        ["late"],
        "formal",
        "pay_in_full",
        {
            "en": "Dear {{ first_name }} {{ last_name }},\n\nAccount {{ account_reference }} with "
            "{{ creditor_name }} ({{ description }}) has an outstanding balance of "
            "{{ balance }}.\n\nPlease pay the balance or agree a payment plan with us. You can do "
            "both online at {{ portal_link }} or by contacting us at {{ contact_email }}.\n\nIf "
            "you are experiencing financial difficulty, please let us know: we can help.",
            "fr": "Madame, Monsieur {{ last_name }},\n\nLe compte {{ account_reference }} auprès "
            "de {{ creditor_name }} ({{ description }}) présente un solde impayé de "
            "{{ balance }}.\n\nNous vous invitons à régler ce solde ou à convenir d'un "
            "échéancier, en ligne sur {{ portal_link }} ou en nous écrivant à "
            "{{ contact_email }}.\n\nSi vous rencontrez des difficultés financières, "
            "faites-le-nous savoir : nous pouvons vous aider.",
            "de": "Sehr geehrte(r) {{ first_name }} {{ last_name }},\n\nfür das Konto "
            "{{ account_reference }} bei {{ creditor_name }} ({{ description }}) ist ein Betrag "
            "von {{ balance }} offen.\n\nBitte begleichen Sie den Betrag oder vereinbaren Sie "
            "eine Ratenzahlung, online unter {{ portal_link }} oder per E-Mail an "
            "{{ contact_email }}.\n\nWenn Sie in finanziellen Schwierigkeiten sind, sagen Sie es "
            "uns bitte: wir können helfen.",
        },
    ),
    (
        "Plan reminder SMS",
        "sms",
        ["plan_reminder"],
        "friendly",
        "pay_instalment",
        {
            "en": "Hi {{ first_name }}, your next instalment of {{ instalment_amount }} is due on "
            "{{ instalment_due_date }}. Pay here: {{ portal_link }}",
            "fr": "Bonjour {{ first_name }}, votre prochaine échéance de {{ instalment_amount }} "
            "est due le {{ instalment_due_date }}. Payer ici : {{ portal_link }}",
            "de": "Hallo {{ first_name }}, Ihre nächste Rate von {{ instalment_amount }} ist am "
            "{{ instalment_due_date }} fällig. Hier bezahlen: {{ portal_link }}",
        },
    ),
    (
        "Missed instalment email",
        "email",
        ["missed_instalment"],
        "empathetic",
        "payment_plan",
        {
            "en": (
                "We missed your instalment: let's get your plan back on track",
                "Hello {{ first_name }},\n\nYour instalment of {{ instalment_amount }} due on "
                "{{ instalment_due_date }} has not arrived. If your circumstances changed, you "
                "can change your plan or ask for a short pause: {{ portal_link }}",
            ),
            "fr": (
                "Échéance manquée : remettons votre échéancier sur les rails",
                "Bonjour {{ first_name }},\n\nVotre échéance de {{ instalment_amount }} prévue le "
                "{{ instalment_due_date }} ne nous est pas parvenue. Si votre situation a changé, "
                "vous pouvez modifier votre échéancier ou demander une courte pause : "
                "{{ portal_link }}",
            ),
            "de": (
                "Rate nicht eingegangen: bringen wir Ihren Plan wieder in Ordnung",
                "Guten Tag {{ first_name }},\n\nIhre Rate von {{ instalment_amount }}, fällig am "
                "{{ instalment_due_date }}, ist nicht eingegangen. Wenn sich Ihre Lage geändert "
                "hat, können Sie Ihren Plan anpassen oder eine kurze Pause beantragen: "
                "{{ portal_link }}",
            ),
        },
    ),
    (
        "Pause ending SMS",
        "sms",
        ["pause_ending"],
        "formal",
        "view_account",
        {
            "en": "{{ first_name }}, the pause on your {{ creditor_name }} account ends on "
            "{{ pause_end_date }}. See your options: {{ portal_link }}",
            "fr": "{{ first_name }}, la pause sur votre compte {{ creditor_name }} prend fin le "
            "{{ pause_end_date }}. Vos options : {{ portal_link }}",
            "de": "{{ first_name }}, die Pause für Ihr Konto bei {{ creditor_name }} endet am "
            "{{ pause_end_date }}. Ihre Möglichkeiten: {{ portal_link }}",
        },
    ),
    *NOTICES,
]

_LANGUAGE_NAMES = {"en": "EN", "fr": "FR", "de": "DE"}


def _reviewer():
    """The demo's compliance reviewer (a member of "Compliance reviewers")."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=REVIEWER_USERNAME,
        defaults={"first_name": "Demo", "last_name": "Reviewer", "is_staff": True},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name="Compliance reviewers"))
    return user


def _approve(variant: MessageVariant, reviewer) -> None:
    """Submit the variant's latest revision to its workflow and approve it (publishes it)."""
    state = variant.current_workflow_state
    if state is None:
        workflow = variant.get_workflow() or Workflow.objects.get(name="Compliance approval")
        state = workflow.start(variant, reviewer)
    while state.status == state.STATUS_IN_PROGRESS and state.current_task_state:
        state.current_task_state.specific.approve(user=reviewer, comment="Demo library")
        state.refresh_from_db()


def seed_library(*, stdout: TextIO) -> list[MessageVariant]:
    """Create and approve the starter library (idempotent); returns its variants."""
    tones = {t.slug: t for t in Tone.objects.all()}
    reviewer = _reviewer()
    variants: list[MessageVariant] = []
    created = 0
    for title, channel, stages, tone, cta, texts in _LIBRARY:
        for language, text in texts.items():
            name = f"{title} ({_LANGUAGE_NAMES[language]})"
            variant = MessageVariant.objects.filter(name=name).first()
            if variant is None:
                with transaction.atomic():
                    variant = MessageVariant(
                        name=name,
                        channel=channel,
                        language=language,
                        tone=tones[tone],
                        cta=cta,
                        stages=stages,
                        regions=[],
                        live=False,
                    )
                    if channel == "email":
                        variant.email_subject, variant.email_body = text
                    elif channel == "letter":
                        variant.letter_body = text
                    else:
                        variant.sms_text = text
                    variant.full_clean()
                    variant.save()
                    variant.save_revision(user=reviewer, log_action=True)
                    _approve(variant, reviewer)
                created += 1
            elif not variant.live:
                _approve(variant, reviewer)
            variants.append(variant)
    stdout.write(f"Message library: {len(variants)} variants ({created} new), all approved.\n")
    return variants


def seed(*, creditor, stdout: TextIO) -> None:
    """The `seed_demo` hook (every app may offer `<app>.demo.seed`): the starter library."""
    seed_library(stdout=stdout)
