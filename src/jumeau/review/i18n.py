"""Interface strings in English and French (labels of variables come from the schema)."""

from __future__ import annotations

LANGUAGES = ("en", "fr")

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Blinded review",
        "progress": "Record {done} of {total}",
        "question": "Is this patient real or artificial?",
        "real": "Real",
        "artificial": "Artificial",
        "confidence": "How sure are you? (1 = guess, 5 = certain)",
        "variables": "Which variables made you decide? (optional)",
        "remark": "Remark: what looked (im)plausible? (optional)",
        "submit": "Submit and go to the next record",
        "missing": "missing",
        "done": "Thank you: you have reviewed every record of this study.",
        "done_closed": "The study is closed. Your accuracy: {accuracy}.",
        "paused": "You can close this page and come back with the same link at any time.",
        "unauthorised": "This link is not valid. Ask the study owner for your personal link.",
        "bad_request": "The form could not be accepted: {reason}",
        "admin_title": "Study results",
        "closed": "This study is closed: votes are no longer accepted.",
        "close_study": "Close the study (shows reviewers their accuracy)",
        "language": "Français",
    },
    "fr": {
        "title": "Revue en aveugle",
        "progress": "Dossier {done} sur {total}",
        "question": "Ce patient est-il réel ou artificiel ?",
        "real": "Réel",
        "artificial": "Artificiel",
        "confidence": "Quel est votre degré de certitude ? (1 = au hasard, 5 = certain)",
        "variables": "Quelles variables ont guidé votre choix ? (facultatif)",
        "remark": "Remarque : qu'est-ce qui semblait (in)vraisemblable ? (facultatif)",
        "submit": "Valider et passer au dossier suivant",
        "missing": "manquant",
        "done": "Merci : vous avez examiné tous les dossiers de cette étude.",
        "done_closed": "L'étude est close. Votre exactitude : {accuracy}.",
        "paused": "Vous pouvez fermer cette page et revenir à tout moment avec le même lien.",
        "unauthorised": "Ce lien n'est pas valide. Demandez votre lien personnel au responsable.",
        "bad_request": "Le formulaire n'a pas pu être accepté : {reason}",
        "admin_title": "Résultats de l'étude",
        "closed": "Cette étude est close : les votes ne sont plus acceptés.",
        "close_study": "Clore l'étude (montre leur exactitude aux relecteurs)",
        "language": "English",
    },
}


def pick_language(query: str | None, cookie: str | None, header: str | None) -> str:
    """?lang= first, then the remembered choice, then the browser's Accept-Language."""
    for value in (query, cookie):
        if value in LANGUAGES:
            return str(value)
    if header and header.lower().lstrip().startswith("fr"):
        return "fr"
    return "en"
