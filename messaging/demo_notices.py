"""The demo library's notices: messages sent for a reason of their own, never planned.

A fresh portal link the debtor asked for, the lock of a portal link, and a dispute's two
outcomes (`messaging.services.portal_link_send`, `portal_lock_notify`, `dispute_outcome_send`),
each by email, SMS or letter as the debtor's details allow (email first, a letter last). Their
call to action is a notice (`NOTICE_CTAS`), so their stage only satisfies the library's form.
Same layout as `messaging.demo._LIBRARY`, which includes them.
"""

from __future__ import annotations

from typing import Any

NOTICES: list[tuple[str, str, list[str], str, str, dict[str, Any]]] = [
    (
        # Sent by the portal when a debtor asks for a fresh link from an expired or
        # switched-off one (messaging.services.portal_link_send); email first, then SMS, then
        # letter, by what is on file.
        "Fresh portal link notice email",
        "email",
        ["first_contact"],
        "friendly",
        "portal_link",
        {
            "en": (
                "Your new link to your {{ creditor_name }} account",
                "Hello {{ first_name }},\n\nHere is the new link you asked for, to the page "
                "of your account {{ account_reference }} with {{ creditor_name }}:\n"
                "{{ portal_link }}\n\nThe page asks you to confirm who you are before it "
                "shows anything. If you did not ask for a link, you can ignore this message, "
                "or write to {{ contact_email }}.",
            ),
            "fr": (
                "Votre nouveau lien vers votre compte {{ creditor_name }}",
                "Bonjour {{ first_name }},\n\nVoici le nouveau lien que vous avez demandé, "
                "vers la page de votre compte {{ account_reference }} auprès de "
                "{{ creditor_name }} :\n{{ portal_link }}\n\nLa page vous demande de "
                "confirmer votre identité avant d'afficher quoi que ce soit. Si vous n'avez "
                "pas demandé de lien, ignorez ce message ou écrivez-nous à {{ contact_email }}.",
            ),
            "de": (
                "Ihr neuer Link zu Ihrem Konto bei {{ creditor_name }}",
                "Guten Tag {{ first_name }},\n\nhier ist der neue Link, den Sie angefordert "
                "haben, zur Seite Ihres Kontos {{ account_reference }} bei "
                "{{ creditor_name }}:\n{{ portal_link }}\n\nDie Seite bittet Sie zuerst, "
                "Ihre Identität zu bestätigen. Wenn Sie keinen Link angefordert haben, können "
                "Sie diese Nachricht ignorieren oder an {{ contact_email }} schreiben.",
            ),
        },
    ),
    (
        "Fresh portal link notice SMS",
        "sms",
        ["first_contact"],
        "friendly",
        "portal_link",
        {
            "en": "{{ first_name }}, here is the new link to your {{ creditor_name }} account "
            "that you asked for: {{ portal_link }}",
            "fr": "{{ first_name }}, voici le nouveau lien vers votre compte "
            "{{ creditor_name }} que vous avez demandé : {{ portal_link }}",
            "de": "{{ first_name }}, hier ist der angeforderte neue Link zu Ihrem Konto bei "
            "{{ creditor_name }}: {{ portal_link }}",
        },
    ),
    (
        "Fresh portal link notice letter",
        "letter",
        ["first_contact"],
        "formal",
        "portal_link",
        {
            "en": "Dear {{ first_name }} {{ last_name }},\n\nYou asked for a new link to the "
            "page of your account {{ account_reference }} with {{ creditor_name }}. Scan the "
            "code on this letter with your phone's camera, or type this address:\n"
            "{{ portal_link }}\n\nThe page asks you to confirm who you are before it shows "
            "anything. If you did not ask for this letter, write to us at {{ contact_email }}.",
            "fr": "Madame, Monsieur {{ last_name }},\n\nVous avez demandé un nouveau lien "
            "vers la page de votre compte {{ account_reference }} auprès de "
            "{{ creditor_name }}. Scannez le code imprimé sur ce courrier avec l'appareil "
            "photo de votre téléphone, ou saisissez cette adresse :\n{{ portal_link }}\n\n"
            "La page vous demande de confirmer votre identité avant d'afficher quoi que ce "
            "soit. Si vous n'avez pas fait cette demande, écrivez-nous à {{ contact_email }}.",
            "de": "Sehr geehrte(r) {{ first_name }} {{ last_name }},\n\nSie haben einen "
            "neuen Link zur Seite Ihres Kontos {{ account_reference }} bei {{ creditor_name }} "
            "angefordert. Scannen Sie den Code auf diesem Brief mit der Kamera Ihres Telefons "
            "oder geben Sie diese Adresse ein:\n{{ portal_link }}\n\nDie Seite bittet Sie "
            "zuerst, Ihre Identität zu bestätigen. Wenn Sie nichts angefordert haben, schreiben "
            "Sie uns an {{ contact_email }}.",
        },
    ),
    (
        # Sent by the portal when wrong identity answers lock a link; never planned (its call
        # to action is a notice), so its stage only satisfies the library's form.
        "Portal link locked notice email",
        "email",
        ["first_contact"],
        "formal",
        "portal_locked",
        {
            "en": (
                "Your {{ creditor_name }} account page was locked for your protection",
                "Hello {{ first_name }},\n\nSomeone, perhaps you, gave wrong answers several "
                "times when opening the page for your account {{ account_reference }}, so we "
                "locked that link for a while.\n\nIf it was you, wait and try again, or ask "
                "for a new link on the page. If it was not you, write to {{ contact_email }}.",
            ),
            "fr": (
                "La page de votre compte {{ creditor_name }} a été verrouillée par sécurité",
                "Bonjour {{ first_name }},\n\nQuelqu'un, peut-être vous, a donné plusieurs "
                "fois de mauvaises réponses en ouvrant la page de votre compte "
                "{{ account_reference }} : nous avons verrouillé ce lien pour un temps.\n\n"
                "Si c'était vous, patientez puis réessayez, ou demandez un nouveau lien depuis "
                "la page. Sinon, écrivez-nous à {{ contact_email }}.",
            ),
            "de": (
                "Die Seite Ihres Kontos bei {{ creditor_name }} wurde zu Ihrem Schutz gesperrt",
                "Guten Tag {{ first_name }},\n\njemand, vielleicht Sie, hat beim Öffnen der "
                "Seite zu Ihrem Konto {{ account_reference }} mehrmals falsche Angaben gemacht. "
                "Wir haben diesen Link deshalb vorübergehend gesperrt.\n\nWenn Sie es waren, "
                "versuchen Sie es später erneut oder fordern Sie auf der Seite einen neuen Link "
                "an. Wenn nicht, schreiben Sie an {{ contact_email }}.",
            ),
        },
    ),
    (
        # Sent when an operator resolves a dispute for the debtor (the debt is withdrawn);
        # never planned, like the lock notice.
        "Dispute upheld notice email",
        "email",
        ["first_contact"],
        "formal",
        "dispute_upheld",
        {
            "en": (
                "Your dispute about {{ creditor_name }} account {{ account_reference }}",
                "Hello {{ first_name }},\n\nWe have reviewed your dispute about the account "
                "{{ account_reference }}. You were right: {{ creditor_name }} has withdrawn the "
                "debt and we will not contact you about it again.\n\nQuestions? Write to "
                "{{ contact_email }}.",
            ),
            "fr": (
                "Votre contestation du compte {{ creditor_name }} {{ account_reference }}",
                "Bonjour {{ first_name }},\n\nNous avons examiné votre contestation du compte "
                "{{ account_reference }}. Vous aviez raison : {{ creditor_name }} a retiré la "
                "créance et nous ne vous contacterons plus à ce sujet.\n\nUne question ? "
                "Écrivez-nous à {{ contact_email }}.",
            ),
            "de": (
                "Ihr Widerspruch zum Konto bei {{ creditor_name }} ({{ account_reference }})",
                "Guten Tag {{ first_name }},\n\nwir haben Ihren Widerspruch zum Konto "
                "{{ account_reference }} geprüft. Sie hatten recht: {{ creditor_name }} hat "
                "die Forderung zurückgezogen, und wir werden Sie dazu nicht mehr "
                "kontaktieren.\n\nFragen? Schreiben Sie an {{ contact_email }}.",
            ),
        },
    ),
    (
        # Sent when an operator resolves a dispute with the debt standing (evidence checked).
        "Dispute resolved, debt stands notice email",
        "email",
        ["first_contact"],
        "formal",
        "dispute_debt_stands",
        {
            "en": (
                "Your dispute about {{ creditor_name }} account {{ account_reference }}",
                "Hello {{ first_name }},\n\nWe have reviewed your dispute about the account "
                "{{ account_reference }} with the evidence from {{ creditor_name }}. The debt "
                "stands: the balance is {{ balance }}.\n\nYou can see the account, pay or "
                "set up a plan here: {{ portal_link }}\n\nIf you disagree, write to "
                "{{ contact_email }}.",
            ),
            "fr": (
                "Votre contestation du compte {{ creditor_name }} {{ account_reference }}",
                "Bonjour {{ first_name }},\n\nNous avons examiné votre contestation du compte "
                "{{ account_reference }} avec les justificatifs de {{ creditor_name }}. La "
                "créance est maintenue : le solde est de {{ balance }}.\n\nVous pouvez "
                "consulter le compte, payer ou demander un échéancier ici : {{ portal_link }}"
                "\n\nSi vous n'êtes pas d'accord, écrivez-nous à {{ contact_email }}.",
            ),
            "de": (
                "Ihr Widerspruch zum Konto bei {{ creditor_name }} ({{ account_reference }})",
                "Guten Tag {{ first_name }},\n\nwir haben Ihren Widerspruch zum Konto "
                "{{ account_reference }} mit den Nachweisen von {{ creditor_name }} geprüft. "
                "Die Forderung besteht: Der offene Betrag beträgt {{ balance }}.\n\nHier "
                "können Sie das Konto einsehen, bezahlen oder eine Ratenzahlung vereinbaren: "
                "{{ portal_link }}\n\nWenn Sie nicht einverstanden sind, schreiben Sie an "
                "{{ contact_email }}.",
            ),
        },
    ),
    (
        # The lock notice and the dispute outcomes by post, for a debtor with no email address
        # or mobile number on file (or who opted out of both).
        "Portal link locked notice letter",
        "letter",
        ["first_contact"],
        "formal",
        "portal_locked",
        {
            "en": "Dear {{ first_name }} {{ last_name }},\n\nSomeone, perhaps you, gave "
            "wrong answers several times when opening the page for your account "
            "{{ account_reference }} with {{ creditor_name }}, so we locked that link for a "
            "while.\n\nIf it was you, wait and try again, or ask for a new link on the page. "
            "If it was not you, write to us at {{ contact_email }}.",
            "fr": "Madame, Monsieur {{ last_name }},\n\nQuelqu'un, peut-être vous, a donné "
            "plusieurs fois de mauvaises réponses en ouvrant la page de votre compte "
            "{{ account_reference }} auprès de {{ creditor_name }} : nous avons verrouillé ce "
            "lien pour un temps.\n\nSi c'était vous, patientez puis réessayez, ou demandez un "
            "nouveau lien depuis la page. Sinon, écrivez-nous à {{ contact_email }}.",
            "de": "Sehr geehrte(r) {{ first_name }} {{ last_name }},\n\njemand, vielleicht "
            "Sie, hat beim Öffnen der Seite zu Ihrem Konto {{ account_reference }} bei "
            "{{ creditor_name }} mehrmals falsche Angaben gemacht. Wir haben diesen Link "
            "deshalb vorübergehend gesperrt.\n\nWenn Sie es waren, versuchen Sie es später "
            "erneut oder fordern Sie auf der Seite einen neuen Link an. Wenn nicht, schreiben "
            "Sie uns an {{ contact_email }}.",
        },
    ),
    (
        "Dispute upheld notice letter",
        "letter",
        ["first_contact"],
        "formal",
        "dispute_upheld",
        {
            "en": "Dear {{ first_name }} {{ last_name }},\n\nWe have reviewed your dispute "
            "about the account {{ account_reference }}. You were right: {{ creditor_name }} "
            "has withdrawn the debt and we will not contact you about it again.\n\nIf you "
            "have questions, write to us at {{ contact_email }}.",
            "fr": "Madame, Monsieur {{ last_name }},\n\nNous avons examiné votre contestation "
            "du compte {{ account_reference }}. Vous aviez raison : {{ creditor_name }} a "
            "retiré la créance et nous ne vous contacterons plus à ce sujet.\n\nPour toute "
            "question, écrivez-nous à {{ contact_email }}.",
            "de": "Sehr geehrte(r) {{ first_name }} {{ last_name }},\n\nwir haben Ihren "
            "Widerspruch zum Konto {{ account_reference }} geprüft. Sie hatten recht: "
            "{{ creditor_name }} hat die Forderung zurückgezogen, und wir werden Sie dazu "
            "nicht mehr kontaktieren.\n\nBei Fragen schreiben Sie uns an {{ contact_email }}.",
        },
    ),
    (
        "Dispute resolved, debt stands notice letter",
        "letter",
        ["first_contact"],
        "formal",
        "dispute_debt_stands",
        {
            "en": "Dear {{ first_name }} {{ last_name }},\n\nWe have reviewed your dispute "
            "about the account {{ account_reference }} with the evidence from "
            "{{ creditor_name }}. The debt stands: the balance is {{ balance }}.\n\nYou can "
            "see the account, pay or set up a plan at {{ portal_link }}\n\nIf you disagree, "
            "write to us at {{ contact_email }}.",
            "fr": "Madame, Monsieur {{ last_name }},\n\nNous avons examiné votre contestation "
            "du compte {{ account_reference }} avec les justificatifs de {{ creditor_name }}. "
            "La créance est maintenue : le solde est de {{ balance }}.\n\nVous pouvez "
            "consulter le compte, payer ou demander un échéancier sur {{ portal_link }}\n\n"
            "Si vous n'êtes pas d'accord, écrivez-nous à {{ contact_email }}.",
            "de": "Sehr geehrte(r) {{ first_name }} {{ last_name }},\n\nwir haben Ihren "
            "Widerspruch zum Konto {{ account_reference }} mit den Nachweisen von "
            "{{ creditor_name }} geprüft. Die Forderung besteht: Der offene Betrag beträgt "
            "{{ balance }}.\n\nUnter {{ portal_link }} können Sie das Konto einsehen, "
            "bezahlen oder eine Ratenzahlung vereinbaren.\n\nWenn Sie nicht einverstanden "
            "sind, schreiben Sie uns an {{ contact_email }}.",
        },
    ),
]
