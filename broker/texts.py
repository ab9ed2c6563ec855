"""What the sign-in pages say, in English and French, and the demo financial institutions."""

from __future__ import annotations

from core.languages import ENGLISH, LANGUAGES

DEMO_PASSWORD = "demo"

# Clearly fictional: a demo must never look like a real bank's sign-in page.
INSTITUTIONS = {
    "demo-savings": {"en": "Demo Savings Bank", "fr": "Banque d'épargne Démo"},
    "example-credit-union": {"en": "Example Credit Union", "fr": "Caisse populaire Exemple"},
    "sample-trust": {"en": "Sample Trust", "fr": "Fiducie Échantillon"},
}

TEXTS = {
    "en": {
        "other_language": "Français",
        "brand": "Sign-In Partner",
        "demo_banner": "Demonstration service. No real financial institution is involved.",
        "error_title": "There is a problem",
        "choose_title": "Sign in with a Sign-In Partner",
        "choose_intro": "Use the online banking sign-in of your financial institution. The "
        "Government of Canada service will not learn which institution you chose, and your "
        "institution will not learn which service you use.",
        "choose_legend": "Choose your financial institution",
        "continue": "Continue",
        "cancel": "Cancel and return to the service",
        "bank_subtitle": "Online banking",
        "demo_hint": "This is a demonstration: any card number or username works, and the "
        "password is demo.",
        "login_label": "Card number or username",
        "password_label": "Password",
        "sign_in": "Sign in",
        "another_institution": "Choose another financial institution",
        "terms_title": "Accept the sign-in service terms",
        "terms_intro": "This is the first time you use this sign-in service with this "
        "Government of Canada service.",
        "terms_1": "Your financial institution confirms to the service that you signed in. It "
        "shares no banking information, name or contact details.",
        "terms_2": "The service receives an identifier that is yours for this service only. It "
        "does not learn which financial institution you use.",
        "terms_3": "You can stop using this sign-in service at any time.",
        "accept": "Accept",
        "decline": "Decline",
        "choose_error": "Choose your financial institution",
        "login_error": "Enter your card number or username",
        "password_missing": "Enter your password",
        "password_wrong": "The password is not correct. In this demonstration it is demo.",
        "failed_title": "This sign-in request cannot be completed",
        "bad_request": "The service sent a sign-in request that this Sign-In Partner does not "
        "accept. Return to the service and try again.",
        "unknown_flow": "This sign-in has expired or was already completed. Return to the "
        "service and start again.",
    },
    "fr": {
        "other_language": "English",
        "brand": "Partenaire de connexion",
        "demo_banner": "Service de démonstration. Aucune institution financière réelle n'y "
        "participe.",
        "error_title": "Il y a un problème",
        "choose_title": "Se connecter avec un partenaire de connexion",
        "choose_intro": "Utilisez la connexion aux services bancaires en ligne de votre "
        "institution financière. Le service du gouvernement du Canada ne saura pas quelle "
        "institution vous avez choisie, et votre institution ne saura pas quel service vous "
        "utilisez.",
        "choose_legend": "Choisissez votre institution financière",
        "continue": "Continuer",
        "cancel": "Annuler et retourner au service",
        "bank_subtitle": "Services bancaires en ligne",
        "demo_hint": "Ceci est une démonstration : tout numéro de carte ou nom d'utilisateur "
        "convient, et le mot de passe est demo.",
        "login_label": "Numéro de carte ou nom d'utilisateur",
        "password_label": "Mot de passe",
        "sign_in": "Se connecter",
        "another_institution": "Choisir une autre institution financière",
        "terms_title": "Accepter les conditions du service de connexion",
        "terms_intro": "C'est la première fois que vous utilisez ce service de connexion avec ce "
        "service du gouvernement du Canada.",
        "terms_1": "Votre institution financière confirme au service que vous vous êtes "
        "connecté. Elle ne communique aucun renseignement bancaire, nom ni coordonnée.",
        "terms_2": "Le service reçoit un identifiant qui vous est propre pour ce service "
        "seulement. Il ne sait pas quelle institution financière vous utilisez.",
        "terms_3": "Vous pouvez cesser d'utiliser ce service de connexion en tout temps.",
        "accept": "Accepter",
        "decline": "Refuser",
        "choose_error": "Choisissez votre institution financière",
        "login_error": "Entrez votre numéro de carte ou nom d'utilisateur",
        "password_missing": "Entrez votre mot de passe",
        "password_wrong": "Le mot de passe n'est pas correct. Dans cette démonstration, "
        "c'est demo.",
        "failed_title": "Cette demande de connexion ne peut pas aboutir",
        "bad_request": "Le service a envoyé une demande de connexion que ce partenaire de "
        "connexion n'accepte pas. Retournez au service et réessayez.",
        "unknown_flow": "Cette connexion a expiré ou est déjà terminée. Retournez au service "
        "et recommencez.",
    },
}


def language(ui_locales: str) -> str:
    """The first of the person's ui_locales that the pages speak, bare or Canadian ("fr",
    "fr-CA"); English otherwise."""
    for tag in ui_locales.split():
        lang = tag.removesuffix("-CA")
        if lang in LANGUAGES:
            return lang
    return ENGLISH
